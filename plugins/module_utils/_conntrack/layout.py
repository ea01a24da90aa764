# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Layout-cached decoding: the hot path of big dumps.

The kernel fills every entry of a dump the same way, so consecutive messages of one kind (say IPv4 UDP with
counters) share one layout: the same attributes, in the same order, at the same offsets. The first message of a
layout is walked attribute by attribute (decode.py); that walk also records where each value sits. Later messages
of the same length are checked against that layout - every attribute header (length and type, at every nesting
level) must be byte-identical, compared in one masked big-integer operation - and then read with ONE
precompiled struct call. Anything that does not match exactly goes through the attribute walk instead, so the
result never depends on the cache; the unit tests check both paths agree on real dumps.
"""

from __future__ import annotations

import struct

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.decode import (
    NLA, STATE_NAMES, decode_entry, status_names)

PROTOCOL_NAMES = C.PROTOCOL_NAMES
MAX_LAYOUTS_PER_LENGTH = 4
MAX_LAYOUTS = 256
FORMATS = {'u8': 'B', 'be16': 'H', 'be32': 'I', 'be64': 'Q', 'ip4': '4s', 'ip6': '16s'}
SIZES = {'u8': 1, 'be16': 2, 'be32': 4, 'be64': 8, 'ip4': 4, 'ip6': 16}
SCALARS = {C.CTA_STATUS: 'status', C.CTA_MARK: 'mark', C.CTA_ID: 'id', C.CTA_USE: 'use', C.CTA_TIMEOUT: 'timeout',
           C.CTA_SECMARK: 'secmark'}
TUPLE_VALUES = {C.CTA_PROTO_NUM: ('num', 'u8'), C.CTA_PROTO_SRC_PORT: ('source_port', 'be16'),
                C.CTA_PROTO_DST_PORT: ('destination_port', 'be16'),
                C.CTA_PROTO_ICMP_ID: ('icmp_id', 'be16'), C.CTA_PROTO_ICMP_TYPE: ('icmp_type', 'u8'),
                C.CTA_PROTO_ICMP_CODE: ('icmp_code', 'u8'), C.CTA_PROTO_ICMPV6_ID: ('icmp_id', 'be16'),
                C.CTA_PROTO_ICMPV6_TYPE: ('icmp_type', 'u8'), C.CTA_PROTO_ICMPV6_CODE: ('icmp_code', 'u8')}
IP_VALUES = {C.CTA_IP_V4_SRC: ('source', 'ip4'), C.CTA_IP_V4_DST: ('destination', 'ip4'),
             C.CTA_IP_V6_SRC: ('source', 'ip6'), C.CTA_IP_V6_DST: ('destination', 'ip6')}
TUPLE_KEYS = ('source_port', 'destination_port', 'icmp_type', 'icmp_code', 'icmp_id')


class Unsupported(Exception):
    """This message has something the layout path does not handle; the attribute walk decodes it."""


class Layout:
    """Where every value of one message shape is, how to check a message has this shape, how to read it."""

    def __init__(self, buf, off, end):
        self.length = end - off
        self.fields = []        # (name, kind, offset from message start)
        self.headers = []       # offsets of every attribute header
        self.state_names = None
        self.raw_orig = None
        self._walk_top(buf, off, end)
        self._compile(buf, off)

    # -- learning the layout --------------------------------------------------------------------------------

    def _attrs(self, buf, base, start, stop):
        pos = start
        while pos + 4 <= stop:
            alen, atype = NLA.unpack_from(buf, pos)
            if alen < 4 or pos + alen > stop:
                raise Unsupported()
            self.headers.append(pos - base)
            yield atype & C.NLA_TYPE_MASK, alen, pos
            pos += (alen + 3) & ~3

    def _value(self, name, kind, alen, pos, base):
        if alen != 4 + SIZES[kind]:
            raise Unsupported()
        self.fields.append((name, kind, pos + 4 - base))

    def _walk_values(self, buf, base, start, stop, prefix, values):
        """Fields of a nested attribute whose members are all in values ({type: (name, kind)})."""
        for vtype, vlen, vpos in self._attrs(buf, base, start, stop):
            if vtype not in values:
                raise Unsupported()
            name, kind = values[vtype]
            self._value(prefix + name, kind, vlen, vpos, base)

    def _walk_tuple(self, buf, base, start, stop, prefix):
        for atype, alen, pos in self._attrs(buf, base, start, stop):
            if atype == C.CTA_TUPLE_IP:
                self._walk_values(buf, base, pos + 4, pos + alen, prefix, IP_VALUES)
            elif atype == C.CTA_TUPLE_PROTO:
                self._walk_values(buf, base, pos + 4, pos + alen, prefix, TUPLE_VALUES)
            elif atype == C.CTA_TUPLE_ZONE:
                self._value(prefix + 'zone', 'be16', alen, pos, base)
            else:
                raise Unsupported()

    def _walk_top(self, buf, off, end):
        for atype, alen, pos in self._attrs(buf, off, off + 20, end):
            if atype in (C.CTA_TUPLE_ORIG, C.CTA_TUPLE_REPLY):
                prefix = 'o_' if atype == C.CTA_TUPLE_ORIG else 'r_'
                if atype == C.CTA_TUPLE_ORIG:
                    self.raw_orig = (pos - off, pos - off + alen)
                self._walk_tuple(buf, off, pos + 4, pos + alen, prefix)
            elif atype in SCALARS:
                self._value(SCALARS[atype], 'be32', alen, pos, off)
            elif atype == C.CTA_ZONE:
                self._value('zone', 'be16', alen, pos, off)
            elif atype == C.CTA_PROTOINFO:
                self._walk_protoinfo(buf, off, pos, alen)
            elif atype in (C.CTA_COUNTERS_ORIG, C.CTA_COUNTERS_REPLY):
                prefix = 'co_' if atype == C.CTA_COUNTERS_ORIG else 'cr_'
                for ctype, clen, cpos in self._attrs(buf, off, pos + 4, pos + alen):
                    if ctype in (C.CTA_COUNTERS_PACKETS, C.CTA_COUNTERS_BYTES):
                        kind = 'be64'
                    elif ctype in (C.CTA_COUNTERS32_PACKETS, C.CTA_COUNTERS32_BYTES):
                        kind = 'be32'
                    else:
                        continue  # padding
                    name = 'packets' if ctype in (C.CTA_COUNTERS_PACKETS, C.CTA_COUNTERS32_PACKETS) else 'bytes'
                    self._value(prefix + name, kind, clen, cpos, off)
            elif atype == C.CTA_TIMESTAMP:
                for ttype, tlen, tpos in self._attrs(buf, off, pos + 4, pos + alen):
                    if ttype in (C.CTA_TIMESTAMP_START, C.CTA_TIMESTAMP_STOP):
                        name = 'ts_start' if ttype == C.CTA_TIMESTAMP_START else 'ts_stop'
                        self._value(name, 'be64', tlen, tpos, off)
            elif atype in (C.CTA_HELP, C.CTA_SECCTX, C.CTA_LABELS):
                raise Unsupported()  # rare and variable: the attribute walk handles them
            # anything else (NAT sequence adjustments, synproxy, master tuple...) is not reported by either path

    def _walk_protoinfo(self, buf, off, pos, alen):
        for ptype, plen, ppos in self._attrs(buf, off, pos + 4, pos + alen):
            names = STATE_NAMES.get(ptype)
            if names is None:
                continue
            # only the state is reported; the other members' headers still belong to the layout
            for stype, slen, spos in self._attrs(buf, off, ppos + 4, ppos + plen):
                if stype == C.CTA_PROTOINFO_STATE:
                    self.state_names = names
                    self._value('state', 'u8', slen, spos, off)

    # -- compiling it ---------------------------------------------------------------------------------------

    def _compile(self, buf, off):
        fields = sorted(self.fields, key=lambda field: field[2])
        fmt = ['>']
        pos = 0
        self.index = {}
        for number, (name, kind, at) in enumerate(fields):
            if at < pos:
                raise Unsupported()
            fmt.append('%dx%s' % (at - pos, FORMATS[kind]) if at > pos else FORMATS[kind])
            pos = at + SIZES[kind]
            self.index[name] = number
        self.values = struct.Struct(''.join(fmt))
        mask = bytearray(self.length)
        for at in self.headers:
            mask[at:at + 4] = b'\xff\xff\xff\xff'
        mask[0:6] = b'\xff' * 6          # nlmsg_len and nlmsg_type
        mask[16] = 0xFF                  # nfgen_family
        self.mask = int.from_bytes(mask, 'little')
        self.expected = int.from_bytes(bytes(buf[off:off + self.length]), 'little') & self.mask
        self.family = C.FAMILY_NAMES.get(buf[off + 16], str(buf[off + 16]))
        self.ip6 = any(kind == 'ip6' for _n, kind, _a in fields)
        index = self.index
        for prefix in ('o_', 'r_'):
            if prefix + 'source' not in index or prefix + 'destination' not in index or prefix + 'num' not in index:
                raise Unsupported()
        self.tuple_keys = tuple(key for key in TUPLE_KEYS if 'o_' + key in index)
        if self.tuple_keys != tuple(key for key in TUPLE_KEYS if 'r_' + key in index):
            raise Unsupported()
        get = index.get
        self.plan = (
            index['o_source'], index['o_destination'], tuple(index['o_' + key] for key in self.tuple_keys),
            index['r_source'], index['r_destination'], tuple(index['r_' + key] for key in self.tuple_keys),
            index['o_num'], get('status'), get('mark'), get('id'), get('use'), get('timeout'), get('state'),
            get('zone'), get('o_zone'), get('r_zone'),
            tuple((direction, tuple((key, index[prefix + key]) for key in ('packets', 'bytes')
                                    if prefix + key in index))
                  for direction, prefix in (('original', 'co_'), ('reply', 'cr_'))
                  if prefix + 'packets' in index or prefix + 'bytes' in index),
            tuple((key, index['ts_' + key]) for key in ('start', 'stop') if 'ts_' + key in index),
        )
        self.scalars = tuple((key, index[key]) for key in ('id', 'use', 'timeout') if key in index)
        self.secmark = index.get('secmark')
        counter_keys = ('co_packets', 'co_bytes', 'cr_packets', 'cr_bytes')
        self.counters4 = tuple(index[key] for key in counter_keys) if all(k in index for k in counter_keys) else None
        self.complete = all(key in index for key in ('status', 'mark', 'id', 'use', 'timeout'))

    # -- using it -------------------------------------------------------------------------------------------

    def matches(self, buf, off):
        return int.from_bytes(buf[off:off + self.length], 'little') & self.mask == self.expected

    def build(self, buf, off, cache, keep_raw):
        v = self.values.unpack_from(buf, off)
        (o_src, o_dst, o_more, r_src, r_dst, r_more, num, status, mark, ident, use, timeout, state, zone, o_zone,
         r_zone, counters, stamps) = self.plan
        known = cache.v6 if self.ip6 else cache.v4
        addr = cache.ip6 if self.ip6 else cache.ip4
        a, b, c, d = v[o_src], v[o_dst], v[r_src], v[r_dst]
        orig = {'source': known.get(a) or addr(a), 'destination': known.get(b) or addr(b)}
        reply = {'source': known.get(c) or addr(c), 'destination': known.get(d) or addr(d)}
        if len(o_more) == 2:  # ports
            orig['source_port'] = v[o_more[0]]
            orig['destination_port'] = v[o_more[1]]
            reply['source_port'] = v[r_more[0]]
            reply['destination_port'] = v[r_more[1]]
        else:
            for key, o_i, r_i in zip(self.tuple_keys, o_more, r_more):
                orig[key] = v[o_i]
                reply[key] = v[r_i]
        protonum = v[num]
        if self.complete:  # every dumped entry: one dict display, sized once
            entry = {'family': self.family, 'original': orig, 'reply': reply,
                     'protocol': PROTOCOL_NAMES.get(protonum) or str(protonum), 'protocol_number': protonum,
                     'mark': v[mark], 'zone': 0, 'status': status_names(v[status]), 'id': v[ident], 'use': v[use],
                     'timeout': v[timeout]}
        else:  # events lack some of them
            entry = {'family': self.family, 'original': orig, 'reply': reply,
                     'protocol': PROTOCOL_NAMES.get(protonum) or str(protonum), 'protocol_number': protonum,
                     'mark': 0 if mark is None else v[mark], 'zone': 0}
            if status is not None:
                entry['status'] = status_names(v[status])
            for key, i in self.scalars:
                entry[key] = v[i]
        if state is not None:
            names = self.state_names
            entry['state'] = names[v[state]] if v[state] < len(names) else str(v[state])
        if counters:
            if self.counters4:  # both directions, packets and bytes: the usual shape
                cop, cob, crp, crb = self.counters4
                entry['counters'] = {'original': {'packets': v[cop], 'bytes': v[cob]},
                                     'reply': {'packets': v[crp], 'bytes': v[crb]}}
            else:
                entry['counters'] = dict((direction, dict((key, v[i]) for key, i in fields))
                                         for direction, fields in counters)
        if stamps:
            entry['timestamp'] = dict((key, v[i]) for key, i in stamps) if len(stamps) > 1 else \
                {stamps[0][0]: v[stamps[0][1]]}
        if zone is not None:
            entry['zone'] = v[zone]
        elif o_zone is not None:
            entry['zone'] = v[o_zone]
            entry['zone_direction'] = 'original'
        elif r_zone is not None:
            entry['zone'] = v[r_zone]
            entry['zone_direction'] = 'reply'
        if self.secmark is not None:
            entry['secmark'] = v[self.secmark]
        if keep_raw:
            entry['_raw_orig'] = bytes(buf[off + self.raw_orig[0]:off + self.raw_orig[1]])
            entry['_raw_orig_zoned'] = o_zone is not None
        return entry


class FastDecoder:
    """decode(buf, off, end) -> entry, through a cached layout when the message has a known one."""

    def __init__(self, cache):
        self.cache = cache
        self.layouts = {}
        self.failures = {}  # message length -> layouts that could not be learnt (helpers, labels, ...)
        self.fast = 0
        self.slow = 0

    def decode(self, buf, off, end, keep_raw=False):
        length = end - off
        for layout in self.layouts.get(length, ()):
            if layout.matches(buf, off):
                self.fast += 1
                return layout.build(buf, off, self.cache, keep_raw)
        entry = decode_entry(buf, off, end, self.cache, keep_raw)
        self.slow += 1
        self._learn(buf, off, end, length)
        return entry

    def decode_raw(self, buf, off, end):
        """decode() keeping each entry's CTA_TUPLE_ORIG bytes (for delete requests)."""
        return self.decode(buf, off, end, True)

    def _learn(self, buf, off, end, length):
        known = self.layouts.setdefault(length, [])
        if len(known) >= MAX_LAYOUTS_PER_LENGTH or len(self.layouts) > MAX_LAYOUTS or \
                self.failures.get(length, 0) >= MAX_LAYOUTS_PER_LENGTH:
            return  # stop paying for a second walk of shapes the layout path does not take
        try:
            known.insert(0, Layout(buf, off, end))
        except (Unsupported, struct.error):
            self.failures[length] = self.failures.get(length, 0) + 1
