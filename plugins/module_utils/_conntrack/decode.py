# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fast decoder of ctnetlink conntrack messages: the hot path of every dump.

A general netlink library builds an object per attribute; on a table of a million entries that costs minutes.
This decoder walks the attributes with precompiled structs straight into the plain dicts the module returns,
touching each byte once. Tuples take a fast path for the exact layout the kernel emits for IPv4/IPv6 with ports
or ICMP ids (verified on the way, never assumed), and fall back to a general walk for anything else.

Everything here is pure: bytes in, dicts out.
"""

from __future__ import annotations

import socket
import struct

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError

NLMSGHDR = struct.Struct('=IHHII')
NLA = struct.Struct('=HH')
NLA2 = struct.Struct('=HHxxxxHH')  # two consecutive 8-byte attributes' headers (address pairs)
U8 = struct.Struct('B')
BE16 = struct.Struct('>H')
BE32 = struct.Struct('>I')
BE64 = struct.Struct('>Q')
ERRNO = struct.Struct('=i')
# Proto nest for ports: NUM(u8) SRC_PORT(be16) DST_PORT(be16), each padded to 8 bytes
PORTS = struct.Struct('=HHB3xHH2sxxHH2sxx')
# Proto nest for ICMP: NUM(u8) ID(be16) TYPE(u8) CODE(u8)
ICMP = struct.Struct('=HHB3xHH2sxxHHB3xHHB3x')

NESTED_IP4 = (8, C.CTA_IP_V4_SRC, 8, C.CTA_IP_V4_DST)
NESTED_IP6 = (20, C.CTA_IP_V6_SRC, 20, C.CTA_IP_V6_DST)
PORT_HDRS = (5, C.CTA_PROTO_NUM, 6, C.CTA_PROTO_SRC_PORT, 6, C.CTA_PROTO_DST_PORT)
ICMP4_HDRS = (5, C.CTA_PROTO_NUM, 6, C.CTA_PROTO_ICMP_ID, 5, C.CTA_PROTO_ICMP_TYPE, 5, C.CTA_PROTO_ICMP_CODE)
ICMP6_HDRS = (5, C.CTA_PROTO_NUM, 6, C.CTA_PROTO_ICMPV6_ID, 5, C.CTA_PROTO_ICMPV6_TYPE, 5, C.CTA_PROTO_ICMPV6_CODE)
MASK = C.NLA_TYPE_MASK

STATUS_NAMES = tuple(name for name, _bit in C.STATUS_BITS)
_STATUS_CACHE = {}


class DecodeError(ConntrackError):
    """The bytes are not a well-formed ctnetlink message (a NetdebugError: the capture's collect step turns it into a
    problem line of the host's conntrack part instead of failing the host)."""


def status_names(value):
    """Status bit names in bit order, as a tuple shared by all entries with this status word (a table has only a
    handful of distinct ones; sharing saves a list per entry)."""
    names = _STATUS_CACHE.get(value)
    if names is None:
        names = tuple(STATUS_NAMES[bit] if bit < len(STATUS_NAMES) else 'BIT_%d' % bit
                      for bit in range(32) if value & (1 << bit))
        _STATUS_CACHE[value] = names
    return names


class AddressCache:
    """Text forms of addresses, cached: real tables repeat a few addresses many times."""

    def __init__(self, limit=65536):
        self.v4 = {}
        self.v6 = {}
        self.limit = limit

    def ip4(self, raw):
        text = self.v4.get(raw)
        if text is None:
            text = socket.inet_ntop(socket.AF_INET, raw)
            if len(self.v4) < self.limit:
                self.v4[raw] = text
        return text

    def ip6(self, raw):
        text = self.v6.get(raw)
        if text is None:
            text = socket.inet_ntop(socket.AF_INET6, raw)
            if len(self.v6) < self.limit:
                self.v6[raw] = text
        return text


def _walk(buf, off, end):
    """Yield (type, payload offset, payload end) of the attributes in buf[off:end]."""
    while off + 4 <= end:
        alen, atype = NLA.unpack_from(buf, off)
        if alen < 4 or off + alen > end:
            raise DecodeError('attribute of length %d at offset %d overruns its container' % (alen, off))
        yield atype & MASK, off + 4, off + alen
        off += (alen + 3) & ~3


def _ip_general(buf, off, end, tup, cache):
    for atype, start, stop in _walk(buf, off, end):
        raw = bytes(buf[start:stop])
        if atype == C.CTA_IP_V4_SRC:
            tup['source'] = cache.ip4(raw)
        elif atype == C.CTA_IP_V4_DST:
            tup['destination'] = cache.ip4(raw)
        elif atype == C.CTA_IP_V6_SRC:
            tup['source'] = cache.ip6(raw)
        elif atype == C.CTA_IP_V6_DST:
            tup['destination'] = cache.ip6(raw)


def _proto_general(buf, off, end, tup):
    protonum = None
    for atype, start, _stop in _walk(buf, off, end):
        if atype == C.CTA_PROTO_NUM:
            protonum = buf[start]
        elif atype == C.CTA_PROTO_SRC_PORT:
            tup['source_port'] = BE16.unpack_from(buf, start)[0]
        elif atype == C.CTA_PROTO_DST_PORT:
            tup['destination_port'] = BE16.unpack_from(buf, start)[0]
        elif atype in (C.CTA_PROTO_ICMP_ID, C.CTA_PROTO_ICMPV6_ID):
            tup['icmp_id'] = BE16.unpack_from(buf, start)[0]
        elif atype in (C.CTA_PROTO_ICMP_TYPE, C.CTA_PROTO_ICMPV6_TYPE):
            tup['icmp_type'] = buf[start]
        elif atype in (C.CTA_PROTO_ICMP_CODE, C.CTA_PROTO_ICMPV6_CODE):
            tup['icmp_code'] = buf[start]
    return protonum


def decode_tuple(buf, off, end, cache):
    """One CTA_TUPLE_* payload -> (tuple dict, protocol number, tuple zone or None)."""
    tup = {}
    protonum = None
    zone = None
    while off + 4 <= end:
        alen, atype = NLA.unpack_from(buf, off)
        if alen < 4 or off + alen > end:
            raise DecodeError('tuple attribute of length %d at offset %d overruns its container' % (alen, off))
        atype &= MASK
        if atype == C.CTA_TUPLE_IP:
            if alen == 20 and NLA2.unpack_from(buf, off + 4) == NESTED_IP4:
                tup['source'] = cache.ip4(bytes(buf[off + 8:off + 12]))
                tup['destination'] = cache.ip4(bytes(buf[off + 16:off + 20]))
            elif alen == 44 and NLA2.unpack_from(buf, off + 4)[:2] == NESTED_IP6[:2] and \
                    NLA.unpack_from(buf, off + 24) == NESTED_IP6[2:]:
                tup['source'] = cache.ip6(bytes(buf[off + 8:off + 24]))
                tup['destination'] = cache.ip6(bytes(buf[off + 28:off + 44]))
            else:
                _ip_general(buf, off + 4, off + alen, tup, cache)
        elif atype == C.CTA_TUPLE_PROTO:
            protonum = None
            if alen == 28:
                fields = PORTS.unpack_from(buf, off + 4)
                if fields[0:2] == PORT_HDRS[0:2] and fields[3:5] == PORT_HDRS[2:4] and \
                        fields[6:8] == PORT_HDRS[4:6]:
                    protonum = fields[2]
                    tup['source_port'] = BE16.unpack(fields[5])[0]
                    tup['destination_port'] = BE16.unpack(fields[8])[0]
            elif alen == 36:
                fields = ICMP.unpack_from(buf, off + 4)
                hdrs = fields[0:2] + fields[3:5] + fields[6:8] + fields[9:11]
                if hdrs in (ICMP4_HDRS, ICMP6_HDRS):
                    protonum = fields[2]
                    tup['icmp_type'] = fields[8]
                    tup['icmp_code'] = fields[11]
                    tup['icmp_id'] = BE16.unpack(fields[5])[0]
            if protonum is None:
                protonum = _proto_general(buf, off + 4, off + alen, tup)
        elif atype == C.CTA_TUPLE_ZONE:
            zone = BE16.unpack_from(buf, off + 4)[0]
        off += (alen + 3) & ~3
    return tup, protonum, zone


STATE_NAMES = {C.CTA_PROTOINFO_TCP: C.TCP_STATES, C.CTA_PROTOINFO_SCTP: C.SCTP_STATES,
               C.CTA_PROTOINFO_DCCP: C.DCCP_STATES}


def _protoinfo(buf, off, end, entry):
    for atype, start, stop in _walk(buf, off, end):
        names = STATE_NAMES.get(atype)
        if names is None:
            continue
        for itype, istart, _istop in _walk(buf, start, stop):
            if itype == C.CTA_PROTOINFO_STATE:
                state = buf[istart]
                entry['state'] = names[state] if state < len(names) else str(state)


def _counters(buf, off, end):
    counters = {}
    for atype, start, _stop in _walk(buf, off, end):
        if atype == C.CTA_COUNTERS_PACKETS:
            counters['packets'] = BE64.unpack_from(buf, start)[0]
        elif atype == C.CTA_COUNTERS_BYTES:
            counters['bytes'] = BE64.unpack_from(buf, start)[0]
        elif atype == C.CTA_COUNTERS32_PACKETS:
            counters['packets'] = BE32.unpack_from(buf, start)[0]
        elif atype == C.CTA_COUNTERS32_BYTES:
            counters['bytes'] = BE32.unpack_from(buf, start)[0]
    return counters


def _string(buf, off, end, want):
    for atype, start, stop in _walk(buf, off, end):
        if atype == want:
            return bytes(buf[start:stop]).split(b'\0', 1)[0].decode('utf-8', 'replace')
    return None


def _timestamp(buf, off, end):
    stamp = {}
    for atype, start, _stop in _walk(buf, off, end):
        if atype == C.CTA_TIMESTAMP_START:
            stamp['start'] = BE64.unpack_from(buf, start)[0]
        elif atype == C.CTA_TIMESTAMP_STOP:
            stamp['stop'] = BE64.unpack_from(buf, start)[0]
    return stamp


def decode_entry(buf, off, end, cache, keep_raw=False):
    """Decode one conntrack message (off = start of its nlmsghdr) into the entry dict the module returns.

    With keep_raw, the entry also carries '_raw_orig': the kernel's own CTA_TUPLE_ORIG attribute bytes, which a
    delete request echoes back so that it names exactly the entry that was seen.
    """
    family = buf[off + 16]
    entry = {'family': C.FAMILY_NAMES.get(family, str(family))}
    pos = off + 20
    zone = None
    tuple_zones = [None, None]
    protonum = None
    while pos + 4 <= end:
        alen, atype = NLA.unpack_from(buf, pos)
        if alen < 4 or pos + alen > end:
            raise DecodeError('attribute of length %d at offset %d overruns the message' % (alen, pos - off))
        atype &= MASK
        start = pos + 4
        stop = pos + alen
        if atype == C.CTA_TUPLE_ORIG:
            entry['original'], protonum, tuple_zones[0] = decode_tuple(buf, start, stop, cache)
            if keep_raw:
                entry['_raw_orig'] = bytes(buf[pos:stop])
                entry['_raw_orig_zoned'] = tuple_zones[0] is not None
        elif atype == C.CTA_TUPLE_REPLY:
            entry['reply'], _num, tuple_zones[1] = decode_tuple(buf, start, stop, cache)
        elif atype == C.CTA_STATUS:
            entry['status'] = status_names(BE32.unpack_from(buf, start)[0])
        elif atype == C.CTA_MARK:
            entry['mark'] = BE32.unpack_from(buf, start)[0]
        elif atype == C.CTA_ID:
            entry['id'] = BE32.unpack_from(buf, start)[0]
        elif atype == C.CTA_TIMEOUT:
            entry['timeout'] = BE32.unpack_from(buf, start)[0]
        elif atype == C.CTA_USE:
            entry['use'] = BE32.unpack_from(buf, start)[0]
        elif atype == C.CTA_PROTOINFO:
            _protoinfo(buf, start, stop, entry)
        elif atype == C.CTA_ZONE:
            zone = BE16.unpack_from(buf, start)[0]
        elif atype == C.CTA_COUNTERS_ORIG:
            entry.setdefault('counters', {})['original'] = _counters(buf, start, stop)
        elif atype == C.CTA_COUNTERS_REPLY:
            entry.setdefault('counters', {})['reply'] = _counters(buf, start, stop)
        elif atype == C.CTA_TIMESTAMP:
            entry['timestamp'] = _timestamp(buf, start, stop)
        elif atype == C.CTA_HELP:
            entry['helper'] = _string(buf, start, stop, C.CTA_HELP_NAME)
        elif atype == C.CTA_SECCTX:
            entry['secctx'] = _string(buf, start, stop, C.CTA_SECCTX_NAME)
        elif atype == C.CTA_SECMARK:
            entry['secmark'] = BE32.unpack_from(buf, start)[0]
        elif atype == C.CTA_LABELS:
            entry['labels'] = bytes(buf[start:stop]).hex()
        pos += (alen + 3) & ~3
    entry['protocol'] = C.PROTOCOL_NAMES.get(protonum, str(protonum))
    entry['protocol_number'] = protonum
    # The zone the entry lives in: CTA_ZONE when it applies to both directions, else the directional tuple zone
    # (CT --zone-orig / --zone-reply), whose direction is then reported too.
    if zone is None and tuple_zones[0] is not None:
        zone = tuple_zones[0]
        entry['zone_direction'] = 'original'
    elif zone is None and tuple_zones[1] is not None:
        zone = tuple_zones[1]
        entry['zone_direction'] = 'reply'
    entry['zone'] = zone or 0
    entry.setdefault('mark', 0)
    return entry


def error_code(buf, off):
    """The (negative) errno of an NLMSG_ERROR message at off; 0 is an acknowledgement."""
    return ERRNO.unpack_from(buf, off + 16)[0]


def iter_messages(buf, length):
    """Yield (type, flags, seq, start, end) for each netlink message in buf[:length]."""
    off = 0
    while off + 16 <= length:
        mlen, mtype, flags, seq, _pid = NLMSGHDR.unpack_from(buf, off)
        if mlen < 16 or off + mlen > length:
            raise DecodeError('netlink message of length %d at offset %d overruns the datagram' % (mlen, off))
        yield mtype, flags, seq, off, off + mlen
        off += (mlen + 3) & ~3


def nested_u32(buf, off, end):
    """Attributes of a flat message body holding only be32 values (the stats replies) -> {type: value}."""
    values = {}
    for atype, start, stop in _walk(buf, off, end):
        if stop - start == 4:
            values[atype] = BE32.unpack_from(buf, start)[0]
    return values
