# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``nft list ruleset`` output (with or without -a): parse into tables -> chains -> rules, and normalise.

Pure functions over text. The listing is read as a tree of ``header {`` ... ``}`` blocks and one-line
statements; braces and ``#`` inside double-quoted strings do not count. A statement whose braces do not close
on its line (a wrapped ``elements = { ... }``) is joined into one line, so the normalised text does not depend
on how nft wrapped it.
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParseError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.model import Chain, Ruleset, Table

_HANDLE_RE = re.compile(r'^handle (\d+)$')
_COUNTER_RE = re.compile(r'\bcounter packets \d+ bytes \d+')
_COUNTER_OBJECT_RE = re.compile(r'^packets \d+ bytes \d+$')
_QUOTA_USED_RE = re.compile(r' used \d+ [kmg]?bytes\b')
_EXPIRES_RE = re.compile(r' expires [0-9dhms]+\b')
_TYPE_RE = re.compile(r'^type (?P<type>\S+) hook (?P<hook>\S+)(?: device (?P<device>\S+))? priority (?P<priority>[^;]+);'
                      r'(?: policy (?P<policy>\w+);)?$')
_POLICY_RE = re.compile(r'^policy (\w+);$')
_VERDICTS = ('accept', 'drop', 'reject', 'return', 'queue', 'continue')


def _segments(text):
    """(chunk, quoted) pieces of text; quoted chunks keep their quotes. nft strings cannot contain a quote."""
    parts = text.split('"')
    for index, part in enumerate(parts):
        if index % 2:
            yield '"%s"' % part, True
        elif part:
            yield part, False


def _split_comment(line):
    """(code, comment) of a listing line: the comment is what follows a # that is not inside quotes."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == '#' and not quoted:
            return line[:index], line[index + 1:].strip()
    return line, ''


def _squash(code):
    """code with runs of blanks outside quotes turned into one space, and trimmed."""
    out = []
    for chunk, quoted in _segments(code):
        out.append(chunk if quoted else re.sub(r'\s+', ' ', chunk))
    return ''.join(out).strip()


def _brace_delta(code):
    return sum(chunk.count('{') - chunk.count('}') for chunk, quoted in _segments(code) if not quoted)


def _map_unquoted(text, func):
    return ''.join(chunk if quoted else func(chunk) for chunk, quoted in _segments(text))


def _tokens(text):
    """Words of a statement; a quoted string is one token without its quotes."""
    tokens = []
    for chunk, quoted in _segments(text):
        if quoted:
            tokens.append(chunk[1:-1])
        else:
            tokens.extend(chunk.split())
    return tokens


class Node:
    """A block: header (``table ip filter``, ``chain INPUT``, ``set x``), handle, and children (Node or Leaf)."""

    __slots__ = ('header', 'handle', 'lineno', 'children')

    def __init__(self, header, handle=None, lineno=None):
        self.header = header
        self.handle = handle
        self.lineno = lineno
        self.children = []


class Leaf:
    """A one-line statement inside a block (a rule, ``type ... hook ...;``, ``elements = {...}``)."""

    __slots__ = ('text', 'handle', 'lineno')

    def __init__(self, text, handle=None, lineno=None):
        self.text = text
        self.handle = handle
        self.lineno = lineno


def _handle(comment):
    match = _HANDLE_RE.match(comment)
    return int(match.group(1)) if match else None


def parse_tree(text, source='nft list ruleset'):
    """The listing as a list of top-level Nodes (tables); comment-only lines (warnings) are skipped."""
    root = Node(None)
    stack = [root]
    pending = None  # [text, depth, lineno] of a statement whose braces are still open
    lineno = 0
    for lineno, raw in enumerate((text or '').splitlines(), 1):
        code, comment = _split_comment(raw)
        code = _squash(code)
        if pending is not None:
            pending[0] += ' ' + code
            pending[1] += _brace_delta(code)
            if pending[1] <= 0:
                stack[-1].children.append(Leaf(_squash(pending[0]), _handle(comment), pending[2]))
                pending = None
            continue
        if not code:
            continue
        delta = _brace_delta(code)
        if code == '}':
            if len(stack) == 1:
                raise ParseError(source, 'unmatched }', lineno, raw)
            stack.pop()
        elif code.endswith('{') and delta == 1:
            node = Node(code[:-1].rstrip(), _handle(comment), lineno)
            stack[-1].children.append(node)
            stack.append(node)
        elif delta == 0:
            if len(stack) == 1:
                raise ParseError(source, 'statement outside a table', lineno, raw)
            stack[-1].children.append(Leaf(code, _handle(comment), lineno))
        elif delta > 0:
            pending = [code, delta, lineno]
        else:
            raise ParseError(source, 'more } than {', lineno, raw)
    if pending is not None or len(stack) != 1:
        raise ParseError(source, 'unclosed block at the end (output cut short?)', lineno + 1, '')
    return root.children


def _strip_counts(text):
    """A statement without the values that change with traffic or time."""
    text = _map_unquoted(text, lambda chunk: _COUNTER_RE.sub('counter', chunk))
    text = _map_unquoted(text, lambda chunk: _QUOTA_USED_RE.sub('', chunk))
    return _map_unquoted(text, lambda chunk: _EXPIRES_RE.sub('', chunk))


def rule_text(text):
    """A rule as ``nft monitor trace`` or a listing prints it -> the text parse_nft keeps for it (blanks
    squashed, no counter values, no ``# handle`` comment), so that the two compare equal."""
    return _strip_counts(_squash(_split_comment(text)[0]))


def _render(node, depth, lines):
    indent = '\t' * depth
    lines.append('%s%s {' % (indent, node.header))
    leaves = [child for child in node.children if isinstance(child, Leaf)]
    blocks = [child for child in node.children if isinstance(child, Node)]
    for leaf in leaves:
        text = _strip_counts(leaf.text)
        if not _COUNTER_OBJECT_RE.match(text):
            lines.append('%s\t%s' % (indent, text))
    # Blocks of a table (chains, sets, ...) sort by header: their listed order is creation order, which changes
    # when an agent re-creates a chain without changing anything.
    for block in sorted(blocks, key=lambda block: block.header) if depth == 0 else blocks:
        _render(block, depth + 1, lines)
    lines.append('%s}' % indent)


def normalise_nft(text, source='nft list ruleset'):
    """The listing normalised for comparison: no counter values, handles, quota use or expiry times;
    tables sorted by family and name, their chains and other objects by header; '' for an empty ruleset."""
    lines = []
    for table in sorted(parse_tree(text, source), key=lambda node: node.header):
        _render(table, 0, lines)
    return '\n'.join(lines) + '\n' if lines else ''


def _unquote(word):
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] == '"' else word


def _rule_fields(text):
    """(target, goto, jumps, comment) of an nft rule."""
    tokens = _tokens(text)
    target, goto, jumps, comment = None, False, [], None
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token in ('jump', 'goto') and following:
            name = following.rstrip(',}')
            jumps.append(name)
            if target is None:
                target, goto = name, token == 'goto'
        elif token == 'comment' and following is not None:
            comment = following
        elif target is None and token in _VERDICTS:
            target = token
    return target, goto, jumps, comment


def rule_comment(text):
    """The ``comment "..."`` of an nft rule as ``nft list ruleset`` prints it, or None."""
    return _rule_fields(text)[3]


def _chain(node, source):
    chain = Chain(_unquote(node.header.split(None, 1)[1]), handle=node.handle)
    for child in node.children:
        if isinstance(child, Node):
            raise ParseError(source, 'unexpected block inside chain %s' % chain.name, child.lineno, child.header)
        text = child.text
        match = _TYPE_RE.match(text)
        if match:
            chain.chain_type, chain.hook = match.group('type'), match.group('hook')
            chain.priority, chain.policy = match.group('priority').strip(), match.group('policy')
            continue
        match = _POLICY_RE.match(text)
        if match:
            chain.policy = match.group(1)
        elif text.startswith('comment "') and not chain.rules and len(_tokens(text)) == 2:
            chain.comment = _tokens(text)[1]
        elif text.startswith('devices = '):
            continue
        else:
            target, goto, jumps, comment = _rule_fields(text)
            chain.add_rule(_strip_counts(text), target=target, goto=goto, jumps=jumps, comment=comment,
                           handle=child.handle)
    return chain


def parse_nft(text, source='nft list ruleset'):
    """Ruleset from ``nft [-a] list ruleset``; rules keep their text without counter values."""
    ruleset = Ruleset()
    for node in parse_tree(text, source):
        words = node.header.split()
        if len(words) != 3 or words[0] != 'table':
            raise ParseError(source, 'expected "table FAMILY NAME {"', node.lineno, node.header)
        table = Table(words[1], _unquote(words[2]), node.handle)
        ruleset.tables.append(table)
        for child in node.children:
            if not isinstance(child, Node):
                continue  # table flags and comments
            if child.header.startswith('chain '):
                table.add_chain(_chain(child, source))
            else:
                kind, _sep, name = child.header.rpartition(' ')
                table.objects.append((kind, _unquote(name)))
    return ruleset
