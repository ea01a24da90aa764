# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`nft monitor trace` lines (native nftables nftrace, with or without -a).

  trace id b907ffe7 inet ndtrace pre packet: iif "ndt2" ether saddr .. ip saddr .. ip id 25708 ip protocol icmp ..
  trace id b907ffe7 inet ndtrace pre rule ip saddr 198.18.200.1 meta nftrace set 1 # handle 6 (verdict continue)
  trace id b907ffe7 inet ndtrace input rule jump app-check # handle 10 (verdict jump app-check)
  trace id b907ffe7 inet ndtrace pre policy accept
  trace id b907ffe7 inet ndtrace app-deep verdict continue
  trace id 32 inet t INPUT conntrack: ct direction original ct state new ct status dnat-done ct id 2641368242
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.events import make_event, unparsed

# The family is optional: abbreviated examples in the nftables sources leave it out ("trace id 32 t PRE_RAW ...").
LINE = re.compile(r'trace id ([0-9a-fA-F]+) (?:(\w+) )?(\S+) (\S+) (packet: |rule |policy |verdict |conntrack: )')
_RULE_TAIL = re.compile(r'(.*?)(?: # handle (\d+))? \(verdict (\w+)(?: (\S+))?\)\s*$')
_KV = re.compile(r'(iif|oif|iifname|oifname|iiftype|oiftype) (\S+)|(@\S+) \S+|([a-z0-9]+) ([a-z0-9-]+) (?:== )?'
                 r'(\S+(?: \| \S+)*)')

ICMP_TYPES = {
    'echo-reply': 0, 'destination-unreachable': 3, 'source-quench': 4, 'redirect': 5, 'echo-request': 8,
    'router-advertisement': 9, 'router-solicitation': 10, 'time-exceeded': 11, 'parameter-problem': 12,
    'timestamp-request': 13, 'timestamp-reply': 14, 'info-request': 15, 'info-reply': 16,
    'address-mask-request': 17, 'address-mask-reply': 18,
}
ICMP_CODES = {
    'net-unreachable': 0, 'host-unreachable': 1, 'prot-unreachable': 2, 'port-unreachable': 3, 'frag-needed': 4,
    'net-prohibited': 9, 'host-prohibited': 10, 'admin-prohibited': 13,
}
ICMPV6_TYPES = {
    'destination-unreachable': 1, 'packet-too-big': 2, 'time-exceeded': 3, 'parameter-problem': 4,
    'echo-request': 128, 'echo-reply': 129, 'mld-listener-query': 130, 'mld-listener-report': 131,
    'mld-listener-done': 132, 'nd-router-solicit': 133, 'nd-router-advert': 134, 'nd-neighbor-solicit': 135,
    'nd-neighbor-advert': 136, 'nd-redirect': 137, 'mld2-listener-report': 143,
}
ICMPV6_CODES = {
    'no-route': 0, 'admin-prohibited': 1, 'addr-unreachable': 3, 'port-unreachable': 4, 'policy-fail': 5,
    'reject-route': 6,
}
_PROTOS = {'ipv6-icmp': 'icmpv6', 'icmpv6': 'icmpv6'}
_ETHERTYPES = {'ip': '0800', 'ip6': '86dd', 'arp': '0806', 'vlan': '8100'}
_TCP_FLAG_BITS = (('FIN', 1), ('SYN', 2), ('RST', 4), ('PSH', 8), ('ACK', 16), ('URG', 32), ('ECE', 64),
                  ('CWR', 128))

# (protocol, field) -> (packet key, conversion)
_FIELDS = {
    ('ether', 'saddr'): ('mac_src', None),
    ('ether', 'daddr'): ('mac_dst', None),
    ('ip', 'saddr'): ('src', None),
    ('ip', 'daddr'): ('dst', None),
    ('ip6', 'saddr'): ('src', None),
    ('ip6', 'daddr'): ('dst', None),
    ('ip', 'id'): ('ip_id', int),
    ('ip', 'ttl'): ('ttl', int),
    ('ip', 'length'): ('len', int),
    ('ip6', 'length'): ('len', int),
    ('ip6', 'hoplimit'): ('hoplimit', int),
    ('ip6', 'flowlabel'): ('flowlabel', int),
    ('ip', 'dscp'): ('dscp', None),
    ('ip6', 'dscp'): ('dscp', None),
    ('ip', 'ecn'): ('ecn', None),
    ('ip6', 'ecn'): ('ecn', None),
    ('tcp', 'sport'): ('sport', int),
    ('tcp', 'dport'): ('dport', int),
    ('udp', 'sport'): ('sport', int),
    ('udp', 'dport'): ('dport', int),
    ('sctp', 'sport'): ('sport', int),
    ('sctp', 'dport'): ('dport', int),
    ('udp', 'length'): ('l4_len', int),
    ('tcp', 'window'): ('tcp_window', int),
    ('tcp', 'sequence'): ('tcp_seq', int),
    ('tcp', 'ackseq'): ('tcp_ack', int),
    ('icmp', 'id'): ('icmp_id', int),
    ('icmp', 'sequence'): ('icmp_seq', int),
    ('icmpv6', 'id'): ('icmp_id', int),
    ('icmpv6', 'sequence'): ('icmp_seq', int),
    ('meta', 'mark'): ('mark', lambda v: int(v, 16)),
    ('meta', 'skuid'): ('uid', int),
    ('meta', 'skgid'): ('gid', int),
}


def _tcp_flags(value):
    if value.startswith('0x'):
        bits = int(value, 16)
        return [name for name, bit in reversed(_TCP_FLAG_BITS) if bits & bit]
    return [flag.strip().upper() for flag in value.split('|') if flag.strip()]


def _field(packet, proto, field, value):
    key = (proto, field)
    if key in _FIELDS:
        name, conv = _FIELDS[key]
        try:
            packet[name] = conv(value) if conv else value
        except ValueError:
            packet[name] = value
    elif proto in ('ip', 'ip6') and field in ('protocol', 'nexthdr'):
        packet['proto'] = _PROTOS.get(value, value)
    elif proto in ('icmp', 'icmpv6') and field in ('type', 'code'):
        names = (ICMP_TYPES if field == 'type' else ICMP_CODES) if proto == 'icmp' else \
            (ICMPV6_TYPES if field == 'type' else ICMPV6_CODES)
        packet['icmp_' + field] = names.get(value, int(value) if value.isdigit() else value)
    elif proto == 'icmpv6' and field == 'parameter-problem':
        # nft 1.0.x prints an echo's id and sequence as one 32-bit "parameter-problem" number
        number = int(value) if value.isdigit() else None
        if number is not None and packet.get('icmp_type') in (128, 129):
            packet['icmp_id'], packet['icmp_seq'] = number >> 16, number & 0xffff
        else:
            packet['icmp_parameter'] = number if number is not None else value
    elif proto == 'tcp' and field == 'flags':
        packet['tcp_flags'] = _tcp_flags(value)
    elif proto == 'ether' and field == 'type':
        packet['mac_proto'] = _ETHERTYPES.get(value, value)
    elif proto == 'ct':
        packet['ct_' + field] = int(value) if value.isdigit() else value
    else:
        packet[proto + '_' + field.replace('-', '_')] = value
    if proto in ('tcp', 'udp', 'sctp', 'icmp', 'icmpv6') and 'proto' not in packet:
        packet['proto'] = proto


def parse_nft_packet(text):
    """The packet part of a `packet:` or `conntrack:` line -> packet dict."""
    packet = {}
    for m in _KV.finditer(text):
        iface, iface_value, _raw, proto, field, value = m.groups()
        if iface:
            name = {'iif': 'in', 'oif': 'out', 'iifname': 'in', 'oifname': 'out'}.get(iface, iface)
            packet[name] = iface_value.strip('"')
        elif proto:
            _field(packet, proto, field, value.strip('"'))
    return packet


def parse_nft_line(ctx, lineno, line, m, time=None, ts=None, clock=None):
    """m is LINE's match on line."""
    trace_id, family, table, chain, what = m.groups()
    host = ctx.host
    rest = line[m.end():]
    common = dict(host=host, time=time, ts=ts, clock=clock, table=table, chain=chain, trace_id=trace_id,
                  family=family)
    if what in ('packet: ', 'conntrack: '):
        return make_event(lineno, 'nft-monitor', 'packet', packet=parse_nft_packet(rest), **common)
    if what == 'rule ':
        tail = _RULE_TAIL.match(rest)
        if tail is None:
            return unparsed(lineno, line, 'rule line without (verdict ...)', 'nft-monitor', host, time, ts, clock)
        text, handle, verdict, target_chain = tail.groups()
        return make_event(lineno, 'nft-monitor', 'rule', handle=int(handle) if handle else None, verdict=verdict,
                          target_chain=target_chain, rule=text.strip() or None, **common)
    words = rest.split()
    if not words:
        return unparsed(lineno, line, 'policy or verdict line without a verdict', 'nft-monitor', host, time, ts,
                        clock)
    kind = 'policy' if what == 'policy ' else 'return'
    return make_event(lineno, 'nft-monitor', kind, verdict=words[0],
                      target_chain=words[1] if len(words) > 1 else None, **common)
