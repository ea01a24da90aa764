# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything that expires on the node by itself: the one scheduler (schedule: a systemd timer or a detached
process) and the three programs it runs at an expiry, with the module-side code that arms them: the rules' reaper
(rules_main, armed by _rules), the loggers (nflog, nflog_main) and the rsyslog drop-in (kernlog, kernlog_main,
kernlog_state).
"""
