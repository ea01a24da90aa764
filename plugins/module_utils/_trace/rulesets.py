# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Just enough of iptables-save and `nft -a list ruleset` text to look rules up for trace resolution.

TODO(merge): plugins/module_utils/_netfilter/ruleset.py is the collection's full ruleset parser; once it offers
rule order per chain, chain policies and nft handles, this module should become a thin adapter over it.
"""

from __future__ import annotations

import re
import shlex

_COUNTERS = re.compile(r'\bcounter packets \d+ bytes \d+')
_NFT_HANDLE = re.compile(r'\s+# handle (\d+)\s*$')
_NFT_BLOCK = re.compile(r'(table|chain|set|map|flowtable|ct|counter|quota|limit|secmark|synproxy)\s')


def parse_iptables_save(text):
    """iptables-save text -> {table: {chain: {'policy': 'ACCEPT'|None, 'rules': ['-A chain ...', ...]}}}."""
    tables = {}
    chains = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith('*'):
            chains = tables.setdefault(line[1:].strip(), {})
        elif chains is None or not line or line.startswith('#'):
            continue
        elif line.startswith(':'):
            parts = line[1:].split()
            if parts:
                policy = parts[1] if len(parts) > 1 and parts[1] != '-' else None
                chains.setdefault(parts[0], {'policy': policy, 'rules': []})['policy'] = policy
        elif line.startswith('-A '):
            parts = line.split(None, 2)
            if len(parts) >= 2:
                chains.setdefault(parts[1], {'policy': None, 'rules': []})['rules'].append(line)
        elif line == 'COMMIT':
            chains = None
    return tables


def rule_target(rule):
    """('jump'|'goto', TARGET) of an iptables rule text, or (None, None) when it has no target."""
    try:
        words = shlex.split(rule)
    except ValueError:
        words = rule.split()
    found = (None, None)
    for i, word in enumerate(words[:-1]):
        if word in ('-j', '--jump'):
            found = ('jump', words[i + 1])
        elif word in ('-g', '--goto'):
            found = ('goto', words[i + 1])
    return found


def _unquote(name):
    return name[1:-1] if len(name) > 1 and name[0] == '"' and name[-1] == '"' else name


def clean_nft_rule(text):
    """Rule text without counters' numbers and handle comment."""
    return _NFT_HANDLE.sub('', _COUNTERS.sub('counter', text)).strip()


def parse_nft_ruleset(text):
    """`nft -a list ruleset` -> {(family, table): {chain: {'hook', 'type', 'policy', 'rules': {handle: text},
    'order': [handle, ...]}}}. Sets, maps and other objects are skipped."""
    tables = {}
    depth = 0
    table = chain = None
    skip_depth = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        opens = line.count('{') - line.count('}')
        if skip_depth is not None:
            depth += opens
            if depth <= skip_depth:
                skip_depth = None
            continue
        if depth == 0 and line.startswith('table ') and '{' in line:
            words = line.split()
            if len(words) >= 3:
                table = tables.setdefault((words[1], _unquote(words[2])), {})
            depth += opens
            continue
        if depth == 1 and line.startswith('chain ') and '{' in line and table is not None:
            name = _unquote(line.split()[1])
            chain = table.setdefault(name, {'hook': None, 'type': None, 'policy': None, 'rules': {},
                                            'order': []})
            depth += opens
            continue
        if depth == 1 and _NFT_BLOCK.match(line) and '{' in line:
            skip_depth = depth
            depth += opens
            if depth <= skip_depth:
                skip_depth = None
            continue
        if depth == 2 and chain is not None:
            if line.startswith('type '):
                m = re.search(r'type (\w+) hook (\w+)', line)
                if m:
                    chain['type'], chain['hook'] = m.group(1), m.group(2)
                m = re.search(r'policy (\w+);', line)
                if m:
                    chain['policy'] = m.group(1)
            elif line.startswith('policy '):
                chain['policy'] = line.split()[1].rstrip(';')
            else:
                m = _NFT_HANDLE.search(line)
                if m:
                    handle = int(m.group(1))
                    chain['rules'][handle] = clean_nft_rule(line)
                    chain['order'].append(handle)
        depth += opens
        if depth <= 1:
            chain = None
        if depth <= 0:
            depth = 0
            table = None
    return tables
