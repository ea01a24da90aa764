# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backends a call uses: ``auto`` follows the node's iptables variant (legacy, nf_tables or mixed)."""

from __future__ import annotations

from .errors import ParamError
from .iptables_parse import parse_rules

SAVE_TOOLS = {('legacy', 'ipv4'): 'iptables-legacy-save', ('legacy', 'ipv6'): 'ip6tables-legacy-save',
              ('nft', 'ipv4'): 'iptables-nft-save', ('nft', 'ipv6'): 'ip6tables-nft-save'}


def _has_foreign_rules(node, variant):
    """True when the variant's tables hold rules other than ours (listing never creates a table)."""
    for family in ('ipv4', 'ipv6'):
        path = node.tool(SAVE_TOOLS[(variant, family)])
        if not path:
            continue
        result = node.runner.run([path], check=False)
        if result.rc == 0 and any(rule.tag is None for rule in parse_rules(result.stdout)):
            return True
    return False


def detect_variant(node):
    """'legacy', 'nf_tables' or 'mixed' (rules in both), and the variant the plain iptables command is."""
    default = 'legacy'
    if node.tool('iptables'):
        version = node.runner.run([node.tool('iptables'), '--version'], check=False).stdout
        default = 'nf_tables' if 'nf_tables' in version else 'legacy'
    elif node.tool('iptables-nft') and not node.tool('iptables-legacy'):
        default = 'nf_tables'
    legacy = _has_foreign_rules(node, 'legacy')
    nft = _has_foreign_rules(node, 'nft')
    if legacy and nft:
        return 'mixed', default
    if legacy:
        return 'legacy', default
    if nft:
        return 'nf_tables', default
    return default, default


def choose(node, backend, need_both_on_mixed=True):
    """Backends to use and the detected variant; need_both_on_mixed: TRACE must cover both sides."""
    if backend not in ('auto', 'legacy', 'nft', 'nftables'):
        raise ParamError('backend', '%r is not auto, legacy, nft or nftables' % backend)
    if backend != 'auto':
        variant = backend
        chosen = [backend]
    else:
        variant, default = detect_variant(node)
        if variant == 'mixed':
            chosen = ['legacy', 'nft'] if need_both_on_mixed else [{'nf_tables': 'nft'}.get(default, 'legacy')]
        else:
            chosen = ['nft' if variant == 'nf_tables' else 'legacy']
    for name in chosen:
        tool = 'nft' if name == 'nftables' else 'iptables-%s' % name
        if not node.tool(tool):
            raise ParamError('backend', '%s needs %s, which is not installed on this node' % (name, tool))
    return chosen, variant
