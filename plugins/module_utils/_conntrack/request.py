# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request encoding: pyroute2's nfct_msg builds dump, get and stats requests, with the kernel-side filters the
running kernel (and the installed pyroute2) understand.

Delete requests are the exception: they echo the kernel's own CTA_TUPLE_ORIG bytes of a dumped entry plus its
id, so that they name exactly the entry that matched (packed here with struct, no re-encoding).
"""

from __future__ import annotations

import socket
import struct

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C

NLMSGHDR = struct.Struct('=IHHII')
NFGENMSG = struct.Struct('=BBH')
NLA_HDR = struct.Struct('=HH')


def _nla_be32(atype, value):
    return NLA_HDR.pack(8, atype) + struct.pack('>I', value)


def _nla_be16(atype, value):
    return NLA_HDR.pack(6, atype) + struct.pack('>H', value) + b'\0\0'


def pyroute2_features(nfct_msg):
    """The ctnetlink attributes this pyroute2 can encode (0.7 lacks CTA_STATUS_MASK, for one)."""
    return frozenset(name for name, _kind in nfct_msg.nla_map)


def _encode(nfct_msg, msg_type, flags, seq, family, attrs):
    msg = nfct_msg()
    msg['header']['type'] = (C.NFNL_SUBSYS_CTNETLINK << 8) | msg_type
    msg['header']['flags'] = flags
    msg['header']['sequence_number'] = seq
    msg['header']['pid'] = 0
    msg['nfgen_family'] = family
    msg['version'] = C.NFNETLINK_V0
    msg['res_id'] = 0
    msg['attrs'] = attrs
    msg.encode()
    return bytes(msg.data[:msg['header']['length']])


def tuple_attrs(family, tup):
    """pyroute2 attribute list of a CTA_TUPLE_* nest from a tuple dict (the keys the decoder produces) -> flags.

    Returns (attrs, CTA_FILTER flags naming the fields given).
    """
    ip_attrs = []
    proto_attrs = []
    flags = 0
    v6 = family == socket.AF_INET6
    if tup.get('source') is not None:
        ip_attrs.append(('CTA_IP_V6_SRC' if v6 else 'CTA_IP_V4_SRC', tup['source']))
        flags |= C.FILTER_IP_SRC
    if tup.get('destination') is not None:
        ip_attrs.append(('CTA_IP_V6_DST' if v6 else 'CTA_IP_V4_DST', tup['destination']))
        flags |= C.FILTER_IP_DST
    protonum = tup.get('protocol_number')
    if protonum is not None:
        proto_attrs.append(('CTA_PROTO_NUM', protonum))
        flags |= C.FILTER_PROTO_NUM
        if tup.get('source_port') is not None:
            proto_attrs.append(('CTA_PROTO_SRC_PORT', tup['source_port']))
            flags |= C.FILTER_PROTO_SRC_PORT
        if tup.get('destination_port') is not None:
            proto_attrs.append(('CTA_PROTO_DST_PORT', tup['destination_port']))
            flags |= C.FILTER_PROTO_DST_PORT
        prefix = 'CTA_PROTO_ICMPV6_' if protonum == 58 else 'CTA_PROTO_ICMP_'
        icmp_flags = (C.FILTER_ICMPV6_ID, C.FILTER_ICMPV6_TYPE, C.FILTER_ICMPV6_CODE) if protonum == 58 else \
            (C.FILTER_ICMP_ID, C.FILTER_ICMP_TYPE, C.FILTER_ICMP_CODE)
        for key, suffix, flag in zip(('icmp_id', 'icmp_type', 'icmp_code'), ('ID', 'TYPE', 'CODE'), icmp_flags):
            if tup.get(key) is not None:
                proto_attrs.append((prefix + suffix, tup[key]))
                flags |= flag
    attrs = []
    if ip_attrs:
        attrs.append(('CTA_TUPLE_IP', {'attrs': ip_attrs}))
    if proto_attrs:
        attrs.append(('CTA_TUPLE_PROTO', {'attrs': proto_attrs}))
    return attrs, flags


def dump_request(nfct_msg, seq, family, kernel):
    """A dump request for one address family carrying the kernel-side part of a filter plan.

    kernel: dict with any of 'tuple' (dict for tuple_attrs), 'mark' (value, mask), 'status' (value, mask), 'zone'.
    """
    attrs = []
    if kernel.get('tuple'):
        tuple_nest, flags = tuple_attrs(family, kernel['tuple'])
        attrs.append(('CTA_TUPLE_ORIG', {'attrs': tuple_nest}))
        attrs.append(('CTA_FILTER', {'attrs': [('CTA_FILTER_ORIG_FLAGS', flags)]}))
    if kernel.get('mark') is not None:
        attrs.append(('CTA_MARK', kernel['mark'][0]))
        attrs.append(('CTA_MARK_MASK', kernel['mark'][1]))
    if kernel.get('status') is not None:
        attrs.append(('CTA_STATUS', kernel['status'][0]))
        attrs.append(('CTA_STATUS_MASK', kernel['status'][1]))
    if kernel.get('zone') is not None:
        attrs.append(('CTA_ZONE', kernel['zone']))
    return _encode(nfct_msg, C.IPCTNL_MSG_CT_GET, C.NLM_F_REQUEST | C.NLM_F_DUMP, seq, family, attrs)


def get_request(nfct_msg, seq, family, tup, zone=None):
    """Look up one exact original tuple (a hash lookup in the kernel, no dump)."""
    tuple_nest, _flags = tuple_attrs(family, tup)
    attrs = [('CTA_TUPLE_ORIG', {'attrs': tuple_nest})]
    if zone:
        attrs.append(('CTA_ZONE', zone))
    return _encode(nfct_msg, C.IPCTNL_MSG_CT_GET, C.NLM_F_REQUEST | C.NLM_F_ACK, seq, family, attrs)


def stats_request(nfct_msg, seq, per_cpu):
    """Per-CPU counters (a dump, one message per CPU) or the global entries/max (one message)."""
    if per_cpu:
        return _encode(nfct_msg, C.IPCTNL_MSG_CT_GET_STATS_CPU, C.NLM_F_REQUEST | C.NLM_F_DUMP, seq,
                       socket.AF_UNSPEC, [])
    return _encode(nfct_msg, C.IPCTNL_MSG_CT_GET_STATS, C.NLM_F_REQUEST | C.NLM_F_ACK, seq, socket.AF_UNSPEC, [])


def delete_request(seq, family, raw_orig, entry_id, zone=None):
    """Delete the entry whose CTA_TUPLE_ORIG bytes (as dumped) and id are given.

    The id makes the kernel refuse (ENOENT) when the tuple now belongs to a newer entry. CTA_ZONE goes along only
    when the dumped tuple has no CTA_TUPLE_ZONE of its own (the kernel rejects both at once).
    """
    body = raw_orig
    if zone:
        body += _nla_be16(C.CTA_ZONE, zone)
    if entry_id is not None:
        body += _nla_be32(C.CTA_ID, entry_id)
    length = NLMSGHDR.size + NFGENMSG.size + len(body)
    header = NLMSGHDR.pack(length, (C.NFNL_SUBSYS_CTNETLINK << 8) | C.IPCTNL_MSG_CT_DELETE,
                           C.NLM_F_REQUEST | C.NLM_F_ACK, seq, 0)
    return header + NFGENMSG.pack(family, C.NFNETLINK_V0, 0) + body
