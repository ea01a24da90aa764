# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the netfilter logging state in /proc (pure functions over text).

/proc/net/netfilter/nf_log has one line per protocol family: ``<family> <bound logger or NONE> (<registered
loggers>)``, for example `` 2 nf_log_ipv4 (nf_log_ipv4,nfnetlink_log)``. The binding is per network namespace;
the registered loggers are those the kernel has (built in or loaded), so they also prove a logger is present.
/proc/net/ip_tables_targets and ip6_tables_targets list the xtables targets the kernel has registered.
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError

NONE = 'NONE'
_LINE_RE = re.compile(r'^\s*(\d+)\s+(\S+)\s+\(([^)]*)\)\s*$')

# Protocol family numbers (NFPROTO_*) as used by nf_log and its sysctls, and the names used here.
FAMILY_NAMES = {0: 'unspec', 1: 'inet', 2: 'ipv4', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ipv6', 12: 'decnet'}
FAMILY_NUMBERS = dict((name, number) for number, name in FAMILY_NAMES.items())


def parse_nf_log(text):
    """family number -> {'bound': logger name or None, 'available': [logger names]}."""
    table = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE_RE.match(line)
        if not match:
            raise KmodError('/proc/net/netfilter/nf_log line %d is not "<family> <logger|NONE> (<loggers>)": %r'
                            % (number, line))
        bound = match.group(2)
        table[int(match.group(1))] = {
            'bound': None if bound == NONE else bound,
            'available': [name for name in match.group(3).split(',') if name],
        }
    return table


def parse_xt_targets(text):
    """Set of target names from /proc/net/ip_tables_targets (one per line, repeated per revision)."""
    return set(line.strip() for line in text.splitlines() if line.strip())


def family_name(number):
    return FAMILY_NAMES.get(number, str(number))
