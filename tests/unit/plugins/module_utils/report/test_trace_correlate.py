# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cross-node journeys on the recorded two-node captures, and NAT through the recorded conntrack snapshot."""

from __future__ import annotations

import json

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report, clock_correction
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.correlate import (
    correlate, hop_order, nat_aliases, parse_conntrack_json, parse_conntrack_text, protocols, wall_time,
)


def test_conntrack_text_recorded(lines):
    entries = parse_conntrack_text('\n'.join(lines('legacy/node2/conntrack.txt')))
    assert len(entries) == 2
    dnat = next(e for e in entries if e['original']['dst'] == '198.18.201.2')
    assert dnat['proto'] == 'icmp'
    assert (dnat['reply']['src'], dnat['reply']['dst']) == ('198.18.200.2', '198.18.200.1')
    aliases = nat_aliases(entries)
    assert aliases[('198.18.200.1', '198.18.201.2')] == {('198.18.200.1', '198.18.200.2')}
    assert ('198.18.200.2', '198.18.200.1') in aliases  # the reply direction maps back too


def test_conntrack_json_shapes():
    text = json.dumps({'entries': [{'protocol': 'tcp',
                                    'original': {'src': '198.18.0.1', 'dst': '198.18.9.9', 'sport': 1, 'dport': 80},
                                    'reply': {'source': '198.18.0.2', 'destination': '198.18.0.1'}},
                                   {'protocol': 'udp', 'original': {'src': '198.18.0.1'}}, 'junk']})
    entries = parse_conntrack_json(text)
    assert entries == [{'proto': 'tcp', 'original': {'src': '198.18.0.1', 'dst': '198.18.9.9', 'sport': 1,
                                                     'dport': 80},
                        'reply': {'src': '198.18.0.2', 'dst': '198.18.0.1'}, 'replied': None}]


def test_conntrack_query_entries_keep_ports():
    """conntrack_query's own shape (its RETURN sample): source_port / destination_port."""
    text = json.dumps({'entries': [{'protocol': 'tcp', 'original': {
        'source': '198.18.210.1', 'destination': '198.18.210.2', 'source_port': 40112, 'destination_port': 8080},
        'reply': {'source': '198.18.210.2', 'destination': '198.18.210.1', 'source_port': 8080,
                  'destination_port': 40112}}]})
    entry = parse_conntrack_json(text)[0]
    assert (entry['original']['sport'], entry['original']['dport'], entry['reply']['sport']) == (40112, 8080, 8080)
    assert protocols([entry])[('198.18.210.2', '198.18.210.1', 8080, 40112)] == 'tcp'


def test_protocols_of_the_recorded_conntrack_snapshot(lines):
    found = protocols(parse_conntrack_text('\n'.join(lines('nft/node2/conntrack.txt'))))
    assert found[('198.18.200.1', '198.18.200.2', None, None)] == 'icmp'
    assert found[('198.18.200.2', '198.18.200.1', None, None)] == 'icmp'  # the reply direction
    clash = [{'proto': 'icmp', 'original': {'src': 'a', 'dst': 'b'}, 'reply': {'src': 'b', 'dst': 'a'}},
             {'proto': 'gre', 'original': {'src': 'a', 'dst': 'b'}, 'reply': {'src': 'b', 'dst': 'a'}}]
    assert protocols(clash) == {}  # two protocols between the same addresses say nothing


def test_journeys_between_the_two_recorded_nodes(bundle):
    report = build_report(str(bundle('legacy')))
    packets = report['packets']
    assert len(report['journeys']) == 9  # every node-1 IPv4 packet that node 2 traced
    for journey in report['journeys']:
        first, second = (packets[i] for i in journey['packets'])
        assert journey['hosts'] == ['node1', 'node2']
        assert first['summary']['ip_id'] == second['summary']['ip_id']
    dropped = [j for j in report['journeys'] if packets[j['packets'][1]]['verdict'] == 'drop']
    assert len(dropped) == 4  # two large pings, two SYNs to the policy drop


def test_nat_mapping_from_conntrack_joins_a_translated_packet(bundle):
    """Node 2's lines from before its DNAT are removed (derived from the real capture): only the conntrack
    mapping says that node 1's packet to 198.18.201.2 is node 2's packet to 198.18.200.2."""
    incident = bundle('legacy', checksums=False)
    trace = incident / 'node2' / 'trace' / 'dmesg.log'
    kept = [line for line in trace.read_text().splitlines() if 'PREROUTING' not in line]
    trace.write_text('\n'.join(kept) + '\n')
    report = build_report(str(incident))
    packets = report['packets']
    node1 = next(p for p in packets if p['host'] == 'node1' and p['summary']['dst'] == '198.18.201.2')
    node2 = next(p for p in packets if p['host'] == 'node2' and p['summary']['ip_id'] == node1['summary']['ip_id'])
    assert node2['summary']['dst'] == '198.18.200.2'
    assert node1['journey'] is not None and node1['journey'] == node2['journey']
    (incident / 'node2' / 'conntrack.txt').unlink()
    again = build_report(str(incident))['packets']
    node1 = next(p for p in again if p['host'] == 'node1' and p['summary']['dst'] == '198.18.201.2')
    assert node1['journey'] is None


def _record(host, ts, ip_id, src='198.18.0.1', dst='198.18.0.2', clock='wall', proto='icmp'):
    return {'host': host, 'ts': ts, 'clock': clock, 'family': 'ip',
            'summary': {'ip_id': ip_id, 'src': src, 'dst': dst, 'proto': proto}}


def test_window_same_host_and_protocol_rules():
    records = [_record('a', 100.0, 7), _record('b', 100.5, 7), _record('c', 200.0, 7),
               _record('d', 100.2, 7, proto='tcp'), _record('e', 100.2, 8), _record('f', 100.3, 7, dst='198.18.0.3'),
               _record('g', 5000.0, 7, clock='boot')]
    pairs = [{(r['summary']['src'], r['summary']['dst'])} for r in records]
    journeys = correlate(records, pairs, {}, window=10.0)
    # c is out of the window, d another protocol, e another id, f other addresses; g's boot clock is not
    # comparable, so only id and addresses count for it
    assert journeys == [[0, 1, 6]]
    assert [r.get('journey') for r in records] == [0, 0, None, None, None, None, 0]


def test_hop_order_follows_the_ttl_then_the_origin_then_the_clock():
    """node1 made the packet (output, TTL 64), node2 forwarded it (arrived with 64), node3 got it with 63; the
    clocks disagree so much that time alone would put node3 first."""
    records = [_record('node3', 100.000, 7), _record('node1', 100.004, 7), _record('node2', 100.009, 7)]
    ttls = [63, 64, 64]
    hooks = ['prerouting', 'output', 'prerouting']
    assert hop_order(records, [0, 1, 2], ttls, hooks) == [1, 2, 0]
    # without TTLs: the origin first, then the time on the controller's clock (node offsets taken off)
    records[0]['_offset'] = 0.5  # node3's clock is 0.5 s ahead: its 100.000 is 99.5 on the controller
    records[2]['_offset'] = -0.1
    assert hop_order(records, [0, 1, 2], [None, 64, None], hooks) == [1, 0, 2]
    assert wall_time(records[2]) == pytest.approx(100.109)
    assert wall_time(_record('x', 5.0, 1, clock='boot')) is None


def test_journey_order_in_a_report_does_not_depend_on_the_clocks(bundle):
    """The recorded legacy capture with node 1's clock said to be 3 s ahead: node 1 still comes first."""
    incident = bundle('legacy')
    manifest = json.loads((incident / 'manifest.json').read_text())
    manifest['hosts']['node1']['clock'] = {'offset': 3.0, 'error': 0.002}
    (incident / 'manifest.json').write_text(json.dumps(manifest))
    report = build_report(str(incident))
    assert report['hosts']['node1']['clock_offset'] == 3.0 and report['hosts']['node2']['clock_offset'] is None
    assert report['hosts']['node1']['clock_correction'] == 2.998 and report['hosts']['node2']['clock_correction'] is None
    assert report['journeys'] and all(j['hosts'] == ['node1', 'node2'] for j in report['journeys'])


@pytest.mark.parametrize('clock, correction', [
    ({'offset': 3.0, 'error': 0.002}, 2.998),
    ({'offset': -1.1, 'error': 0.4}, -0.7),
    ({'offset': 0.9, 'error': 1.2}, 0.0),  # the noise of a loaded controller: clocks that agree stay together
    ({'offset': 0.5}, 0.5),
    ({'offset': None, 'error': None}, None),
    (None, None),
])
def test_the_clock_correction_is_the_offset_nearest_zero_the_measurement_allows(clock, correction):
    assert clock_correction({'clock': clock}) == correction
