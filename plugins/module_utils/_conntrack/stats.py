# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conntrack statistics: per-CPU counters by name, table size, and the "table full" verdict.

The counter set differs between kernels (counters come and go: searched, clash_resolve, chain_toolong, ...), so
counters are always handled by name: /proc/net/stat/nf_conntrack names them in its header line; the netlink
CTA_STATS_* attributes are named from the UAPI enum, unknown future ones as attr_<n>.
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError

# Where the kernel shows the per-CPU counters and the table's size (per network namespace).
PROC_STAT = '/proc/net/stat/nf_conntrack'
SYSCTL_DIR = '/proc/sys/net/netfilter'
# Counters whose growth means packets were dropped because the table had no room (or lost an insert race).
FULL_COUNTERS = ('drop', 'early_drop', 'insert_failed')
# /proc columns that are not per-CPU events: 'entries' repeats the table size on every row.
NOT_SUMMED = ('entries',)


def read_int(path):
    """The integer a /proc file holds, or None when it cannot be read."""
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def parse_proc_stat(text):
    """Text of /proc/net/stat/nf_conntrack -> list of {counter name: value}, one dict per CPU (hex columns)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ConntrackError('/proc/net/stat/nf_conntrack is empty')
    names = lines[0]
    cpus = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(names):
            raise ConntrackError('/proc/net/stat/nf_conntrack line %d has %d columns, the header names %d'
                                 % (number, len(fields), len(names)))
        try:
            cpus.append(dict((name, int(value, 16)) for name, value in zip(names, fields)))
        except ValueError:
            raise ConntrackError('/proc/net/stat/nf_conntrack line %d is not hexadecimal: %s'
                                 % (number, ' '.join(fields)))
    return cpus


def netlink_cpu_stats(messages):
    """(cpu number, {attribute type: value}) pairs of IPCTNL_MSG_CT_GET_STATS_CPU replies -> per-CPU dicts."""
    cpus = []
    for cpu, values in sorted(messages):
        counters = dict((C.STATS_CPU_NAMES.get(atype, 'attr_%d' % atype), value) for atype, value in values.items())
        counters['cpu'] = cpu
        cpus.append(counters)
    return cpus


def summarize(cpus):
    """Sum per-CPU counters by name (skipping the ones that are not per-CPU events)."""
    total = {}
    for counters in cpus:
        for name, value in counters.items():
            if name == 'cpu' or name in NOT_SUMMED:
                continue
            total[name] = total.get(name, 0) + value
    return total


def verdict(total, count, maximum, near_full_percent):
    """The table_full verdict and its reasons: drops, early drops or insert failures, or count near max."""
    reasons = []
    for name in FULL_COUNTERS:
        if total.get(name):
            reasons.append('%s=%d' % (name, total[name]))
    if count is not None and maximum:
        if count * 100 >= maximum * near_full_percent:
            reasons.append('count %d is %d%% of max %d (threshold %d%%)'
                           % (count, count * 100 // maximum, maximum, near_full_percent))
    return bool(reasons), reasons
