# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renders the rsyslog drop-in and the logrotate drop-in from validated options (pure functions).

The drop-in is RainerScript, not the legacy selector syntax, because:
- a selector (``kern.=debug``) cannot say "facility kern AND the message starts with TRACE:"; TRACE lines are
  logged at severity warning, so a severity selector either misses them or takes every kernel warning;
- per-action ``fileCreateMode``/``fileOwner``/``fileGroup`` keep the file's ownership local to this action,
  whereas the legacy ``$FileOwner``/``$FileCreateMode`` directives would leak into every rule read after the
  drop-in (Debian includes /etc/rsyslog.d/*.conf before its own rules);
- ``stop`` is the supported way to end processing; the legacy ``& ~`` is deprecated in rsyslog 8.
rsyslog 8.2302 (Debian 12) validates this syntax with ``rsyslogd -N1``.
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError

SEVERITIES = ('emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug')
HEADER = '# Managed by netdebug.netfilter.rsyslog_kernlog: edits are overwritten, state=absent removes this file.\n'

# The message may start with a space (RFC 3164 parsing keeps the one after the tag) and, with
# imklog keepKernelTimestamp, with "[ seconds.micros]". Brackets as classes avoid backslash escaping.
_MSG_LEAD = '^ *([[] *[0-9]+[.][0-9]+[]] *)?'
_ERE_SPECIAL = set('.[]()*+?{}|^$\\')
# Printable ASCII without the quote characters and backslash: what fits safely in a RainerScript
# string and in an iptables --log-prefix (which refuses quotes anyway).
_PREFIX_RE = re.compile(r'^[\x20-\x7e]+$')
_FORBIDDEN_IN_PREFIX = set('\'"\\')
_PATH_RE = re.compile(r'^/[^\x00-\x1f"\'\\\x7f]*$')
_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$')
_SIZE_RE = re.compile(r'^[1-9][0-9]*[kMG]?$')


def ere_literal(text):
    """POSIX ERE that matches text literally, written for a RainerScript single-quoted string."""
    out = []
    for char in text:
        if char in _ERE_SPECIAL:
            # One backslash for the regex, doubled because RainerScript strings unescape it first.
            out.append('\\\\' + char)
        else:
            out.append(char)
    return ''.join(out)


def check_prefix(prefix):
    """Raise KernlogError unless prefix can be matched safely; returns it unchanged."""
    if not prefix or not _PREFIX_RE.match(prefix) or set(prefix) & _FORBIDDEN_IN_PREFIX:
        raise KernlogError("prefixes: %r is not allowed; use printable ASCII without quotes or backslashes "
                           "(as iptables --log-prefix expects)" % (prefix,))
    return prefix


def check_path(param, value):
    if not _PATH_RE.match(value or '') or value.endswith('/'):
        raise KernlogError('%s: %r must be an absolute file path without quotes, backslashes or control '
                           'characters' % (param, value))
    return value


def check_mode(value):
    """File mode as four octal digits ('0640'); accepts '640', '0640' or an int given as octal digits."""
    text = str(value)
    if not re.match(r'^0?[0-7]{3}$', text):
        raise KernlogError("mode: %r is not an octal file mode such as '0640'" % (value,))
    return text.rjust(4, '0')


def check_name(param, value):
    if not _NAME_RE.match(value or ''):
        raise KernlogError('%s: %r is not a valid user or group name' % (param, value))
    return value


def check_size(value):
    if not _SIZE_RE.match(str(value)):
        raise KernlogError("logrotate_size: %r is not a logrotate size such as '100M', '500k' or '1G'" % (value,))
    return str(value)


def _conditions(severity, prefixes):
    conds = ["re_match($msg, '%sTRACE: ')" % _MSG_LEAD]
    if severity != 'none':
        conds.append('$syslogseverity == %d' % SEVERITIES.index(severity))
    if prefixes:
        alternatives = '|'.join(ere_literal(p) for p in prefixes)
        conds.append("re_match($msg, '%s(%s)')" % (_MSG_LEAD, alternatives))
    return conds


def _comment_lines(spec):
    lines = ['# Netfilter kernel messages to %s:' % spec['path'],
             '# - TRACE lines (the kernel logs them at severity warning, so kern.=debug alone misses them)']
    if spec['severity'] != 'none':
        lines.append('# - kernel messages at severity %s (iptables LOG --log-level %d)'
                     % (spec['severity'], SEVERITIES.index(spec['severity'])))
    if spec['prefixes']:
        lines.append('# - kernel messages starting with one of: %s' % ', '.join(spec['prefixes']))
    if spec['exclusive']:
        lines.append('# exclusive: they are written only here (stop), not to syslog or kern.log.')
    return lines


def render_dropin(spec):
    """The drop-in text for spec: dict with path, severity, prefixes, exclusive, mode, owner, group, template."""
    action = ['type="omfile"', 'file="%s"' % spec['path'], 'fileCreateMode="%s"' % spec['mode'],
              'fileOwner="%s"' % spec['owner'], 'fileGroup="%s"' % spec['group']]
    if spec.get('template'):
        action.append('template="%s"' % spec['template'])
    conds = _conditions(spec['severity'], spec['prefixes'])
    lines = [HEADER.rstrip('\n')] + _comment_lines(spec)
    lines.append("if $syslogfacility-text == 'kern' and (")
    lines.append('    ' + '\n    or '.join(conds))
    lines.append(') then {')
    lines.append('    action(%s)' % ' '.join(action))
    if spec['exclusive']:
        lines.append('    stop')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def render_logrotate(spec):
    """The logrotate drop-in for the log file: size cap, rotate count, rsyslog told to reopen afterwards."""
    lines = [
        HEADER.rstrip('\n'),
        '%s {' % spec['path'],
        '    size %s' % spec['logrotate_size'],
        '    rotate %d' % spec['logrotate_rotate'],
        '    missingok',
        '    notifempty',
        '    compress',
        '    delaycompress',
        '    create %s %s %s' % (spec['mode'], spec['owner'], spec['group']),
        '    postrotate',
        '        %s' % spec['postrotate'],
        '    endscript',
        '}',
    ]
    return '\n'.join(lines) + '\n'
