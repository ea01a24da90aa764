# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules a module call wants, per backend and family, before anything looks at the node. Pure."""

from __future__ import annotations

import json

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import BUILTIN_CHAINS
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nftables_backend import chain_name, rule_text
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.spec import families

BACKENDS = ('auto', 'legacy', 'nft', 'nftables')
COUNT = 'count'  # kind of the rule that counts the packets a rate-limited TRACE rule matches


def check_position(position):
    """'top' (1), 'bottom' (append) or a 1-based index."""
    if position in (None, 'top'):
        return 1
    if position == 'bottom':
        return 'bottom'
    text = str(position).strip()
    if not isinstance(position, bool) and text.isdigit() and int(text) >= 1:
        return int(text)
    raise ParamError('position', '%r is not top, bottom or a rule number from 1' % (position,))


def hook_of(table, chain):
    """The netfilter hook of a built-in chain, None for a user chain."""
    return chain if chain in BUILTIN_CHAINS.get(table, ()) else None


class DesiredRule:
    """One rule to have: where (backend, family, table, chain) and what (argv tokens or nft words)."""

    def __init__(self, kind, backend, family, table, chain, hook, position, body):
        self.kind = kind
        self.backend = backend
        self.family = family
        self.table = table
        self.chain = chain
        self.hook = hook
        self.position = position
        self.body = body  # iptables: (tokens before the comment, tokens after); nftables: words

    @property
    def native(self):
        return self.backend == 'nftables'

    @property
    def nft_chain(self):
        return chain_name(self.table, self.hook)

    @property
    def target_jump(self):
        """The iptables target the rule jumps to (TRACE, LOG, NFLOG)."""
        after = list(self.body[1]) if not self.native else []
        return after[after.index('-j') + 1] if '-j' in after else None

    def listed_as_asked(self, listed):
        """True when a listed rule carrying our tag is this rule as we insert it: the tag its only comment and, for
        iptables, our own target (none for a count rule) in our own chain (the dry run's read-back and the check
        after the insert)."""
        if self.native:
            return listed.verified
        return listed.verified and listed.jump == self.target_jump and listed.chain == self.chain

    def args(self, tag):
        """iptables argv (match, limit, comment, target)."""
        before, after = self.body
        return list(before) + ['-m', 'comment', '--comment', tag] + list(after)

    def nft_text(self, tag):
        return rule_text(self.body, tag)

    def key(self):
        """Identity of the rule regardless of its expiry: what idempotency compares."""
        return json.dumps([self.kind, self.backend, self.family, self.table, self.chain, self.body])

    def where(self):
        if self.native:
            return 'nftables inet netdebug %s' % self.nft_chain
        return '%s %s %s %s' % (self.backend, self.family, self.table, self.chain)


def build(kind, backends, match, target, placements, position):
    """DesiredRule for each backend x family x (table, chain) placement."""
    rules = []
    for backend in backends:
        for table, chain in placements:
            hook = hook_of(table, chain)
            if backend == 'nftables':
                if hook is None:
                    raise ParamError('chain', '%s is not a built-in chain of table %s: backend nftables puts rules in '
                                              'its own table at a built-in hook only (%s)'
                                     % (chain, table, ', '.join(BUILTIN_CHAINS.get(table, ()))))
                words = match.nft_words() + target.nft_pre + target.nft
                rules.append(DesiredRule(kind, backend, 'inet', table, chain, hook, position, words))
                continue
            for family in families(match.ip_version):
                before = match.iptables_args(family) + target.pre_args
                pair = [DesiredRule(kind, backend, family, table, chain, hook, position, (before, list(target.args)))]
                if target.counted:
                    # The same match without limit or target: its counter is every matching packet. It goes in
                    # just above the TRACE rule (inserted after it at the same position, or appended before it), so
                    # that a packet this rule traces does not show it in its path.
                    count = DesiredRule(COUNT, backend, family, table, chain, hook, position,
                                        (match.iptables_args(family), []))
                    pair = [count] + pair if position == 'bottom' else pair + [count]
                rules += pair
    return rules
