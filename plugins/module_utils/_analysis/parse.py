# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""parse_trace: any mix of kernel, xtables-monitor and nft monitor lines -> one event per line.

Monitor lines come as the monitor printed them or as the node's stamper wrote them, with the node's wall-clock
time in front (``@1796600581.633243 PACKET: ...``, see _rules/stamp_main.py).

Pure and exception-free per line: a line that is not understood becomes an `unparsed` event.
"""

from __future__ import annotations

import json

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis import nft_monitor, xtables_monitor
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.events import make_event, unparsed
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.kernel import (
    DMESG_TRACE, packet_entry, parse_kernel_line, parse_message,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.timestamps import Clock, iso_utc
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.gcpause import gc_paused


class Context:
    """Per-call state: default host, the clock for stamps without a year, and the packet-field cache."""

    def __init__(self, host=None, year=None):
        self.host = host
        self.clock = Clock(year)
        self.packet_cache = {}


def _journal_json(ctx, lineno, line):
    try:
        record = json.loads(line)
    except ValueError as exc:
        return unparsed(lineno, line, 'invalid JSON: %s' % exc)
    if not isinstance(record, dict):
        return unparsed(lineno, line, 'JSON line is not a journal record')
    message = record.get('MESSAGE')
    if isinstance(message, list):  # journald stores non-UTF-8 messages as a byte array
        try:
            message = bytes(message).decode('utf-8', 'replace')
        except (TypeError, ValueError):
            message = None
    if not isinstance(message, str):
        return unparsed(lineno, line, 'journal record without a text MESSAGE')
    host = record.get('_HOSTNAME') or ctx.host
    time = ts = clock = None
    stamp = record.get('__REALTIME_TIMESTAMP')
    if isinstance(stamp, str) and stamp.isdigit():
        ts = int(stamp) / 1e6
        time = iso_utc(ts)
        clock = 'wall'
    event = _dispatch_message(ctx, lineno, message.rstrip('\n'), time, ts, clock, host)
    if event['kind'] == 'unparsed':
        event['text'] = line
    return event


_MONITORS = ((xtables_monitor.LINE, xtables_monitor.parse_xtables_line), (nft_monitor.LINE, nft_monitor.parse_nft_line))


def _monitor_event(ctx, lineno, line, time=None, ts=None, clock=None):
    """An xtables-monitor or nft monitor line -> event; None when it is neither."""
    for pattern, parse in _MONITORS:
        m = pattern.match(line)
        if m is not None:
            return parse(ctx, lineno, line, m, time, ts, clock)
    return None


def _dispatch_message(ctx, lineno, message, time, ts, clock, host):
    """A message whose wrapper (journal record) gave time and host: monitor line or kernel message."""
    event = _monitor_event(ctx, lineno, message, time, ts, clock)
    if event is None:
        return parse_message(ctx, lineno, message, time, ts, clock, host, message)
    if host:
        event['host'] = host
    return event


def _stamped(ctx, lineno, line):
    """A monitor line with the stamper's time in front -> event with that wall-clock time."""
    stamp, _space, rest = line[1:].partition(' ')
    try:
        ts = float(stamp)
    except ValueError:
        return unparsed(lineno, line, 'time stamp %r is not a number' % stamp[:40])
    time = iso_utc(ts)
    event = _monitor_event(ctx, lineno, rest, time, ts, 'wall')
    if event is None:
        return unparsed(lineno, line, 'stamped line is not a monitor line', None, ctx.host, time, ts, 'wall')
    if event['kind'] == 'unparsed':
        event['text'] = line
    return event


def parse_line(ctx, lineno, line):
    """One input line -> one event."""
    if not isinstance(line, str):
        if isinstance(line, bytes):
            line = line.decode('utf-8', 'replace')
        else:
            return unparsed(lineno, repr(line), 'not a string')
    line = line.rstrip('\r\n')
    first = line[:1]
    if first == '[':
        return parse_kernel_line(ctx, lineno, line)
    if first == 't' and line.startswith('trace id '):
        event = _monitor_event(ctx, lineno, line)
        return event or unparsed(lineno, line, 'nft monitor line of unknown form', 'nft-monitor', ctx.host)
    if first == '@':
        return _stamped(ctx, lineno, line)
    if first == '{':
        return _journal_json(ctx, lineno, line)
    if first in (' ', 'P', 'T'):
        event = _monitor_event(ctx, lineno, line)
        if event is not None:
            return event
    if not line.strip():
        return unparsed(lineno, line, 'empty line')
    return parse_kernel_line(ctx, lineno, line)


def iter_events(lines, host=None, year=None, start=1):
    """Generator of events for an iterable of lines (line numbers from start).

    Consecutive lines of one packet with identical packet text share one packet dict: treat it as read-only.
    """
    ctx = Context(host, year)
    fast = DMESG_TRACE.match
    cache = ctx.packet_cache
    lineno = start - 1
    for line in lines:
        lineno += 1
        # The hot path, inline (it is most of a legacy capture): a dmesg TRACE line. It builds exactly the event
        # that parse_line would (the unit tests compare the two on every recorded line).
        try:
            m = fast(line)
        except TypeError:  # bytes or not a string at all: parse_line says what it is
            m = None
        if m is not None:
            stamp, table, chain, kind, num = m.groups()
            text = line[m.end():]
            if text[-1:] == '\n':
                text = text.rstrip('\r\n')
            entry = cache.get(text) or packet_entry(ctx, text)
            yield make_event(lineno, 'kernel', kind, host, stamp, float(stamp), 'boot', table, chain, int(num), None,
                             None, None, None, entry[1], None, None, entry[0])
        else:
            yield parse_line(ctx, lineno, line)


def parse_trace(data, host=None, year=None):
    """Lines (a list, or one string holding many) -> list of events."""
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    if isinstance(data, str):
        data = data.splitlines()
    with gc_paused():
        return list(iter_events(data, host=host, year=year))
