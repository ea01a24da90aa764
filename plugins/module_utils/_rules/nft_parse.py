# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse ``nft -a list table`` text and ``nft -j list table`` JSON. Pure; stdlib only."""

from __future__ import annotations

import json
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import Leaf, Node, parse_tree
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import first_tag

_COMMENT_RE = re.compile(r'\bcomment\s+"([^"]*)"')
_ECHO_HANDLE_RE = re.compile(r'#\s*handle\s+([0-9]+)\s*$', re.M)
_COUNTER_RE = re.compile(r'\bcounter packets ([0-9]+) bytes [0-9]+')


class NftRule:
    """A rule of our own table: chain, handle, text as nft prints it (without the handle), tag."""

    def __init__(self, chain, handle, text):
        self.chain = chain
        self.handle = handle
        # The text without the counters' values (they change; the text names the rule), which are kept apart.
        self.packets = [int(n) for n in _COUNTER_RE.findall(text)]
        self.text = _COUNTER_RE.sub('counter', text)
        self.comments = _COMMENT_RE.findall(text)
        self.tag = first_tag(self.comments)

    @property
    def verified(self):
        """True when our tag is the rule's only comment."""
        return self.tag is not None and len(self.comments) == 1

    def __repr__(self):
        return 'NftRule(%r, %r, %r)' % (self.chain, self.handle, self.text)


def parse_table_text(text):
    """Rules of ``nft -a list table ...`` output, in chain order (read with the ruleset parser's tree: one reader of
    nft's listing syntax)."""
    rules = []
    for table in parse_tree(text, 'nft -a list table'):
        for block in table.children:
            if not isinstance(block, Node) or not block.header.startswith('chain '):
                continue
            chain = block.header.split(None, 1)[1]
            for leaf in block.children:
                if isinstance(leaf, Leaf) and leaf.handle is not None and not leaf.text.startswith(('type ', 'policy ')):
                    rules.append(NftRule(chain, leaf.handle, leaf.text))
    return rules


def parse_echo_handle(text):
    """Handle of the rule that ``nft --echo --handle add/insert rule`` printed."""
    handles = _ECHO_HANDLE_RE.findall(text or '')
    if not handles:
        raise RulesError('nft did not echo the handle of the new rule: %r' % (text or ''))
    return int(handles[-1])


def parse_table_json(text):
    """Summary of ``nft -j list table`` JSON: {'chains': {name: {'hook':..,'rules': n}}, 'other': n objects}."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RulesError('cannot parse nft JSON output: %s' % exc) from None
    summary = {'chains': {}, 'other': 0}
    for item in data.get('nftables', []):
        if 'chain' in item:
            chain = item['chain']
            summary['chains'].setdefault(chain['name'], {'hook': chain.get('hook'), 'rules': 0})
        elif 'rule' in item:
            rule = item['rule']
            summary['chains'].setdefault(rule['chain'], {'hook': None, 'rules': 0})['rules'] += 1
        elif not set(item) & {'metainfo', 'table'}:
            summary['other'] += 1  # sets, maps, counters, flowtables...: someone else's objects
    return summary
