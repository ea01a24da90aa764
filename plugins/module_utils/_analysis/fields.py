# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packet fields of netfilter log text: the kernel's nf_log KEY=VALUE format and xtables-monitor PACKET lines.

Output keys (present only when the text carries them): in, out, physin, physout, mac, mac_src, mac_dst, mac_proto,
src, dst, len, tos, prec, ttl, ip_id, flags, frag, ip_options, tc, hoplimit, flowlabel, proto, sport, dport, l4_len,
tcp_seq, tcp_ack, tcp_window, tcp_res, tcp_flags, tcp_urgp, tcp_options, icmp_type, icmp_code, icmp_id, icmp_seq,
mtu, gateway, icmp_parameter, spi, uid, gid, mark, inner (the packet quoted in an ICMP error), extra (bare tokens
not understood). Other KEY=VALUE fields are kept under their lower-cased key as strings.
"""

from __future__ import annotations

import ipaddress
import re

IP_FLAGS = frozenset(('CE', 'DF', 'MF'))
TCP_FLAGS = frozenset(('CWR', 'ECE', 'URG', 'ACK', 'PSH', 'RST', 'SYN', 'FIN'))

# The common kernel layout (nf_log_syslog, IPv4 with TCP, UDP or ICMP echo) in one match; anything else goes
# through the general tokenizer below, which gives the same result, only slower.
_FAST_V4 = re.compile(
    r'IN=(\S*) OUT=(\S*) (?:MAC=(\S*) )?SRC=([\d.]+) DST=([\d.]+) LEN=(\d+) TOS=0x([0-9A-F]{2}) '
    r'PREC=0x([0-9A-F]{2}) TTL=(\d+) ID=(\d+) ((?:(?:CE|DF|MF) )*)PROTO=(?:'
    r'TCP SPT=(\d+) DPT=(\d+) (?:SEQ=(\d+) ACK=(\d+) )?WINDOW=(\d+) RES=0x([0-9a-f]{2}) '
    r'((?:(?:CWR|ECE|URG|ACK|PSH|RST|SYN|FIN) )*)URGP=(\d+) (?:OPT \(([0-9A-F]*)\) )?'
    r'|UDP SPT=(\d+) DPT=(\d+) LEN=(\d+) '
    r'|ICMP TYPE=(\d+) CODE=(\d+) (?:ID=(\d+) SEQ=(\d+) )?'
    r')(?:UID=(\d+) GID=(\d+) )?(?:MARK=0x([0-9a-f]+) )?$'
)

_GLUED = re.compile(r'(\d+)([A-Z]+)$')  # xtables-monitor before 1.8.7 printed "ID=38349DF"

_V6_CACHE = {}


def _addr(text):
    """IPv6 addresses as the kernel prints them (fully expanded) become the compressed form nft prints."""
    if ':' not in text:
        return text
    try:
        return _V6_CACHE[text]
    except KeyError:
        pass
    try:
        value = ipaddress.ip_address(text).compressed
    except ValueError:
        value = text
    if len(_V6_CACHE) > 4096:
        _V6_CACHE.clear()
    _V6_CACHE[text] = value
    return value


def _mac_octets(value):
    """xtables-monitor prints MACs without leading zeros (2:0:c6:12:0:1); the kernel and nft print 02:00:..."""
    parts = value.split(':')
    if len(parts) == 6 and all(1 <= len(part) <= 2 for part in parts):
        return ':'.join(part.rjust(2, '0') for part in parts).lower()
    return value


def _mac(packet, mac):
    packet['mac'] = mac
    if len(mac) == 41:  # destination, source, ethertype: the Ethernet header as nf_log prints it
        packet['mac_dst'] = mac[:17]
        packet['mac_src'] = mac[18:35]
        packet['mac_proto'] = mac[36:38] + mac[39:41]


_HEX2 = {'%02X' % i: i for i in range(256)}  # TOS and PREC as the kernel prints them: a lookup beats int(x, 16)
_HEX2.update(('%02x' % i, i) for i in range(256))


def _fast(text):
    m = _FAST_V4.match(text)
    if m is None:
        return None
    (inp, out, mac, src, dst, length, tos, prec, ttl, ip_id, flags, tcp_sport, tcp_dport, tcp_seq, tcp_ack, window,
     res, tcp_flags, urgp, tcp_options, udp_sport, udp_dport, udp_len, icmp_type, icmp_code, icmp_id, icmp_seq, uid,
     gid, mark) = m.groups()
    p = {}
    if inp:
        p['in'] = inp
    if out:
        p['out'] = out
    if mac:
        _mac(p, mac)
    p['src'] = src
    p['dst'] = dst
    p['len'] = int(length)
    p['tos'] = _HEX2[tos]
    p['prec'] = _HEX2[prec]
    p['ttl'] = int(ttl)
    p['ip_id'] = int(ip_id)
    if flags:
        p['flags'] = flags.split()
    if tcp_sport is not None:
        p['proto'] = 'tcp'
        p['sport'] = int(tcp_sport)
        p['dport'] = int(tcp_dport)
        if tcp_seq is not None:
            p['tcp_seq'] = int(tcp_seq)
            p['tcp_ack'] = int(tcp_ack)
        p['tcp_window'] = int(window)
        p['tcp_res'] = _HEX2[res]
        if tcp_flags:
            p['tcp_flags'] = tcp_flags.split()
        p['tcp_urgp'] = int(urgp)
        if tcp_options is not None:
            p['tcp_options'] = tcp_options
    elif udp_sport is not None:
        p['proto'] = 'udp'
        p['sport'] = int(udp_sport)
        p['dport'] = int(udp_dport)
        p['l4_len'] = int(udp_len)
    else:
        p['proto'] = 'icmp'
        p['icmp_type'] = int(icmp_type)
        p['icmp_code'] = int(icmp_code)
        if icmp_id is not None:
            p['icmp_id'] = int(icmp_id)
            p['icmp_seq'] = int(icmp_seq)
    if uid is not None:
        p['uid'] = int(uid)
        p['gid'] = int(gid)
    if mark is not None:
        p['mark'] = int(mark, 16)
    return p


def _int(value):
    try:
        return int(value)
    except ValueError:
        return value


def _hex(value):
    try:
        return int(value, 16)
    except ValueError:
        return value


# KEY -> (name before PROTO=, name after PROTO=, conversion)
_KEYS = {
    'IN': ('in', 'in', None),
    'OUT': ('out', 'out', None),
    'PHYSIN': ('physin', 'physin', None),
    'PHYSOUT': ('physout', 'physout', None),
    'MACSRC': ('mac_src', 'mac_src', _mac_octets),
    'MACDST': ('mac_dst', 'mac_dst', _mac_octets),
    'MACPROTO': ('mac_proto', 'mac_proto', None),
    'SRC': ('src', 'src', _addr),
    'DST': ('dst', 'dst', _addr),
    'LEN': ('len', 'l4_len', _int),
    'TOS': ('tos', 'tos', _hex),
    'PREC': ('prec', 'prec', _hex),
    'TTL': ('ttl', 'ttl', _int),
    'TC': ('tc', 'tc', _int),
    'HOPLIMIT': ('hoplimit', 'hoplimit', _int),
    'FLOWLBL': ('flowlabel', 'flowlabel', _int),
    'SPT': ('sport', 'sport', _int),
    'DPT': ('dport', 'dport', _int),
    'SPORT': ('sport', 'sport', _int),
    'DPORT': ('dport', 'dport', _int),
    'ACK': ('tcp_ack', 'tcp_ack', _int),
    'WINDOW': ('tcp_window', 'tcp_window', _int),
    'RES': ('tcp_res', 'tcp_res', _hex),
    'URGP': ('tcp_urgp', 'tcp_urgp', _int),
    'TYPE': ('icmp_type', 'icmp_type', _int),
    'CODE': ('icmp_code', 'icmp_code', _int),
    'MTU': ('mtu', 'mtu', _int),
    'GATEWAY': ('gateway', 'gateway', None),
    'PARAMETER': ('icmp_parameter', 'icmp_parameter', _int),
    'POINTER': ('icmp_parameter', 'icmp_parameter', _hex),
    'SPI': ('spi', 'spi', _hex),
    'UID': ('uid', 'uid', _int),
    'GID': ('gid', 'gid', _int),
    'MARK': ('mark', 'mark', _hex),
}


def _split_inner(text):
    """ICMP errors quote the offending packet in brackets; INCOMPLETE [N bytes] uses brackets too."""
    start = text.find('[')
    if start < 0:
        return text, None
    end = text.rfind(']')
    if end < start:
        return text, None
    inner = text[start + 1:end]
    if not inner.startswith('SRC='):
        return text, None
    return text[:start] + text[end + 1:], inner


def _general(text):
    p = {}
    text, inner = _split_inner(text)
    if inner is not None:
        p['inner'] = _general(inner)
    tokens = text.split()
    after_proto = False
    proto = None
    flags = []
    tcp_flags = []
    extra = []
    i = 0
    count = len(tokens)
    while i < count:
        tok = tokens[i]
        i += 1
        key, sep, value = tok.partition('=')
        if sep:
            if key == 'ID':
                glued = _GLUED.match(value)
                if glued:  # "ID=38349DF": the flag follows without a space
                    value = glued.group(1)
                    flag = glued.group(2)
                    (flags if flag in IP_FLAGS else extra).append(flag)
                if after_proto:
                    p['icmp_id'] = _int(value)
                else:
                    p['ip_id'] = _int(value)
            elif key == 'SEQ':
                p['tcp_seq' if proto == 'tcp' else 'icmp_seq'] = _int(value)
            elif key == 'PROTO':
                after_proto = True
                proto = value.lower()
                p['proto'] = proto
            elif key == 'MAC':
                if value:
                    _mac(p, value)
            elif key in _KEYS:
                before, after, conv = _KEYS[key]
                if value:
                    p[after if after_proto else before] = conv(value) if conv else value
            elif key:
                p[key.lower()] = value
            else:
                extra.append(tok)
        elif tok in IP_FLAGS and not after_proto:
            flags.append(tok)
        elif tok in TCP_FLAGS:
            tcp_flags.append(tok)
        elif tok == 'OPT' and i < count and tokens[i].startswith('('):
            p['tcp_options' if proto == 'tcp' else 'ip_options'] = tokens[i].strip('()')
            i += 1
        elif tok.startswith('FRAG:'):
            p['frag'] = _int(tok[5:])
        else:
            extra.append(tok)
    if flags:
        p['flags'] = flags
    if tcp_flags:
        p['tcp_flags'] = tcp_flags
        if 'proto' not in p:
            p['proto'] = 'tcp'
    if extra:
        p['extra'] = extra
    return p


def parse_fields(text):
    """Packet dict from the KEY=VALUE part of a kernel log line or an xtables-monitor PACKET line.

    The text must end with a space, as the kernel writes it (callers add one when a logger stripped it).
    """
    packet = _fast(text)
    if packet is None:
        packet = _general(text)
    return packet


def parse_fields_general(text):
    """The general tokenizer alone (the fast path must agree with it; the tests check that)."""
    return _general(text)
