# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backends a call uses: ``auto`` follows the node's iptables variant (legacy, nf_tables or mixed)."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_parse import parse_rules

SAVE_TOOLS = {('legacy', 'ipv4'): 'iptables-legacy-save', ('legacy', 'ipv6'): 'ip6tables-legacy-save',
              ('nft', 'ipv4'): 'iptables-nft-save', ('nft', 'ipv6'): 'ip6tables-nft-save'}


def without_our_rules(save_text):
    """iptables-save output minus netdebug's own rules: our leftovers must not make a node look mixed."""
    ours = set(rule.line for rule in parse_rules(save_text or '') if rule.tag is not None)
    return ''.join(line for line in (save_text or '').splitlines(True) if line.strip() not in ours)


def choose(node, backend, need_both_on_mixed=True):
    """Backends to use and the detected variant; need_both_on_mixed: TRACE must cover every backend that can
    decide a packet.

    node.detect() -> (variant, default variant) is only called for backend auto. For TRACE, a node whose
    iptables is legacy but that also holds native nftables base chains (node.native()) gets the nftables backend
    too: legacy TRACE sets no nftrace flag nf_tables reports on by itself, so without our own nftables rule and
    its monitor those chains would decide packets unseen. On nf_tables and mixed nodes the iptables-nft TRACE
    rule already marks packets for every nf_tables chain after it, native ones included, and its monitor
    reports them.
    """
    if backend not in ('auto', 'legacy', 'nft', 'nftables'):
        raise ParamError('backend', '%r is not auto, legacy, nft or nftables' % backend)
    if backend != 'auto':
        variant = backend
        chosen = [backend]
    else:
        variant, default = node.detect()
        if variant == 'mixed':
            chosen = ['legacy', 'nft'] if need_both_on_mixed else [{'nf_tables': 'nft'}.get(default, 'legacy')]
        else:
            chosen = ['nft' if variant == 'nf_tables' else 'legacy']
        if need_both_on_mixed and chosen == ['legacy'] and node.native():
            chosen.append('nftables')
    for name in chosen:
        tool = 'nft' if name == 'nftables' else 'iptables-%s' % name
        if not node.tool(tool):
            raise ParamError('backend', '%s needs %s, which is not installed on this node' % (name, tool))
    return chosen, variant
