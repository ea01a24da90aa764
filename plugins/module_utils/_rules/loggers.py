# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is there a logger for legacy TRACE? /proc/net/netfilter/nf_log (read by _nflog.procnet, its one parser) and the
network namespace."""

from __future__ import annotations


from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.procnet import FAMILY_NUMBERS, parse_nf_log

NF_LOG = '/proc/net/netfilter/nf_log'
SYSLOG_LOGGERS = ('nf_log_syslog', 'nf_log_ipv4', 'nf_log_ipv6')
REMEDY = ('bind the syslog logger first: run the module netdebug.netfilter.nf_log (or the role '
          'netdebug.netfilter.log_modules), which loads the LOG/TRACE support and binds '
          '/proc/sys/net/netfilter/nf_log/%d')


def trace_logger_problems(text, fams):
    """Messages for families whose TRACE would reach no kernel log line; empty when all is well."""
    bound = dict((number, entry['bound']) for number, entry in parse_nf_log(text).items())
    problems = []
    for family in fams:
        number = FAMILY_NUMBERS[family]
        logger = bound.get(number)
        if logger is None:
            problems.append('no logger is bound for %s (nf_log entry %d is NONE), so legacy TRACE writes nothing: %s'
                            % (family, number, REMEDY % number))
        elif logger not in SYSLOG_LOGGERS:
            problems.append('%s TRACE goes to logger %s (nf_log entry %d), not to the kernel log: %s'
                            % (family, logger, number, REMEDY % number))
    return problems


NETNS_WARNING = ('this node runs in a network namespace other than the initial one: the kernel writes LOG and '
                 'legacy TRACE lines from here only when net.netfilter.nf_log_all_netns=1 is set in the initial '
                 'namespace (netdebug.netfilter.nf_log with all_netns: true)')
