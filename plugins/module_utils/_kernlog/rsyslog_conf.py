# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads an rsyslog configuration the way rsyslogd does, far enough to answer a few questions.

It expands includes (``$IncludeConfig`` and ``include(file=...)``, globs and directories) in reading order and
extracts the statements that matter here: module loads and their parameters, legacy ``$`` directives, global()
settings, include sites and actions. File access goes through a small ``source`` object so that the parsing is
pure and unit-testable (``FsSource`` reads the node; tests pass a dict-backed source).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError

MAX_INCLUDE_DEPTH = 16
_OBJECT_RE = re.compile(r'\b(module|include|global|input|action)\s*\(', re.IGNORECASE)
_LEGACY_RE = re.compile(r'^[ \t]*\$([A-Za-z][A-Za-z0-9]*)[ \t]*([^\n]*)$', re.MULTILINE)
_PARAM_RE = re.compile(r'''([A-Za-z][\w.\-]*)\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|[^\s)"']+)''')
# Legacy selector lines: ``kern.*  -/var/log/kern.log``, ``*.*;auth,authpriv.none  -/var/log/syslog``.
_SELECTOR_RE = re.compile(r'^[ \t]*(?:[a-z0-9*,]+\.[!=<>]*[a-z*]+;?)+[ \t]+\S', re.MULTILINE | re.IGNORECASE)


class FsSource:
    """The node's file system."""

    @staticmethod
    def read(path):
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')

    @staticmethod
    def glob(pattern):
        return sorted(glob.glob(pattern))

    @staticmethod
    def isdir(path):
        return os.path.isdir(path)

    @staticmethod
    def listdir(path):
        return sorted(os.path.join(path, name) for name in os.listdir(path)
                      if not name.startswith('.') and os.path.isfile(os.path.join(path, name)))


class Statement:
    """One statement that matters here. kind: 'legacy', 'object' or 'action'."""

    __slots__ = ('kind', 'name', 'args', 'params', 'path', 'line', 'value_span')

    def __init__(self, kind, name, path, line, args='', params=None, value_span=None):
        self.kind = kind
        self.name = name
        self.args = args
        self.params = params or {}
        self.path = path
        self.line = line
        self.value_span = value_span  # (start, end) of an include pattern in the file's text

    def __repr__(self):
        return 'Statement(%s %s %r %r @%s:%d)' % (self.kind, self.name, self.args, self.params, self.path, self.line)


def strip_comments(text):
    """text with comments blanked out (same length, newlines kept), so offsets and line numbers still hold.

    ``#`` starts a comment outside quoted strings, as does ``/* ... */``. A legacy ``$Directive`` line is one
    token for rsyslog: ``/*`` in it is a glob (``$IncludeConfig /etc/rsyslog.d/*.conf``), and only a ``#``
    after white space ends it.
    """
    out = list(text)
    i, n = 0, len(text)
    quote = None
    while i < n:
        char = text[i]
        if quote:
            if char == '\\':
                i += 2
                continue
            if char == quote:
                quote = None
            i += 1
            continue
        if (i == 0 or text[i - 1] == '\n') and text[i:].lstrip(' \t').startswith('$'):
            i = _strip_legacy_line(text, out, i)
            continue
        if char in '"\'':
            quote = char
        elif char == '#':
            while i < n and text[i] != '\n':
                out[i] = ' '
                i += 1
            continue
        elif text.startswith('/*', i):
            end = text.find('*/', i + 2)
            end = n if end < 0 else end + 2
            for j in range(i, end):
                if out[j] != '\n':
                    out[j] = ' '
            i = end
            continue
        i += 1
    return ''.join(out)


def _strip_legacy_line(text, out, start):
    """Blank a trailing `` # comment`` of the legacy line at start; returns the index of the line's end."""
    end = text.find('\n', start)
    end = len(text) if end < 0 else end
    quote = None
    for i in range(start, end):
        char = text[i]
        if quote:
            quote = None if char == quote else quote
        elif char in '"\'':
            quote = char
        elif char == '#' and i > start and text[i - 1] in ' \t':
            for j in range(i, end):
                out[j] = ' '
            break
    return end


def blank_strings(clean):
    """clean (comments already blanked) with the inside of every quoted string replaced by '_', same length,
    so that statement keywords inside strings (``'module(load=...)'`` in a filter) are not taken for code."""
    out = list(clean)
    quote, i = None, 0
    while i < len(clean):
        char = clean[i]
        if quote:
            if char == '\\' and i + 1 < len(clean):
                out[i] = out[i + 1] = '_'
                i += 2
                continue
            if char == quote or (char == '\n' and _line_is_legacy(clean, i)):
                quote = None
            elif char != '\n':
                out[i] = '_'
        elif char in '"\'':
            quote = char
        i += 1
    return ''.join(out)


def _line_is_legacy(text, pos):
    start = text.rfind('\n', 0, pos) + 1
    return text[start:pos].lstrip().startswith('$')


def _line_of(text, pos):
    return text.count('\n', 0, pos) + 1


def _matching_paren(text, start):
    """Index of the ')' closing the '(' at text[start], honouring quoted strings; -1 when unbalanced."""
    depth, quote, i = 0, None, start
    while i < len(text):
        char = text[i]
        if quote:
            if char == '\\':
                i += 1
            elif char == quote:
                quote = None
        elif char in '"\'':
            quote = char
        elif char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _unquote(value):
    if len(value) >= 2 and value[0] in '"\'' and value[-1] == value[0]:
        return re.sub(r'\\(.)', r'\1', value[1:-1])
    if value.startswith('['):
        return [_unquote(v.strip()) for v in value[1:-1].split(',') if v.strip()]
    return value


def parse_params(body, offset=0):
    """(params, spans): lower-cased parameter name -> value, and name -> (start, end) of the unquoted value."""
    params, spans = {}, {}
    for match in _PARAM_RE.finditer(body):
        name = match.group(1).lower()
        raw = match.group(2)
        params[name] = _unquote(raw)
        start = offset + match.start(2)
        quoted = raw[:1] in '"\''
        spans[name] = (start + 1, start + len(raw) - 1) if quoted else (start, start + len(raw))
    return params, spans


def parse_statements(text, path='<config>'):
    """The statements of one file's text, in order: legacy directives, objects, and actions."""
    clean = strip_comments(text)
    code = blank_strings(clean)
    found = []
    for match in _LEGACY_RE.finditer(code):
        raw = clean[match.start(2):match.end(2)]
        args = raw.strip()
        stmt = Statement('legacy', match.group(1).lower(), path, _line_of(clean, match.start()), args=args)
        if stmt.name == 'includeconfig' and args:
            start = match.start(2) + (len(raw) - len(raw.lstrip()))
            stmt.value_span = (start, start + len(args.split()[0]))
        found.append((match.start(), stmt))
    for match in _OBJECT_RE.finditer(code):
        open_at = match.end() - 1
        close_at = _matching_paren(clean, open_at)
        if close_at < 0:
            continue
        params, spans = parse_params(clean[open_at + 1:close_at], open_at + 1)
        name = match.group(1).lower()
        kind = 'action' if name == 'action' else 'object'
        found.append((match.start(), Statement(kind, name, path, _line_of(clean, match.start()), params=params,
                                               value_span=spans.get('file'))))
    for match in _SELECTOR_RE.finditer(code):
        end = clean.find('\n', match.start())
        line = clean[match.start():end if end >= 0 else len(clean)].strip()
        found.append((match.start(), Statement('action', 'selector', path, _line_of(clean, match.start()), args=line)))
    found.sort(key=lambda item: item[0])
    return [stmt for _pos, stmt in found]


def include_pattern(stmt):
    """The file pattern an include statement reads, or None for other statements."""
    if stmt.kind == 'legacy' and stmt.name == 'includeconfig':
        return stmt.args.split()[0] if stmt.args else None
    if stmt.kind == 'object' and stmt.name == 'include':
        value = stmt.params.get('file')
        return value if isinstance(value, str) else None
    return None


def expand_pattern(pattern, source):
    """Files an include pattern reads, in rsyslog's order (sorted glob; a directory means all its files)."""
    if pattern.endswith('/') or source.isdir(pattern):
        return source.listdir(pattern.rstrip('/') or '/')
    return source.glob(pattern)


def pattern_covers(pattern, path):
    """True when pattern (glob or directory) would include the file path, whether or not it exists yet."""
    directory = os.path.dirname(path)
    if pattern.endswith('/'):
        return pattern.rstrip('/') == directory
    return fnmatch.fnmatchcase(path, pattern) and os.path.dirname(pattern) == directory


class Config:
    """An expanded configuration: statements in rsyslogd's reading order, plus what was read and what failed."""

    def __init__(self, main_path):
        self.main_path = main_path
        self.statements = []
        self.files = []
        self.texts = {}
        self.problems = []


def load(main_path, source=None, replace=None):
    """Load main_path and everything it includes. replace maps a path to text to use instead of the file.

    Raises KernlogError when the main file cannot be read; problems with includes are collected.
    """
    source = source or FsSource()
    config = Config(main_path)
    try:
        text = source.read(main_path)
    except (IOError, OSError) as exc:
        raise KernlogError('rsyslog_conf: cannot read the rsyslog configuration %s: %s' % (main_path, exc))
    _load_text(config, main_path, text, source, replace or {}, 0)
    return config


def _load_text(config, path, text, source, replace, depth):
    config.files.append(path)
    config.texts[path] = text
    for stmt in parse_statements(text, path):
        config.statements.append(stmt)
        pattern = include_pattern(stmt)
        if pattern is None:
            continue
        if depth >= MAX_INCLUDE_DEPTH:
            config.problems.append('%s:%d: includes nested deeper than %d levels' % (path, stmt.line, depth))
            continue
        for included in expand_pattern(pattern, source):
            if included in config.files:
                config.problems.append('%s:%d: include loop through %s' % (path, stmt.line, included))
                continue
            if included in replace:
                content = replace[included]
            else:
                try:
                    content = source.read(included)
                except (IOError, OSError) as exc:
                    config.problems.append('%s:%d: cannot read %s: %s' % (path, stmt.line, included, exc))
                    continue
            if content is not None:
                _load_text(config, included, content, source, replace, depth + 1)
