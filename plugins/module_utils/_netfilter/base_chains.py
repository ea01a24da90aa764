# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every base chain that can see a packet, per backend, with its hook and numeric priority.

The kernel runs the base chains of one hook in priority order, whatever backend registered them: iptables-legacy
tables at fixed priorities, iptables-nft and native nftables chains at the priority their table declares. A
verdict is only final when no base chain that comes later could still drop the packet, so the trace report needs
all of them in one list. Pure functions over model.Ruleset.
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import LEGACY, NF_TABLES, NFT_FAMILIES, NFTABLES
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import TABLE_ORDER

# Priorities of the iptables tables (include/uapi/linux/netfilter_ipv4.h, NF_IP_PRI_*); iptables-nft creates its
# base chains at the same values. nat: destination NAT before filter, source NAT after it.
TABLE_PRIORITY = {'raw': -300, 'mangle': -150, 'filter': 0, 'security': 50}
NAT_PRIORITY = {'prerouting': -100, 'output': -100, 'input': 100, 'postrouting': 100}
# nft's priority names (nft(8), CHAINS): the same for ip, ip6 and inet; bridge has its own.
PRIORITY_NAMES = {'raw': -300, 'mangle': -150, 'dstnat': -100, 'filter': 0, 'security': 50, 'srcnat': 100}
BRIDGE_PRIORITY_NAMES = {'dstnat': -300, 'filter': -200, 'out': 100, 'srcnat': 300}
_PRIORITY = re.compile(r'^\s*(?P<base>-?\d+|[a-z]+)\s*(?:(?P<sign>[-+])\s*(?P<delta>\d+))?\s*$')

# Families whose chains see IPv4 / IPv6 packets on their way through the IP stack (netdev: on the device, ingress
# before prerouting and egress after postrouting). Bridge chains see bridged frames, which the IP stack does not.
IP_FAMILIES = {'ip': ('ip', 'inet', 'netdev'), 'ip6': ('ip6', 'inet', 'netdev'), None: ('ip', 'ip6', 'inet', 'netdev')}
# Where a packet can go next after leaving a hook (the routing decision is not in the trace, so all of them).
LATER_HOOKS = {
    'ingress': ('prerouting', 'input', 'forward', 'postrouting', 'egress'),
    'prerouting': ('input', 'forward', 'postrouting', 'egress'),
    'forward': ('postrouting', 'egress'),
    'output': ('postrouting', 'egress'),
    'input': (),
    'postrouting': ('egress',),
    'egress': (),
}
# Order of the hooks along one packet's way, for sorting steps of several backends into kernel order.
HOOK_RANK = {'ingress': 0, 'prerouting': 1, 'output': 1, 'input': 2, 'forward': 2, 'postrouting': 3, 'egress': 4}
BACKEND_RANK = {LEGACY: 0, NF_TABLES: 1, NFTABLES: 2}
_DECIDES = re.compile(r'\b(?:drop|reject)\b')


def parse_priority(text, family='ip'):
    """nft's printed priority ('filter', 'mangle - 5', '-310', 'srcnat + 10') -> int, None if not understood."""
    if text is None:
        return None
    if isinstance(text, int):
        return text
    m = _PRIORITY.match(str(text))
    if m is None:
        return None
    base = m.group('base')
    if base.lstrip('-').isdigit():
        value = int(base)
    else:
        value = (BRIDGE_PRIORITY_NAMES if family == 'bridge' else PRIORITY_NAMES).get(base)
        if value is None:
            return None
    if m.group('delta'):
        value += int(m.group('delta')) * (-1 if m.group('sign') == '-' else 1)
    return value


def legacy_priority(table, hook):
    """The priority of an iptables table's built-in chain at hook."""
    if table == 'nat':
        return NAT_PRIORITY.get(hook)
    return TABLE_PRIORITY.get(table)


def is_xtables_table(family, name):
    """An nftables table that iptables-nft made: nft cannot tell it apart from a native one named the same."""
    return family in ('ip', 'ip6') and name in TABLE_ORDER


def iptables_chain_type(table):
    """The chain type of an iptables table's chains: nat for the nat table, filter for the others."""
    return 'nat' if table == 'nat' else 'filter'


def chain_key(chain):
    """(backend, family, table, chain) of a base_chains dict: what a trace step names as its base chain."""
    return (chain['backend'], chain['family'], chain['table'], chain['chain'])


def base_chain(backend, family, table, chain, hook, priority, chain_type, policy, decides):
    """The dict netfilter_info returns per base chain (RETURN base_chains) and the trace report reads."""
    return {'backend': backend, 'family': family, 'table': table, 'chain': chain, 'hook': hook,
            'priority': priority, 'type': chain_type, 'policy': policy, 'can_drop': decides}


def iptables_base_chains(ruleset, family, backend=LEGACY):
    """Base chains of an iptables-save ruleset (families ipv4/ipv6 become ip/ip6). For iptables-nft prefer
    nft_base_chains: iptables-nft-save lists built-in chains that the kernel may not hold."""
    fam = NFT_FAMILIES.get(family, family)
    found = []
    for table in ruleset.tables:
        for chain in table.chains.values():
            if chain.is_base:
                # iptables refuses DROP in the nat table; elsewhere a rule or a DROP policy can drop
                can_drop = table.name != 'nat' and (bool(chain.rules) or (chain.policy or 'ACCEPT') != 'ACCEPT')
                found.append(base_chain(backend, fam, table.name, chain.name, chain.hook,
                                        legacy_priority(table.name, chain.hook),
                                        iptables_chain_type(table.name), chain.policy, can_drop))
    return found


def _nft_can_drop(table, chain, xtables):
    if (chain.policy or 'accept').lower() != 'accept':
        return True
    if chain.chain_type != 'nat':
        return bool(chain.rules)
    if xtables:  # iptables refuses DROP and REJECT anywhere in the nat table
        return False
    # a native nat chain: a drop or reject in it or in a chain it jumps to
    todo, done = [chain], set()
    while todo:
        current = todo.pop()
        done.add(current.name)
        for rule in current.rules:
            if _DECIDES.search(rule.text or ''):
                return True
            todo.extend(table.chains[name] for name in rule.jumps if name in table.chains and name not in done)
    return False


def nft_base_chains(ruleset):
    """Base chains of an `nft list ruleset`: iptables-nft's tables as nf_tables, the others as nftables.

    A chain with an accept policy and no rule cannot drop (tables that stay after their rules were flushed are
    common). A nat chain counts only when a rule of it, or of a chain it jumps to, says drop or reject (never for
    iptables-nft, which refuses DROP in nat): nat chains see only the first packet of a connection, so one missing
    from a trace is no sign of a gap.
    """
    found = []
    for table in ruleset.tables:
        backend = NF_TABLES if is_xtables_table(table.family, table.name) else NFTABLES
        for chain in table.chains.values():
            if chain.is_base:
                priority = parse_priority(chain.priority, table.family)
                if priority is None and backend == NF_TABLES:
                    priority = legacy_priority(table.name, chain.hook)
                found.append(base_chain(backend, table.family, table.name, chain.name, chain.hook, priority,
                                        chain.chain_type or 'filter', chain.policy,
                                        _nft_can_drop(table, chain, backend == NF_TABLES)))
    return found


def for_packet(chains, family):
    """The base chains an IP packet of family (ip, ip6; None when not known: all of them) meets: those of its own
    family, inet and netdev."""
    families = IP_FAMILIES.get(family, (family,))
    return [chain for chain in chains if chain['family'] in families]


def comes_after(chain, hook, priority):
    """Can a packet that left `hook` at `priority` still meet chain? Equal priorities count: their order is
    the order the chains were registered in, which no listing shows."""
    if chain['hook'] == hook:
        return priority is None or chain['priority'] is None or chain['priority'] >= priority
    return chain['hook'] in LATER_HOOKS.get(hook, ())


def describe(chain):
    """'native nftables table inet filter, chain input (input, priority 0)'."""
    what = {LEGACY: 'iptables-legacy', NF_TABLES: 'iptables-nft', NFTABLES: 'native nftables'}[chain['backend']]
    where = chain['hook'] if chain['priority'] is None else '%s, priority %d' % (chain['hook'], chain['priority'])
    return '%s table %s %s, chain %s (%s)' % (what, chain['family'], chain['table'], chain['chain'], where)
