# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump decoders against real recorded ctnetlink bytes and the conntrack(8) listing taken with them."""

from __future__ import annotations

import pytest

import ct_fixtures as fx

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import decode, layout, text

DUMP = fx.messages('dump_all.bin')
LISTING = dict((line['id'], line) for line in fx.conntrack_lines())


def _generic(msg):
    return decode.decode_entry(msg, 0, len(msg), decode.AddressCache())


def _by_id():
    return dict((entry['id'], entry) for entry in (_generic(msg) for msg in DUMP))


def test_dump_has_the_entries_conntrack_listed():
    assert len(DUMP) == len(LISTING) == 14
    assert set(_by_id()) == set(LISTING)


@pytest.mark.parametrize('entry_id', sorted(LISTING))
def test_entry_matches_conntrack_listing(entry_id):
    """Netlink and the text fallback (_conntrack/text, for nodes without pyroute2) give the same entry, except
    what the text cannot show: the status bits beyond those it prints, and the timestamps."""
    entry = dict(_by_id()[entry_id])
    line = dict(LISTING[entry_id])
    assert abs(entry.pop('timeout') - line.pop('timeout')) <= 2  # the listing ran a moment after the dump
    assert set(entry.pop('timestamp')) == {'start'}
    shown = [name for name in entry.pop('status') if name in text.SHOWN_FLAGS + ('SEEN_REPLY', 'CONFIRMED')]
    assert line.pop('status') == shown
    assert entry == line


def test_fixture_covers_the_flows_made_on_purpose():
    entries = list(_by_id().values())
    kinds = set((e['family'], e['protocol'], e.get('state')) for e in entries)
    assert ('ipv4', 'tcp', 'ESTABLISHED') in kinds and ('ipv4', 'tcp', 'TIME_WAIT') in kinds
    assert ('ipv6', 'tcp', 'ESTABLISHED') in kinds and ('ipv6', 'icmpv6', None) in kinds
    assert any(e['mark'] == 0x42 for e in entries)
    assert any(e['zone'] == 7 for e in entries) and any(e.get('zone_direction') == 'original' for e in entries)
    assert any('DST_NAT' in e['status'] for e in entries)
    assert any('SEEN_REPLY' not in e['status'] for e in entries)


@pytest.mark.parametrize('index', range(len(DUMP)))
def test_layout_path_equals_attribute_walk(index):
    """Every recorded message: a layout learnt from it decodes it (and a copy of it) exactly as the walk does."""
    msg = DUMP[index]
    fast = layout.FastDecoder(decode.AddressCache())
    first = fast.decode(msg, 0, len(msg), keep_raw=True)
    second = fast.decode(bytearray(msg), 0, len(msg), keep_raw=True)
    assert fast.fast == 1, 'the layout was learnt from the first message and used for the second'
    walked = decode.decode_entry(msg, 0, len(msg), decode.AddressCache(), keep_raw=True)
    assert first == walked == second


PLAIN = fx.messages('dump_plain.bin')


@pytest.mark.parametrize('index', range(len(PLAIN)))
def test_layout_path_equals_attribute_walk_without_accounting(index):
    """Entries made with accounting and timestamps off (the kernel default) have other layouts."""
    msg = PLAIN[index]
    fast = layout.FastDecoder(decode.AddressCache())
    first = fast.decode(msg, 0, len(msg))
    assert fast.decode(bytearray(msg), 0, len(msg)) == first == _generic(msg)


def test_plain_dump_has_entries_without_counters():
    entries = [_generic(msg) for msg in PLAIN]
    plain = [e for e in entries if 'counters' not in e]
    assert len(plain) >= 5 and not any('timestamp' in e for e in plain)
    assert set(e['protocol'] for e in plain) >= {'udp', 'tcp', 'icmp'}
    layouts = layout.FastDecoder(decode.AddressCache())
    for msg in PLAIN:
        layouts.decode(msg, 0, len(msg))
    assert layouts.fast >= 2  # the unreplied UDP flows without counters share a layout


def test_layout_rejects_a_message_of_another_shape():
    """Same length, different attribute type: the header check sends it to the attribute walk."""
    ipv4_udp = [m for m in DUMP if _generic(m)['protocol'] == 'udp' and _generic(m)['family'] == 'ipv4']
    fast = layout.FastDecoder(decode.AddressCache())
    fast.decode(ipv4_udp[0], 0, len(ipv4_udp[0]))
    forged = bytearray(ipv4_udp[1])
    forged[20 + 2] ^= 0x02  # CTA_TUPLE_ORIG (1) becomes CTA_TUPLE_REPLY (3 & mask) in the first header
    entry = fast.decode(forged, 0, len(forged))
    assert fast.fast == 0 and fast.slow == 2
    assert entry == decode.decode_entry(forged, 0, len(forged), decode.AddressCache())


def test_layouts_are_shared_by_same_shape_messages():
    fast = layout.FastDecoder(decode.AddressCache())
    for msg in DUMP:
        assert fast.decode(msg, 0, len(msg)) == _generic(msg)
    assert fast.fast + fast.slow == len(DUMP)
    assert fast.fast >= 4  # e.g. the unreplied IPv4 UDP flows share one layout


def test_raw_original_tuple_is_the_kernel_bytes():
    for msg in DUMP:
        entry = decode.decode_entry(msg, 0, len(msg), decode.AddressCache(), keep_raw=True)
        raw = entry['_raw_orig']
        assert raw in msg and int.from_bytes(raw[2:4], 'little') & 0x3FFF == 1  # CTA_TUPLE_ORIG
        # the kernel puts CTA_TUPLE_ZONE in a tuple only for a one-direction zone (CT --zone-orig)
        assert entry['_raw_orig_zoned'] == (entry.get('zone_direction') == 'original')


@pytest.mark.parametrize('cut', [3, 19, 24, 60])
def test_truncated_datagram_is_an_error(cut):
    data = fx.datagrams('dump_all.bin')[0]
    data = data[:len(data) - cut]  # the last message's header still claims its full length
    with pytest.raises(decode.DecodeError):
        list(decode.iter_messages(data, len(data)))


def test_attribute_overrun_is_an_error():
    msg = bytearray(DUMP[0])
    msg[20:22] = (0xFFF0).to_bytes(2, 'little')  # first attribute claims more than the message
    with pytest.raises(decode.DecodeError):
        decode.decode_entry(msg, 0, len(msg), decode.AddressCache())


def test_get_reply_is_the_requested_tuple():
    msgs = fx.messages('get_tcp.bin')
    assert len(msgs) == 1
    entry = _generic(msgs[0])
    assert entry['original'] == {'source': '198.18.210.1', 'destination': '198.18.210.2', 'source_port': 40001,
                                 'destination_port': 8080}
    assert entry['state'] == 'ESTABLISHED'


def test_events_decode():
    kinds = []
    for msg in fx.messages('events.bin'):
        entry = _generic(msg)
        mtype = int.from_bytes(msg[4:6], 'little') & 0xFF
        flags = int.from_bytes(msg[6:8], 'little')
        kinds.append((mtype, bool(flags & 0x600), entry['original'].get('source_port'), entry.get('status')))
    ours = [k for k in kinds if k[2] == 41100]
    assert [k[:2] for k in ours] == [(0, True), (0, False), (2, False)]  # new, update, destroy
    assert 'SEEN_REPLY' in ours[1][3]


def test_status_names_in_bit_order_and_unknown_bits():
    assert decode.status_names(0b1110) == ('SEEN_REPLY', 'ASSURED', 'CONFIRMED')
    assert decode.status_names(1 << 20) == ('BIT_20',)
    assert decode.status_names(0b1110) is decode.status_names(0b1110)  # shared, not copied


def test_unlearnable_shapes_stop_being_retried(monkeypatch):
    """A shape the layout path does not take (helper, labels...) costs a second walk only a few times."""
    attempts = []

    def refuse(*_args):
        attempts.append(1)
        raise layout.Unsupported()
    monkeypatch.setattr(layout, 'Layout', refuse)
    fast = layout.FastDecoder(decode.AddressCache())
    msg = DUMP[0]
    for _n in range(20):
        assert fast.decode(msg, 0, len(msg)) == _generic(msg)
    assert len(attempts) == layout.MAX_LAYOUTS_PER_LENGTH and fast.slow == 20
