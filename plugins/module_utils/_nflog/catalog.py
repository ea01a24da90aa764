# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel pieces behind LOG, TRACE and NFLOG, and how to recognise each one (pure).

Since Linux 5.13 one module, nf_log_syslog, provides the syslog loggers for every family; it still registers
loggers named nf_log_ipv4, nf_log_ipv6, ... and carries those names as module aliases. Older kernels have
separate nf_log_ipv4 and nf_log_ipv6 modules.
"""

from __future__ import annotations

import re

SYSLOG_MERGED_SINCE = (5, 13)

# Logger names as the kernel registers them (what the nf_log sysctls take), per family number.
SYSLOG_LOGGERS = {2: 'nf_log_ipv4', 10: 'nf_log_ipv6'}
NFLOG_LOGGER = 'nfnetlink_log'


class Component:
    """One kernel module the capture needs; `registered(proc)` tells whether /proc shows the kernel has it."""

    def __init__(self, module, option, purpose, targets=(), loggers=()):
        self.module = module
        self.option = option
        self.purpose = purpose
        self.targets = tuple(targets)    # xtables target names it registers
        self.loggers = tuple(loggers)    # (family, logger name) it registers

    def registered(self, proc):
        """Text naming the /proc evidence that the kernel has this component, or None."""
        for target in self.targets:
            for path, names in proc['targets']:
                if target in names:
                    return '%s lists the %s target' % (path, target)
        for family, logger in self.loggers:
            if logger in proc['nf_log'].get(family, {}).get('available', []):
                return '/proc/net/netfilter/nf_log lists the %s logger for family %d' % (logger, family)
        return None

    def missing_message(self, release):
        return ('%s (%s) is not available on kernel %s: it is neither built in nor loadable. It comes from the kernel '
                'option %s; on Debian/Ubuntu it ships in the kernel image package (linux-image-%s, or '
                'linux-modules-extra-%s on Ubuntu), on RHEL-like systems in kernel-modules-%s. Install that package or '
                'use a kernel built with %s=y or =m.'
                % (self.module, self.purpose, release, self.option, release, release, release, self.option))


def release_tuple(release):
    match = re.match(r'^(\d+)\.(\d+)', release or '')
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def syslog_components(release):
    """The component(s) providing the syslog loggers on this kernel release."""
    if release_tuple(release) >= SYSLOG_MERGED_SINCE:
        return [Component('nf_log_syslog', 'CONFIG_NF_LOG_SYSLOG', 'syslog logger for LOG and TRACE',
                          loggers=[(2, 'nf_log_ipv4'), (10, 'nf_log_ipv6')])]
    return [Component('nf_log_ipv4', 'CONFIG_NF_LOG_IPV4', 'IPv4 syslog logger for LOG and TRACE',
                      loggers=[(2, 'nf_log_ipv4')]),
            Component('nf_log_ipv6', 'CONFIG_NF_LOG_IPV6', 'IPv6 syslog logger for LOG and TRACE',
                      loggers=[(10, 'nf_log_ipv6')])]


LOG_TARGET = Component('xt_LOG', 'CONFIG_NETFILTER_XT_TARGET_LOG', 'iptables LOG target', targets=['LOG'])
TRACE_TARGET = Component('xt_TRACE', 'CONFIG_NETFILTER_XT_TARGET_TRACE', 'iptables TRACE target', targets=['TRACE'])
NFLOG_MODULE = Component('nfnetlink_log', 'CONFIG_NETFILTER_NETLINK_LOG', 'nfnetlink_log logger',
                         loggers=[(2, NFLOG_LOGGER), (10, NFLOG_LOGGER)])
NFLOG_TARGET = Component('xt_NFLOG', 'CONFIG_NETFILTER_XT_TARGET_NFLOG', 'iptables NFLOG target', targets=['NFLOG'])


def components(release, log_target=True, trace_target=True, nflog=False, families=(2, 10)):
    """(needed, reported): the components this call must ensure, and every component it reports on."""
    syslog = [c for c in syslog_components(release)
              if any(family in families for family, _name in c.loggers)]
    needed = syslog[:]
    if log_target:
        needed.append(LOG_TARGET)
    if trace_target:
        needed.append(TRACE_TARGET)
    if nflog:
        needed += [NFLOG_MODULE, NFLOG_TARGET]
    reported = syslog_components(release) + [LOG_TARGET, TRACE_TARGET, NFLOG_MODULE, NFLOG_TARGET]
    return needed, reported


def logger_for(family, logger):
    """The logger name the nf_log/<family> sysctl should hold: syslog or nflog."""
    return NFLOG_LOGGER if logger == 'nflog' else SYSLOG_LOGGERS[family]
