# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`xtables-monitor --trace` lines (iptables-nft TRACE).

  PACKET: 2 0c87760e IN=ndt2 MACSRC=.. MACDST=.. MACPROTO=0800 SRC=.. DST=.. LEN=84 TOS=0x0 TTL=64 ID=24365 DF
   TRACE: 2 0c87760e raw:PREROUTING:rule:0x3:CONTINUE  -4 -t raw -A PREROUTING -s 198.18.200.1/32 -j TRACE
   TRACE: 2 0c87760e filter:INPUT:rule:0x9:JUMP:app-check  -4 -t filter -A INPUT -j app-check
   TRACE: 2 0c87760e filter:app-check:rule:0xe:0xfffffffb  -4 -t filter -A app-check -p icmp -j RETURN
   TRACE: 2 0c87760e filter:INPUT:policy:DROP
   TRACE: 2 fc475095 raw:PREROUTING:return:

The number is the table's NFPROTO family, the hex word the trace id (the kernel reuses it for later packets),
the rule handle is hex, and the verdict is a name or a raw nf_tables verdict code (0xfffffffb is RETURN).
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.events import (
    NFPROTO, VERDICTS, make_event, unparsed,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.fields import parse_fields

LINE = re.compile(r'\s*(PACKET|TRACE): (\d+) ([0-9a-fA-F]+) ')
_STEP = re.compile(r'(\w+):(\S+?):(rule|return|policy):(\S*)')
_RULE = re.compile(r'(0x[0-9a-fA-F]+|\d+):([^\s:]+)(?::(\S+))?$')
# xtables-monitor prints a rule with its family and table first ('-4 -t filter -A INPUT ...'); the step has both, so
# the rule reads as iptables-save and the legacy backend print it ('-A INPUT ...').
_FAMILY_TABLE = re.compile(r'^-[46] -t \S+ ')


def parse_xtables_line(ctx, lineno, line, m, time=None, ts=None, clock=None):
    """m is LINE's match on line."""
    what, family_num, trace_id = m.groups()
    family = NFPROTO.get(family_num, family_num)
    host = ctx.host
    rest = line[m.end():]
    if what == 'PACKET':
        text = rest.strip() + ' '
        return make_event(lineno, 'xtables-monitor', 'packet', host=host, time=time, ts=ts, clock=clock,
                          trace_id=trace_id, family=family, packet=parse_fields(text))
    step = _STEP.match(rest)
    if step is None:
        return unparsed(lineno, line, 'TRACE line without table:chain:type', 'xtables-monitor', host, time, ts, clock)
    table, chain, kind, detail = step.groups()
    rule = _FAMILY_TABLE.sub('', rest[step.end():].strip()) or None
    handle = verdict = target_chain = None
    if kind == 'rule':
        parts = _RULE.match(detail)
        if parts is None:
            return unparsed(lineno, line, 'rule step without handle:verdict', 'xtables-monitor', host, time, ts,
                            clock)
        handle = int(parts.group(1), 0)
        verdict = VERDICTS.get(parts.group(2), parts.group(2).lower())
        target_chain = parts.group(3)
    elif detail:
        verdict = VERDICTS.get(detail, detail.lower())
    return make_event(lineno, 'xtables-monitor', kind, host=host, time=time, ts=ts, clock=clock, table=table,
                      chain=chain, handle=handle, verdict=verdict, target_chain=target_chain, trace_id=trace_id,
                      family=family, rule=rule)
