# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the report says about each packet: its summary (addresses, protocol, ports) in every format, and the
iptables-style rule number of nf_tables steps, from the recorded captures."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.parse import parse_trace

# (fixture, a substring that picks one line, the packet fields a summary is made of)
LINES = [
    pytest.param('legacy/node2/trace/dmesg.log', 'PROTO=UDP SPT=49243',
                 ('198.18.200.1', '198.18.200.2', 'udp', 49243, 5353), id='kernel-udp'),
    pytest.param('legacy/node2/trace/dmesg.log', 'SPT=50660 DPT=8080',
                 ('198.18.200.1', '198.18.200.2', 'tcp', 50660, 8080), id='kernel-tcp'),
    pytest.param('legacy/node2/trace/dmesg.log', 'TYPE=128 CODE=0 ID=28359',
                 ('2001:2:0:200::1', '2001:2:0:200::2', 'icmpv6', None, None), id='kernel-icmpv6'),
    pytest.param('formats/journal.json', 'PROTO=ICMP',
                 ('198.18.200.1', '198.18.200.2', 'icmp', None, None), id='journal-json-icmp'),
    pytest.param('nft/node2/trace/xtables-monitor.log', 'SPORT=55174 DPORT=8080',
                 ('198.18.200.1', '198.18.200.2', 'tcp', 55174, 8080), id='xtables-tcp-by-flags'),
    pytest.param('nft/node1/trace/xtables-monitor.log', 'DPORT=5353',
                 ('198.18.200.1', '198.18.200.2', None, 60335, 5353), id='xtables-udp-prints-no-protocol'),
    pytest.param('nft/node2/trace/xtables-monitor.log', 'ID=43949 DF',
                 ('198.18.200.1', '198.18.200.2', None, None, None), id='xtables-icmp-prints-no-protocol'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'tcp sport 55180 tcp dport 8080',
                 ('198.18.200.1', '198.18.200.2', 'tcp', 55180, 8080), id='nft-tcp'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'ndtrace-nat pre packet',
                 ('198.18.200.1', '198.18.200.2', 'icmp', None, None), id='nft-nat-table-without-ip-protocol'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'ip6 length 64 icmpv6',
                 ('2001:2:0:200::1', '2001:2:0:200::2', 'icmpv6', None, None), id='nft-icmpv6'),
]


@pytest.mark.parametrize('rel, pick, expected', LINES)
def test_packet_fields_of_each_format(line_with, rel, pick, expected):
    line = line_with(rel, pick)
    packet = parse_trace([line])[0]['packet']
    assert tuple(packet.get(key) for key in ('src', 'dst', 'proto', 'sport', 'dport')) == expected


def _summaries(report, host):
    return [p['summary'] for p in report['packets'] if p['host'] == host]


def test_xtables_monitor_packets_get_their_protocol(bundle):
    """xtables-monitor prints no protocol for ICMP and UDP: it comes from a matched rule (-p icmp), from the host's
    conntrack snapshot, or from the same packet on the other node."""
    report = build_report(str(bundle('nft')))
    node1, node2 = _summaries(report, 'node1'), _summaries(report, 'node2')
    # node 1 has neither -p rules nor conntrack: every packet is also on node 2
    assert all('proto' in s for s in node1), node1
    assert [s['proto'] for s in node1 if s.get('dport') == 5353] == ['udp']
    # accepted by "-m conntrack --ctstate RELATED,ESTABLISHED": the conntrack snapshot's icmp entry says it
    established = next(s for s in node2 if s.get('ip_id') == 43981)
    assert established['proto'] == 'icmp'
    # nft -a list ruleset names the ip6 rule xtables-monitor could not print: meta l4proto ipv6-icmp
    assert next(s for s in node2 if ':' in s['src'] and s['len'] == 428)['proto'] == 'icmpv6'
    # an ICMPv6 ping accepted by the policy: no line, rule or conntrack entry says what it is
    assert [s for s in node2 if 'proto' not in s] == [
        {'src': '2001:2:0:200::1', 'dst': '2001:2:0:200::2', 'in': 'ndt2', 'len': 84}]


def test_without_conntrack_and_other_node_the_protocol_stays_unknown(bundle):
    incident = bundle('nft', hosts=('node2',), checksums=False)
    (incident / 'node2' / 'conntrack.txt').unlink()
    established = next(s for s in _summaries(build_report(str(incident)), 'node2') if s.get('ip_id') == 43981)
    assert 'proto' not in established


def _deciding(report, host):
    return [(p['verdict_rule']['chain'], p['verdict_rule']['rulenum'], p['verdict_rule']['handle'])
            for p in report['packets'] if p['host'] == host and p['verdict_rule']]


@pytest.mark.parametrize('kind, host, expected', [
    ('nft', 'node2', {('app-deep', 1, 16), ('app-guard', 2, 18), ('INPUT', 2, 8), ('INPUT', 5, 11),
                      ('INPUT', 6, 12), ('INPUT', 1, 4), ('INPUT', None, None)}),
    ('nftables', 'node2', {('app-deep', 1, 20), ('app-guard', 2, 19), ('input', 2, 9), ('input', 6, 13),
                           ('input', 7, 14), ('input', 5, 12), ('input', None, None)}),
])
def test_nf_tables_steps_get_the_rule_number_and_keep_the_handle(bundle, kind, host, expected):
    assert set(_deciding(build_report(str(bundle(kind))), host)) == expected


def test_nft_monitor_without_handles_finds_rule_number_and_handle_by_text(bundle):
    """Node 1 ran `nft monitor trace` without -a: its rule lines name no handle."""
    report = build_report(str(bundle('nftables')))
    steps = {(s['chain'], s['rulenum'], s['handle'], s['rule']) for p in report['packets'] if p['host'] == 'node1'
             for s in p['path'] if s['kind'] == 'rule'}
    assert steps == {('out', 1, 3, 'ip daddr 198.18.200.0/23 meta nftrace set 1'),
                     ('out', 2, 4, 'ip6 daddr 2001:2:0:200::/64 meta nftrace set 1'),
                     ('pre', 1, 5, 'icmp type destination-unreachable meta nftrace set 1'),
                     ('pre', 2, 6, 'tcp flags & rst == rst meta nftrace set 1')}


def test_xtables_rule_number_from_iptables_nft_save_without_nft_listing(bundle):
    incident = bundle('nft', hosts=('node2',), checksums=False)
    (incident / 'node2' / 'ruleset' / 'nft.ruleset').unlink()
    found = set(_deciding(build_report(str(incident)), 'node2'))
    assert {('app-deep', 1, 16), ('INPUT', 5, 11), ('INPUT', 6, 12)} <= found


def test_step_label_says_rule_number_and_handle(bundle):
    report = build_report(str(bundle('nftables')))
    assert any(' at inet ndtrace/app-deep rule 1 (handle 20): ip length >= 200 drop' in line
               for line in report['verdicts'])


def test_unparsable_snapshot_is_named_and_left_out(bundle):
    incident = bundle('legacy', hosts=('node2',), checksums=False)
    save = incident / 'node2' / 'ruleset' / 'iptables-legacy.save'
    save.write_text(save.read_text().replace('COMMIT', '', 1))
    report = build_report(str(incident))
    errors = report['hosts']['node2']['errors']
    assert any(e.startswith('cannot parse ruleset/iptables-legacy.save') and 'not resolved' in e for e in errors)
    assert {p['verdict'] for p in report['packets'] if p['family'] == 'ip'} == {'unknown'}
