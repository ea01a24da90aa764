# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event dict that parse_trace returns for every input line.

Every event has all of FIELDS (None when the line does not carry the value); an unparsed event also has `text`
(the line) and `error` (why it was not understood).
"""

from __future__ import annotations

FORMATS = ('kernel', 'xtables-monitor', 'nft-monitor')
KINDS = ('rule', 'return', 'policy', 'packet', 'log', 'unparsed')
FIELDS = (
    'line',          # 1-based index of the input line
    'format',        # kernel, xtables-monitor, nft-monitor (None for unparsed lines of unknown form)
    'host',          # from the line (syslog, journal) or the caller's default
    'time',          # timestamp text as normalised from the line
    'ts',            # the same as float seconds (epoch for wall clocks, since boot for dmesg/kmsg)
    'clock',         # 'wall' or 'boot'
    'table',
    'chain',
    'kind',          # see KINDS
    'rulenum',       # legacy iptables rule position (kernel TRACE lines)
    'handle',        # nf_tables rule handle (monitor lines)
    'verdict',       # lower case, when the line has one (accept, drop, continue, jump, goto, return, queue)
    'target_chain',  # the chain of a jump or goto verdict
    'trace_id',      # monitor trace id (hex text)
    'family',        # netfilter family of the table: ip, ip6, inet, arp, bridge, netdev
    'prefix',        # LOG prefix (log lines)
    'rule',          # rule text when the line carries it
    'packet',        # packet fields, see fields.py
)

# Verdict names as monitors print them -> lower-case verdicts; hex forms are the nf_tables verdict codes that
# xtables-monitor prints raw (NFT_CONTINUE -1 ... NFT_RETURN -5).
VERDICTS = {
    'ACCEPT': 'accept', 'DROP': 'drop', 'QUEUE': 'queue', 'STOLEN': 'stolen', 'REPEAT': 'repeat', 'STOP': 'stop',
    'CONTINUE': 'continue', 'RETURN': 'return', 'JUMP': 'jump', 'GOTO': 'goto', 'BREAK': 'break',
    '0xffffffff': 'continue', '0xfffffffe': 'break', '0xfffffffd': 'jump', '0xfffffffc': 'goto',
    '0xfffffffb': 'return',
}

# xtables-monitor prints the NFPROTO number of the table.
NFPROTO = {'0': None, '1': 'inet', '2': 'ip', '3': 'arp', '5': 'netdev', '7': 'bridge', '10': 'ip6'}


class EventSlots:
    """Events are the attribute dicts (``vars()``) of these objects, set in FIELDS order: such dicts share one key
    table (PEP 412), which makes an event about 40% smaller and faster to build than a dict display - it matters
    for the millions of events of a capture. They are ordinary dicts in every other way."""


def make_event(line, fmt, kind, host=None, time=None, ts=None, clock=None, table=None, chain=None, rulenum=None,
               handle=None, verdict=None, target_chain=None, trace_id=None, family=None, prefix=None, rule=None,
               packet=None):
    e = EventSlots()
    e.line = line
    e.format = fmt
    e.host = host
    e.time = time
    e.ts = ts
    e.clock = clock
    e.table = table
    e.chain = chain
    e.kind = kind
    e.rulenum = rulenum
    e.handle = handle
    e.verdict = verdict
    e.target_chain = target_chain
    e.trace_id = trace_id
    e.family = family
    e.prefix = prefix
    e.rule = rule
    e.packet = packet
    return e.__dict__


def unparsed(line, text, error, fmt=None, host=None, time=None, ts=None, clock=None):
    event = make_event(line, fmt, 'unparsed', host=host, time=time, ts=ts, clock=clock)
    event['text'] = text
    event['error'] = error
    return event


def family_of(packet):
    """ip or ip6 from the packet's source address (kernel lines do not name the family)."""
    src = packet.get('src')
    if not src:
        return None
    return 'ip6' if ':' in src else 'ip'
