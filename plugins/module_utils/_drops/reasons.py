# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's drop reasons as the running kernel names them: the skb:kfree_skb event's format (its fields, and
the reason numbers its print fmt maps to names; the enum's order changes between kernels, so nothing here knows a
number) and the lines its trace buffer holds. Pure, stdlib only."""

from __future__ import annotations

import re

EVENT_DIR = 'events/skb/kfree_skb'
# The protocol field holds the skb's ethertype in host byte order.
ETHERTYPES = {'ipv4': 0x0800, 'ipv6': 0x86DD}
FAMILY_OF = dict((number, family) for family, number in ETHERTYPES.items())
NOT_SPECIFIED = 'NOT_SPECIFIED'
NETFILTER_DROP = 'NETFILTER_DROP'
# The reason some kernels give a packet that was used, not dropped: never a drop.
CONSUMED = 'SKB_CONSUMED'
# Kernels whose event prints the location as a plain pointer (hashed: %p, before Linux 6.3 or so) get a histogram
# trigger of their own beside it: the kernel names each (reason, protocol, location) and counts it. HIST_SIZE bounds
# the table (kernel memory); pairs past it are counted as dropped by the kernel.
HIST_SIZE = 256

_FIELD = re.compile(r'^\s*field:(?P<decl>[^;]*);', re.M)
_PRINT_FMT = re.compile(r'^print fmt: (?P<fmt>.*)$', re.M)
_SYMBOL = re.compile(r'\{\s*(?P<number>\d+)\s*,\s*"(?P<name>[A-Za-z0-9_]+)"\s*\}')
# "<task>-<pid> [<cpu>] <flags> <seconds>: kfree_skb: <fields>"; the flags column is absent on old kernels.
_LINE = re.compile(r'^\s*.+?-\d+\s+\[\d+\]\s+(?:\S+\s+)?(?P<ts>\d+\.\d+):\s+kfree_skb:\s+(?P<body>.*)$')
_HIST = re.compile(r'^\{\s*reason:\s*(?P<reason>\d+),\s*protocol:\s*(?P<protocol>\d+),\s*location:\s*\[[0-9a-fA-F]+\]\s*(?P<location>\S+)\s*\}'
                   r'\s*hitcount:\s*(?P<count>\d+)', re.M)
_MARKER = re.compile(r'^\s*.+?-\d+\s+\[\d+\]\s+(?:\S+\s+)?(?P<ts>\d+\.\d+):\s+tracing_mark_write:\s+(?P<text>.*)$', re.M)
_CLONE = re.compile(r'\.(?:constprop|isra|part|cold|llvm)(?:\.[0-9a-z]+)*$')
_KEY = re.compile(r'(?P<key>[a-z_]+)(?:=|: )(?P<value>\S+)')


class EventFormat:
    """The event's field names, {number: reason name} and whether the location prints as a symbol (%pS) or as a
    pointer that the node must look up (%p, before Linux 6.3 or so)."""

    def __init__(self, fields, reasons, symbolic_location):
        self.fields = fields
        self.reasons = reasons
        self.symbolic_location = symbolic_location

    def missing(self):
        """Why drop reasons cannot be read from this event, or None."""
        if 'reason' not in self.fields:
            return 'the skb:kfree_skb event has no reason field (Linux before 5.17)'
        if not self.reasons:
            return 'the skb:kfree_skb event does not name its reasons'
        return None

    def number(self, name):
        for number, known in self.reasons.items():
            if known == name:
                return number
        return None


def parse_format(text):
    """EventFormat of the event's tracefs format file."""
    fields = set()
    for match in _FIELD.finditer(text):
        words = match.group('decl').replace('field:', '').split()
        if words:
            fields.add(words[-1].split('[')[0])
    fmt = _PRINT_FMT.search(text)
    fmt = fmt.group('fmt') if fmt else ''
    reasons = dict((int(m.group('number')), m.group('name')) for m in _SYMBOL.finditer(fmt))
    return EventFormat(fields, reasons, 'location=%pS' in fmt)


def event_filter(event_format, families):
    """The event filter: the match's protocol families, and never a consumed packet where the kernel names one."""
    protocols = ' || '.join('protocol == %d' % ETHERTYPES[family] for family in families)
    consumed = event_format.number(CONSUMED)
    if consumed is None:
        return protocols
    return '(%s) && reason != %d' % (protocols, consumed)


def function_of(location):
    """'__udp4_lib_rcv' of '__udp4_lib_rcv+0x4bc/0xd00'; 'ip_rcv_finish_core' of the compiler's
    'ip_rcv_finish_core.constprop.0' (the name in the source, whatever the build made of it)."""
    return _CLONE.sub('', location.split('+', 1)[0])


def marker_stamps(text, marker):
    """Stamps of the trace_marker lines carrying marker, in order."""
    return [float(m.group('ts')) for m in _MARKER.finditer(text) if m.group('text').strip() == marker]


def parse_trace(text):
    """(events, unparsed lines) of the instance's trace file: each event (seconds of the trace clock, protocol
    number, location as printed, reason name)."""
    events, unparsed = [], 0
    for line in text.splitlines():
        if not line.strip() or line.startswith('#'):
            continue
        match = _LINE.match(line)
        if not match:
            unparsed += 0 if 'tracing_mark_write:' in line else 1
            continue
        values = dict((m.group('key'), m.group('value')) for m in _KEY.finditer(match.group('body')))
        try:
            protocol = int(values['protocol'])
            events.append((float(match.group('ts')), protocol, values['location'], values['reason']))
        except (KeyError, ValueError):
            unparsed += 1
    return events, unparsed


def hist_trigger(expression):
    """The histogram trigger of (reason, location) pairs, with the event's filter."""
    return 'hist:keys=reason,protocol,location.sym:vals=hitcount:size=%d if %s' % (HIST_SIZE, expression)


def parse_hist(text, reasons):
    """[(reason name, protocol number, function, count)] of the trigger's hist file; reasons: {number: name} of the
    format."""
    found = []
    for match in _HIST.finditer(text):
        number = int(match.group('reason'))
        found.append((reasons.get(number, str(number)), int(match.group('protocol')),
                      function_of(match.group('location')), int(match.group('count'))))
    return found
