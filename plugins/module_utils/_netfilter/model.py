# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parsed shape of a ruleset, shared by the iptables-save and the nft parsers: tables -> chains -> rules.

Families: iptables rulesets use ipv4/ipv6, nftables ones the nft family names (ip, ip6, inet, arp, bridge,
netdev). Hooks are lower-case (prerouting, input, ...): an iptables built-in chain gets its name's hook.
"""

from __future__ import annotations


class Rule:
    """One rule.

    position: 1-based place in its chain (what ``iptables -I CHAIN N`` and TRACE lines count);
    text: the rule as the tool prints it, without counters or handle (for iptables the part after ``-A CHAIN``);
    args: iptables arguments as a list (None for nft); target: the -j/-g target (nft: the jumped-to chain or the
    verdict keyword); goto: True for -g/goto; jumps: chain names the rule can jump or go to; comment: the rule's
    comment or None; counters: (packets, bytes) or None; handle: nft handle or None.
    """

    __slots__ = ('chain', 'position', 'text', 'args', 'target', 'goto', 'jumps', 'comment', 'counters', 'handle')

    def __init__(self, chain, position, text, args=None, target=None, goto=False, jumps=(), comment=None,
                 counters=None, handle=None):
        self.chain = chain
        self.position = position
        self.text = text
        self.args = args
        self.target = target
        self.goto = goto
        self.jumps = tuple(jumps)
        self.comment = comment
        self.counters = counters
        self.handle = handle

    def __repr__(self):
        return 'Rule(%r, %d, %r)' % (self.chain, self.position, self.text)


class Chain:
    """A chain: hook is None for a chain that is only reached by jumps (an iptables user chain).

    policy: ACCEPT/DROP for iptables built-ins, accept/drop for nft base chains, None otherwise;
    chain_type and priority: an nft base chain's type (filter, nat, route) and priority as printed.
    """

    __slots__ = ('name', 'hook', 'policy', 'chain_type', 'priority', 'comment', 'handle', 'counters', 'rules')

    def __init__(self, name, hook=None, policy=None, chain_type=None, priority=None, comment=None, handle=None,
                 counters=None):
        self.name = name
        self.hook = hook
        self.policy = policy
        self.chain_type = chain_type
        self.priority = priority
        self.comment = comment
        self.handle = handle
        self.counters = counters
        self.rules = []

    @property
    def is_base(self):
        """True for a chain that packets enter from a netfilter hook."""
        return self.hook is not None

    def add_rule(self, text, **kwargs):
        rule = Rule(self.name, len(self.rules) + 1, text, **kwargs)
        self.rules.append(rule)
        return rule

    def __repr__(self):
        return 'Chain(%r, %d rules)' % (self.name, len(self.rules))


class Table:
    """A table of one family; chains keep their listed order. objects: nft sets, maps, counters... as (kind, name)."""

    __slots__ = ('family', 'name', 'handle', 'chains', 'objects')

    def __init__(self, family, name, handle=None):
        self.family = family
        self.name = name
        self.handle = handle
        self.chains = {}
        self.objects = []

    def add_chain(self, chain):
        self.chains[chain.name] = chain
        return chain

    def chain(self, name):
        """The chain called name, or None."""
        return self.chains.get(name)

    def rules(self):
        """Every rule of the table, chain by chain."""
        for chain in self.chains.values():
            yield from chain.rules

    def __repr__(self):
        return 'Table(%r, %r, %d chains)' % (self.family, self.name, len(self.chains))


class Ruleset:
    """The tables of one listing, in listed order."""

    __slots__ = ('tables',)

    def __init__(self, tables=None):
        self.tables = list(tables or [])

    def table(self, name, family=None):
        """The table called name (of family, when given), or None."""
        for table in self.tables:
            if table.name == name and (family is None or table.family == family):
                return table
        return None

    def rule(self, table, chain, position, family=None):
        """Rule number position (1-based) of chain in table, or None: resolves "rule N of chain C"."""
        found = self.table(table, family)
        chain = found.chain(chain) if found else None
        if chain is None or not 1 <= position <= len(chain.rules):
            return None
        return chain.rules[position - 1]

    def __repr__(self):
        return 'Ruleset(%r)' % (self.tables,)
