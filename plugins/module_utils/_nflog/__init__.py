# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's packet loggers: which logger each family is bound to (procnet, catalog), the nf_log sysctls
(sysctl), the runs that bound them (runstate) and nf_log's state machine (manage).
"""
