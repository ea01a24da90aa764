# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse ``iptables -S`` output (legacy and nf_tables variants print the same syntax). Pure; stdlib only.

A listed rule keeps its argv tokens, so that ``-D <chain> <tokens>`` deletes exactly that rule.
"""

from __future__ import annotations

import shlex

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import first_tag


class ListedRule:
    """One ``-A`` line: chain, argv tokens after the chain, the line as printed, its position (1-based)."""

    def __init__(self, chain, args, line, position, packets=None):
        self.chain = chain
        self.args = args
        self.line = line
        self.position = position
        self.packets = packets  # from a -v listing (-c packets bytes), else None
        self.comments = _option_values(args, '--comment')
        self.tag = first_tag(self.comments)

    @property
    def verified(self):
        """True when the rule is exactly as we insert them: our tag its only comment and one jump (none for the
        rule that counts a rate-limited TRACE rule's packets)."""
        jumps = [t for t in self.args if t in ('-j', '-g')]
        return self.tag is not None and len(self.comments) == 1 and len(jumps) <= 1 and '-g' not in jumps

    @property
    def jump(self):
        values = _option_values(self.args, '-j') + _option_values(self.args, '-g')
        return values[0] if values else None

    def delete_args(self):
        return ['-D', self.chain] + list(self.args)

    def __repr__(self):
        return 'ListedRule(%r)' % self.line


def _option_values(args, option):
    return [args[i + 1] for i, token in enumerate(args[:-1]) if token == option]


def parse_rules(text):
    """All ``-A`` lines of ``iptables -S`` output, with positions counted per chain."""
    rules = []
    counts = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith('-A '):
            continue  # '-P', '-N', and '# Warning: ...' lines of the nf_tables variant
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            raise RulesError('cannot parse iptables -S line %r: %s' % (line, exc)) from None
        if len(tokens) < 2:
            raise RulesError('cannot parse iptables -S line %r: no chain' % line)
        chain = tokens[1]
        counts[chain] = counts.get(chain, 0) + 1
        args, packets = _without_counters(tokens[2:])
        rules.append(ListedRule(chain, args, line, counts[chain], packets))
    return rules


def _without_counters(tokens):
    """(tokens without '-c packets bytes', packets or None): a -v listing prints them before the target."""
    for i, token in enumerate(tokens[:-2]):
        if token == '-c' and tokens[i + 1].isdigit() and tokens[i + 2].isdigit():
            return tokens[:i] + tokens[i + 3:], int(tokens[i + 1])
    return tokens, None


def parse_chains(text):
    """Chain names declared in ``iptables -S`` output (built-in via -P, user via -N)."""
    chains = []
    for raw in text.splitlines():
        parts = raw.strip().split()
        if len(parts) >= 2 and parts[0] in ('-P', '-N') and parts[1] not in chains:
            chains.append(parts[1])
    return chains


def tagged(rules, run_id):
    """The rules carrying a netdebug tag of run_id ('*' = any run) in any of their comments."""
    return [rule for rule in rules if rule.tag is not None and rule.tag.belongs_to(run_id)]
