# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel log lines with netfilter TRACE and LOG messages, in every wrapper that real nodes produce.

Wrappers: dmesg ('[  101.912345] '), dmesg -T ('[Tue Jun 16 17:44:05 2024] '), dmesg -x ('kern  :warn  : '),
/dev/kmsg records ('4,1234,101912345,-;'), classic syslog and journalctl short ('Jun 16 17:44:05 host kernel: '),
RFC 3339 syslog and journalctl short-iso ('2024-06-16T17:44:05.123456+00:00 host kernel: '), either syslog form
with the kernel's own '[  101.9] ' stamp kept, and bare messages (journalctl -o cat). journalctl -o json lines are
unwrapped in parse.py and their MESSAGE comes here.
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.events import family_of, make_event, unparsed
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.fields import parse_fields

_DMESG = re.compile(r'\[\s*(\d+\.\d+)\] ')
_DMESG_T = re.compile(r'\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\d{4})\] ')
_DECODE = re.compile(r'[a-z]+\s*:[a-z]+\s*: ')
_KMSG = re.compile(r'\d+,\d+,(\d+),[^;]*;')
_SYSLOG = re.compile(r'([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?) (\S+) kernel: (?:\[\s*\d+\.\d+\] )?')
_ISO = re.compile(r'(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)? (\S+) kernel: '
                  r'(?:\[\s*\d+\.\d+\] )?')
_TRACE = re.compile(r'TRACE: (\w+):(\S+):(rule|return|policy):(\d+) ')

# The common case in one match: a dmesg-stamped TRACE line (parse.iter_events takes it without a detour).
DMESG_TRACE = re.compile(r'\[\s*(\d+\.\d+)\] TRACE: (\w+):(\S+):(rule|return|policy):(\d+) ')

_CACHE_MAX = 64  # recent field texts: the lines of one packet repeat them (see packet_entry)


def packet_entry(ctx, text):
    """(packet, family) for the fields text, reusing the result for the identical text of the packet's previous
    lines: events of one packet then share one packet dict (treat event packets as read-only)."""
    cache = ctx.packet_cache
    entry = cache.get(text)
    if entry is None:
        packet = parse_fields(text if text[-1:] == ' ' else text + ' ')  # some loggers strip the last space
        entry = (packet, family_of(packet))
        if len(cache) >= _CACHE_MAX:
            del cache[next(iter(cache))]  # the oldest: a packet still being traced keeps its texts
        cache[text] = entry
    return entry


def parse_message(ctx, lineno, msg, time, ts, clock, host, text):
    """A kernel message (wrapper already removed) -> TRACE, LOG or unparsed event."""
    if msg.startswith('TRACE: '):
        m = _TRACE.match(msg)
        if m is None:
            return unparsed(lineno, text, 'TRACE line without table:chain:type:rulenum', 'kernel', host, time, ts,
                            clock)
        table, chain, kind, num = m.groups()
        packet, family = packet_entry(ctx, msg[m.end():])
        return make_event(lineno, 'kernel', kind, host, time, ts, clock, table, chain, int(num), family=family,
                          packet=packet)
    start = msg.find('IN=')
    if start >= 0 and ' OUT=' in msg:
        packet, family = packet_entry(ctx, msg[start:])
        return make_event(lineno, 'kernel', 'log', host, time, ts, clock, family=family, prefix=msg[:start],
                          packet=packet)
    return unparsed(lineno, text, 'not a netfilter TRACE or LOG message', 'kernel', host, time, ts, clock)


def parse_kernel_line(ctx, lineno, line):
    """A kernel log line in any wrapper -> event."""
    host = ctx.host
    m = _DMESG.match(line)
    if m is not None:
        stamp = m.group(1)
        return parse_message(ctx, lineno, line[m.end():], stamp, float(stamp), 'boot', host, line)
    m = _SYSLOG.match(line)
    if m is not None:
        stamp = m.group(1)
        return parse_message(ctx, lineno, line[m.end():], stamp, ctx.clock.syslog(stamp), 'wall', m.group(2),
                             line)
    m = _ISO.match(line)
    if m is not None:
        date, hms, frac, offset, line_host = m.groups()
        stamp = line[:m.start(5) - 1]
        return parse_message(ctx, lineno, line[m.end():], stamp, ctx.clock.iso(date, hms, frac, offset), 'wall',
                             line_host, line)
    m = _KMSG.match(line)
    if m is not None:
        micros = int(m.group(1))
        return parse_message(ctx, lineno, line[m.end():], '%d.%06d' % divmod(micros, 1000000), micros / 1e6,
                             'boot', host, line)
    m = _DECODE.match(line)
    if m is not None and line[m.end():m.end() + 1] == '[':
        return parse_kernel_line(ctx, lineno, line[m.end():])
    m = _DMESG_T.match(line)
    if m is not None:
        stamp = m.group(1)
        old_year = ctx.clock.year
        ctx.clock.year = int(m.group(2))
        try:
            ts = ctx.clock.syslog(stamp)
        finally:
            ctx.clock.year = old_year
        return parse_message(ctx, lineno, line[m.end():], '%s %s' % (stamp, m.group(2)), ts, 'wall', host, line)
    event = parse_message(ctx, lineno, line, None, None, None, host, line)
    if event['kind'] == 'unparsed':
        event['format'] = None  # no kernel wrapper either: nothing says what this line is
    return event
