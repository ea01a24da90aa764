# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drop reasons as the running kernel names them, from recorded tracefs files (fixtures/drops/record.sh)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._drops.reasons import (
    event_filter,
    function_of,
    hist_trigger,
    parse_format,
    parse_hist,
    parse_trace,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'drops')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def test_the_reason_numbers_come_from_the_kernels_format():
    fmt = parse_format(fixture('kfree_skb-format-6.18.txt'))
    assert fmt.missing() is None and fmt.symbolic_location
    assert {'skbaddr', 'location', 'protocol', 'reason'} <= fmt.fields
    assert (fmt.reasons[2], fmt.reasons[12], fmt.number('IP_RPFILTER')) == ('NOT_SPECIFIED', 'NETFILTER_DROP', 16)


def test_kernels_differ_in_their_numbers():
    """Debian 12's 6.1 numbers the enum otherwise than 6.18: nothing may assume a number."""
    new, old = parse_format(fixture('kfree_skb-format-6.18.txt')), parse_format(fixture('kfree_skb-format-6.1.txt'))
    assert old.missing() is None
    assert new.number('NETFILTER_DROP') != old.number('NETFILTER_DROP')
    assert set(old.reasons.values()) & {'NO_SOCKET', 'IP_RPFILTER', 'NETFILTER_DROP', 'NOT_SPECIFIED'} == {
        'NO_SOCKET', 'IP_RPFILTER', 'NETFILTER_DROP', 'NOT_SPECIFIED'}


def test_a_kernel_before_5_17_has_no_reason_field():
    # the 6.18 format without its reason field and symbols: the shape of the event before Linux 5.17
    text = '\n'.join(line for line in fixture('kfree_skb-format-6.18.txt').splitlines()
                     if 'field:enum skb_drop_reason reason' not in line and not line.startswith('print fmt'))
    assert parse_format(text).missing() == 'the skb:kfree_skb event has no reason field (Linux before 5.17)'


@pytest.mark.parametrize('families, reasons, expected', [
    (['ipv4'], {2: 'NOT_SPECIFIED'}, 'protocol == 2048'),
    (['ipv4', 'ipv6'], {2: 'NOT_SPECIFIED'}, 'protocol == 2048 || protocol == 34525'),
    (['ipv6'], {1: 'SKB_CONSUMED', 2: 'NOT_SPECIFIED'}, '(protocol == 34525) && reason != 1'),
])
def test_the_filter_takes_the_matchs_families_and_never_a_consumed_packet(families, reasons, expected):
    fmt = parse_format(fixture('kfree_skb-format-6.18.txt'))
    fmt.reasons = reasons
    assert event_filter(fmt, families) == expected


def test_trace_lines_give_time_protocol_location_and_reason():
    events, unparsed = parse_trace(fixture('trace-6.18.txt') + 'not a trace line\n')
    assert unparsed == 1  # the clock marker's line is no event, and not counted as unparsed
    assert [(p, function_of(loc), r) for _t, p, loc, r in events] == [
        (2048, '__udp4_lib_rcv', 'NO_SOCKET'), (34525, '__udp6_lib_rcv', 'NO_SOCKET'),
        (2048, 'nf_hook_slow', 'NETFILTER_DROP'), (2048, 'nft_do_chain', 'NETFILTER_DROP')]
    assert all(isinstance(t, float) for t, _p, _l, _r in events)


def test_the_old_kernels_lines_hide_the_location_and_its_histogram_names_it():
    """6.1 prints the location as a hashed pointer; the kernel's histogram of (reason, protocol, location) names
    it, by the reason numbers of that kernel's format."""
    events, unparsed = parse_trace(fixture('trace-6.1.txt'))
    assert unparsed == 0
    assert [(p, r) for _t, p, _l, r in events] == [
        (2048, 'NO_SOCKET'), (34525, 'NO_SOCKET'), (34525, 'NOT_SPECIFIED'), (2048, 'NETFILTER_DROP'),
        (2048, 'NETFILTER_DROP')]
    assert not parse_format(fixture('kfree_skb-format-6.1.txt')).symbolic_location
    reasons = parse_format(fixture('kfree_skb-format-6.1.txt')).reasons
    assert sorted(parse_hist(fixture('hist-6.1.txt'), reasons)) == [
        ('NETFILTER_DROP', 2048, 'nf_hook_slow', 2), ('NOT_SPECIFIED', 34525, 'icmpv6_rcv', 1),
        ('NO_SOCKET', 2048, '__udp4_lib_rcv', 1), ('NO_SOCKET', 34525, '__udp6_lib_rcv', 1)]


def test_the_histogram_trigger_carries_the_events_filter():
    assert hist_trigger('protocol == 2048') == \
        'hist:keys=reason,protocol,location.sym:vals=hitcount:size=256 if protocol == 2048'


@pytest.mark.parametrize('location, function', [
    ('__udp4_lib_rcv+0x4bc/0xd00', '__udp4_lib_rcv'),
    ('ip_rcv_finish_core.constprop.0', 'ip_rcv_finish_core'),
    ('ip_rcv_finish_core.constprop.0.cold', 'ip_rcv_finish_core'),
    ('tcp_v4_rcv.isra.0+0x10/0x20', 'tcp_v4_rcv'),
])
def test_the_function_is_the_sources_name(location, function):
    assert function_of(location) == function
