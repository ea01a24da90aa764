# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the report says where a packet went and what it was: chain and step labels, packet words, the place of a
drop (a rule, or the kernel's reason). Shared by the report's lines, findings and renderers. Pure."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import NFTABLES


def chain_label(step):
    """'filter/INPUT'; a native nftables chain with its family: 'inet filter/input'."""
    where = '%s/%s' % (step['table'], step['chain'])
    return '%s %s' % (step['family'], where) if step.get('backend') == NFTABLES else where


def step_label(step):
    """'filter/app-deep rule 1', 'filter/INPUT policy', 'inet filter/input rule 3 (handle 7)': a native nftables
    table is named with its family, so that it does not read like the iptables table of the same name. The same
    iptables rule reads the same on both variants: its number (an iptables-nft rule's handle is nobody's name for
    it); a native nftables rule also gives the handle nft names it by."""
    where = chain_label(step)
    if step['kind'] == 'policy' and not (step['rule'] or '').startswith('-A '):
        return where + ' policy'
    if step['rulenum'] is not None and step['handle'] is not None and step.get('backend') == NFTABLES:
        return '%s rule %s (handle %s)' % (where, step['rulenum'], step['handle'])
    if step['rulenum'] is not None:
        return '%s rule %s' % (where, step['rulenum'])
    if step['handle'] is not None:
        return '%s handle %s' % (where, step['handle'])
    return '%s %s' % (where, step['kind'])


def packet_words(summary):
    """'TCP 198.18.0.1 -> 198.19.1.5:80'; an address the Kubernetes objects name: 'pod ns1/web-0 (198.19.1.5:80)'."""
    proto = (summary.get('proto') or 'ip').upper().replace('ICMPV6', 'ICMPv6')
    src, dst = summary.get('src', '?'), summary.get('dst', '?')
    if summary.get('dport') is not None:
        dst = '%s:%s' % (dst, summary['dport'])
    if summary.get('src_k8s'):
        src = '%s (%s)' % (summary['src_k8s'], src)
    if summary.get('dst_k8s'):
        dst = '%s (%s)' % (summary['dst_k8s'], dst)
    return '%s %s -> %s' % (proto, src, dst)


def rule_place(step):
    """Where a rule is: its step label, after the Kubernetes object behind it where one is named ('Calico policy
    ns1/deny-web (inbound) (filter/cali-pi-ns1/deny-web rule 3)')."""
    name = step.get('k8s')
    return '%s (%s)' % (name['label'], step_label(step)) if name else step_label(step)


def kernel_words(kernel_drop):
    """'IP_RPFILTER (ip_rcv_finish_core)'."""
    location = kernel_drop.get('location')
    return '%s (%s)' % (kernel_drop['reason'], location) if location else kernel_drop['reason']


def kernel_dropped(drop):
    """A drops-table entry (a rule's fields or none) that the kernel made, not a rule."""
    return drop.get('chain') is None and bool(drop.get('kernel_drop'))


def rule_place_or_kernel(drop):
    """Where a drop happened: the rule's place, or the kernel's reason where no rule dropped it."""
    if kernel_dropped(drop):
        return 'kernel: ' + kernel_words(drop['kernel_drop'])
    return rule_place(drop)


def untraced_text(host):
    """The hosts table's 'untraced' cell: packets the rate limit let pass untraced, blank when not counted."""
    return '' if host.get('untraced') is None else str(host['untraced'])


def decided_at(record):
    """A packet's deciding place: its rule, else the kernel's drop reason, else nothing."""
    if record['verdict_rule']:
        return rule_place(record['verdict_rule'])
    if record['verdict'] == 'drop' and kernel_dropped(record):
        return rule_place_or_kernel(record)
    return ''
