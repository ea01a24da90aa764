# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's conntrack counters and table fill, read at the start and at the stop of the drop-reason capture so
that the report can say what conntrack dropped during the window (a full table, lost insert races). Per network
namespace, from /proc; None where conntrack is not loaded. Stdlib only."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.stats import parse_proc_stat, summarize

PROC_STAT = '/proc/net/stat/nf_conntrack'
COUNT = '/proc/sys/net/netfilter/nf_conntrack_count'
MAX = '/proc/sys/net/netfilter/nf_conntrack_max'


def _number(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def read(proc_stat=None, count=None, maximum=None):
    """{'counters': {name: sum over CPUs}, 'count': entries, 'max': nf_conntrack_max}, or None without conntrack."""
    try:
        with open(proc_stat or PROC_STAT) as handle:
            counters = summarize(parse_proc_stat(handle.read()))
    except (OSError, ConntrackError):
        return None
    return {'counters': counters, 'count': _number(count or COUNT), 'max': _number(maximum or MAX)}
