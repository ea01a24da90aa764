# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's conntrack counters and table fill, read at the start and at the stop of the drop-reason capture so
that the report can say what conntrack dropped during the window (a full table, lost insert races). Per network
namespace, from /proc; None where conntrack is not loaded. Stdlib only."""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.stats import (
    PROC_STAT,
    SYSCTL_DIR,
    parse_proc_stat,
    read_int,
    summarize,
)


def read(proc_stat=None, count=None, maximum=None):
    """{'counters': {name: sum over CPUs}, 'count': entries, 'max': nf_conntrack_max}, or None without conntrack."""
    try:
        with open(proc_stat or PROC_STAT) as handle:
            counters = summarize(parse_proc_stat(handle.read()))
    except (OSError, ConntrackError):
        return None
    return {'counters': counters, 'count': read_int(count or os.path.join(SYSCTL_DIR, 'nf_conntrack_count')),
            'max': read_int(maximum or os.path.join(SYSCTL_DIR, 'nf_conntrack_max'))}
