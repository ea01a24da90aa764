# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which filters go to the kernel, per kernel release and pyroute2, and the requests pyroute2 encodes for them."""

from __future__ import annotations

import socket
import struct

import pytest

from pyroute2.netlink.nfnetlink.nfctsocket import nfct_msg

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import request as R
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.filters import FilterSpec
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.kernel import (
    KernelCaps, parse_release, plan_dump)

ALL_ATTRS = R.pyroute2_features(nfct_msg)
PYROUTE2_07 = ALL_ATTRS - {'CTA_STATUS_MASK'}  # what pyroute2 0.7.2 (Debian 12) can encode
EVERYTHING = {'protocol': 'udp', 'source': '198.18.210.1', 'destination_port': 53, 'mark': 1,
              'status': ['ASSURED'], 'zone': 7}


@pytest.mark.parametrize('release,expected', [
    ('6.1.0-18-amd64', (6, 1)), ('5.15.0-91-generic', (5, 15)), ('4.19.0', (4, 19)), ('weird', (0, 0)),
    ('6.18.44-fc-v669', (6, 18)),
])
def test_parse_release(release, expected):
    assert parse_release(release) == expected


@pytest.mark.parametrize('release,encodable,expected', [
    ('4.19.0-25-amd64', ALL_ATTRS, ['family', 'mark']),
    ('5.8.0', ALL_ATTRS, ['family', 'destination_port', 'protocol', 'source', 'mark']),
    ('5.15.0-91-generic', ALL_ATTRS, ['family', 'destination_port', 'protocol', 'source', 'mark', 'status']),
    ('6.1.0-18-amd64', PYROUTE2_07, ['family', 'destination_port', 'protocol', 'source', 'mark']),
    ('6.8.0', ALL_ATTRS, ['family', 'destination_port', 'protocol', 'source', 'mark', 'status', 'zone']),
])
def test_kernel_filters_by_release(release, encodable, expected):
    plan = plan_dump(FilterSpec(EVERYTHING), KernelCaps(release, encodable))
    assert plan.kernel_filters == expected
    assert [family for family, _k in plan.requests] == [socket.AF_INET]


def test_ipv6_addresses_never_go_to_the_kernel():
    plan = plan_dump(FilterSpec({'source': '2001:db8::1', 'protocol': 'udp'}), KernelCaps('6.18', ALL_ATTRS))
    assert plan.kernel_filters == ['family', 'protocol']
    assert plan.requests == [(socket.AF_INET6, {'tuple': {'protocol_number': 17}})]


def test_networks_and_reply_addresses_stay_in_python():
    plan = plan_dump(FilterSpec({'source': '198.18.210.0/24', 'reply_source': '198.18.210.2'}),
                     KernelCaps('6.18', ALL_ATTRS))
    assert plan.kernel_filters == ['family']


def test_zone_zero_is_not_a_kernel_zone_filter():
    assert plan_dump(FilterSpec({'zone': 0}), KernelCaps('6.18', ALL_ATTRS)).kernel_filters == []


def test_tuple_filter_without_family_is_one_dump_per_family():
    plan = plan_dump(FilterSpec({'protocol': 'tcp', 'destination_port': 80}), KernelCaps('6.18', ALL_ATTRS))
    assert [family for family, _k in plan.requests] == [socket.AF_INET, socket.AF_INET6]
    assert plan_dump(FilterSpec({'protocol': 'tcp'}), KernelCaps('4.19', ALL_ATTRS)).requests == \
        [(socket.AF_UNSPEC, {})]


def test_ports_of_other_protocols_stay_in_python():
    plan = plan_dump(FilterSpec({'protocol': 'sctp', 'destination_port': 80}), KernelCaps('6.18', ALL_ATTRS))
    assert plan.requests[0][1]['tuple'] == {'protocol_number': 132}


def test_no_kernel_filters_when_asked():
    plan = plan_dump(FilterSpec(EVERYTHING), KernelCaps('6.18', ALL_ATTRS), use_kernel=False)
    assert plan.kernel_filters == ['family'] and plan.requests == [(socket.AF_INET, {})]


def _attrs(data, off, end):
    out = {}
    while off < end:
        alen, atype = struct.unpack_from('=HH', data, off)
        out[atype & C.NLA_TYPE_MASK] = data[off + 4:off + alen]
        off += (alen + 3) & ~3
    return out


def test_dump_request_encoding():
    data = R.dump_request(nfct_msg, 77, socket.AF_INET, {
        'tuple': {'source': '198.18.210.1', 'protocol_number': 17, 'destination_port': 53},
        'mark': (0x42, 0xFF), 'status': (4, 6), 'zone': 7})
    length, mtype, flags, seq, _pid = struct.unpack_from('=IHHII', data)
    assert (length, mtype, flags, seq, data[16]) == (len(data), 0x101, 0x301, 77, socket.AF_INET)
    top = _attrs(data, 20, len(data))
    assert struct.unpack('>I', top[C.CTA_MARK])[0] == 0x42 and struct.unpack('>I', top[21])[0] == 0xFF
    assert struct.unpack('>I', top[C.CTA_STATUS])[0] == 4 and struct.unpack('>I', top[26])[0] == 6
    assert struct.unpack('>H', top[C.CTA_ZONE][:2])[0] == 7
    flags_attr = _attrs(top[25], 0, len(top[25]))
    assert struct.unpack('=I', flags_attr[1])[0] == C.FILTER_IP_SRC | C.FILTER_PROTO_NUM | C.FILTER_PROTO_DST_PORT
    tup = _attrs(top[C.CTA_TUPLE_ORIG], 0, len(top[C.CTA_TUPLE_ORIG]))
    assert _attrs(tup[1], 0, len(tup[1])) == {C.CTA_IP_V4_SRC: socket.inet_aton('198.18.210.1')}
    proto = _attrs(tup[2], 0, len(tup[2]))
    assert proto[C.CTA_PROTO_NUM][:1] == b'\x11' and proto[C.CTA_PROTO_DST_PORT][:2] == b'\x00\x35'


def test_icmp_filter_flags():
    _attrs_, flags = R.tuple_attrs(socket.AF_INET6, {'protocol_number': 58, 'icmp_type': 128, 'icmp_id': 5})
    assert flags == C.FILTER_PROTO_NUM | C.FILTER_ICMPV6_TYPE | C.FILTER_ICMPV6_ID


def test_delete_request_echoes_the_tuple_and_adds_zone_and_id():
    raw = b'\x0c\x00\x01\x80' + b'\x08\x00\x01\x00' + b'abcd'
    data = R.delete_request(9, socket.AF_INET, raw, 0x01020304, zone=7)
    length, mtype, flags, seq, _pid = struct.unpack_from('=IHHII', data)
    assert (length, mtype, flags, seq) == (len(data), 0x102, 0x5, 9)
    assert data[20:20 + len(raw)] == raw
    top = _attrs(data, 20, len(data))
    assert top[C.CTA_ZONE][:2] == b'\x00\x07' and top[C.CTA_ID] == b'\x01\x02\x03\x04'
    assert C.CTA_ZONE not in _attrs(R.delete_request(9, socket.AF_INET, raw, 1), 20, 20 + len(raw) + 8)
