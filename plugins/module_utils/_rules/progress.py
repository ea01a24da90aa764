# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far a trace run is: the packets its rate-limited TRACE rules matched and traced so far, from the rules'
counters (the count rule beside an iptables TRACE rule, the counters around an nftables rule's limit). Only reads:
no lock is taken and nothing on the node changes. A window's time match keeps the counters at zero before it."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.engine import packets_summary
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.removal import packet_counts
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import has_run
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import check_run_id


def progress(node, run_id):
    """{'run_id', 'armed', 'matched', 'traced', 'untraced'}; the counts are None when the run has no rules here
    (not armed, or already removed) or traces without a rate limit (no count rule)."""
    run_id = check_run_id(run_id)
    result = {'run_id': run_id, 'armed': has_run(node.root, run_id), 'matched': None, 'traced': None,
              'untraced': None}
    summary = packets_summary(packet_counts(node, [run_id])) if result['armed'] else None
    if summary:
        result.update(matched=summary['matched'], untraced=summary['untraced'], traced=summary['traced'])
    return result
