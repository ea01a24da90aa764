# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel log: the rsyslog drop-in (rsyslog_conf, render, files, rsyslogd, manage) and what the node's
logging looks like (facts: rsyslog's configuration; node: its binaries, processes and service manager).
"""
