# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters: the Python matcher over a real dump against conntrack(8) and against the kernel's own filtering,
and bad input."""

from __future__ import annotations

import ipaddress

import pytest

import ct_fixtures as fx

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import decode
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.filters import FilterSpec

ENTRIES = [decode.decode_entry(m, 0, len(m), decode.AddressCache()) for m in fx.messages('dump_all.bin')]
CASES = fx.cases()


def _matching_ids(params):
    match = FilterSpec(params).matcher()
    return set(e['id'] for e in ENTRIES if match is None or match(e))


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_python_matcher_agrees_with_conntrack(case):
    if case['conntrack_args'] is None:
        pytest.skip('conntrack(8) has no equivalent; checked against the kernel below')
    assert _matching_ids(case['params']) == set(case['conntrack_ids'])


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_kernel_filter_never_drops_a_match(case):
    """What the kernel returned for the module's kernel-side filters (on 6.18) holds every true match: kernel
    filtering only narrows, the matcher decides (this caught the kernel's inverted IPv6 address filter)."""
    assert _matching_ids(case['params']) <= set(case['kernel_ids'])


KERNEL_EXACT = ['zone_orig8', 'unreplied', 'not_assured_udp', 'dnat', 'mark', 'mark_masked', 'zone7', 'assured',
                'udp_dport_closed']


@pytest.mark.parametrize('name', KERNEL_EXACT)
def test_python_matcher_agrees_with_kernel_where_kernel_filtered_everything(name):
    case = [c for c in CASES if c['name'] == name][0]
    assert _matching_ids(case['params']) == set(case['kernel_ids'])


def test_reply_network_matches_the_listing():
    net = ipaddress.ip_network('198.18.210.0/25')
    expected = set(line['id'] for line in fx.conntrack_lines()
                   if ':' not in line['reply']['destination'] and
                   ipaddress.ip_address(line['reply']['destination']) in net)
    assert _matching_ids({'reply_destination': '198.18.210.0/25'}) == expected


def test_zone_both_directions_and_one_direction():
    assert [e['original']['destination_port'] for e in ENTRIES if e['id'] in _matching_ids({'zone': 7})] == [7777]
    assert [e['original']['destination_port'] for e in ENTRIES if e['id'] in _matching_ids({'zone': 8})] == [7778]


def test_state_implies_tcp_and_accepts_aliases():
    spec = FilterSpec({'state': ['established', 'time-wait']})
    assert spec.protocol == 6 and spec.states == frozenset(['ESTABLISHED', 'TIME_WAIT'])
    assert FilterSpec({'state': ['LISTEN']}).states == frozenset(['SYN_SENT2'])


def test_status_negation_and_unreplied():
    spec = FilterSpec({'status': ['assured', '!SRC_NAT', 'UNREPLIED']})
    assert spec.status_required == frozenset(['ASSURED'])
    assert spec.status_forbidden == frozenset(['SRC_NAT', 'SEEN_REPLY'])
    assert FilterSpec({'unreplied': False}).status_required == frozenset(['SEEN_REPLY'])


def test_mark_mask_is_applied_to_the_value():
    assert FilterSpec({'mark': '0x142', 'mark_mask': '0xff'}).mark == (0x42, 0xFF)
    assert FilterSpec({'mark': 66}).mark == (66, 0xFFFFFFFF)


def test_no_filter_means_no_matcher():
    spec = FilterSpec({})
    assert spec.is_empty() and spec.matcher() is None


BAD = [
    ({'source': '198.18.210.300'}, 'source', 'not an IP address'),
    ({'destination': 'example.com'}, 'destination', 'not an IP address'),
    ({'reply_source': '2001:db8::zz'}, 'reply_source', 'not an IP address'),
    ({'source_port': 70000}, 'source_port', 'out of range'),
    ({'destination_port': -1}, 'destination_port', 'out of range'),
    ({'protocol': 'tcpp'}, 'protocol', 'not a protocol'),
    ({'protocol': '300'}, 'protocol', 'out of range'),
    ({'state': ['ESTABLISHD']}, 'state', 'not a TCP conntrack state'),
    ({'state': ['ESTABLISHED'], 'protocol': 'udp'}, 'state', 'need protocol tcp'),
    ({'status': ['ASURED']}, 'status', 'not a conntrack status flag'),
    ({'status': ['SEEN_REPLY'], 'unreplied': True}, 'status', 'both set and unset'),
    ({'mark': 'x42'}, 'mark', 'not an integer'),
    ({'mark': 1 << 32}, 'mark', 'out of range'),
    ({'mark_mask': 255}, 'mark_mask', 'needs mark'),
    ({'zone': 65536}, 'zone', 'out of range'),
    ({'source': '198.18.210.1', 'destination': '2001:db8::1'}, 'source', 'an entry has one address family'),
    ({'family': 'ipv6', 'source': '198.18.210.1'}, 'source', 'not an address of family ipv6'),
    ({'protocol': 'icmp', 'source_port': 53}, 'source_port', 'has no ports'),
    ({'icmp_type': 8}, 'icmp_type', 'needs protocol icmp'),
    ({'protocol': 'icmp', 'family': 'ipv6'}, 'protocol', 'does not exist in family ipv6'),
]


@pytest.mark.parametrize('params,param,text', BAD, ids=['-'.join(sorted(b[0])) + '-' + b[1] for b in BAD])
def test_bad_input_names_the_parameter(params, param, text):
    with pytest.raises(ConntrackError) as err:
        FilterSpec(params)
    assert err.value.param == param
    assert err.value.msg.startswith(param + ': ')
    assert text in err.value.msg
