# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The six node kinds of issue 14 from recorded captures (fixtures/trace/README.md): legacy, iptables-nft and
native nftables alone, and legacy + native, iptables-nft + native, legacy + iptables-nft (mixed), each with a drop
in each backend. One record per packet, the dropping rule named, and never an accept for a dropped packet."""

from __future__ import annotations

import re

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import step_label
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_html import render_html
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_md import render_md

# kind -> {TCP destination port: (verdict, the deciding step's label, its backend)}; 8080 is the ClusterIP
# 198.18.201.2 that kube-proxy-style rules DNAT to node 2, accepted everywhere.
NATIVE_DROP = ('drop', 'inet filter/input rule 1 (handle 2)', 'nftables')
MIXED_KINDS = {
    'mixed/legacy-native': {80: NATIVE_DROP, 81: ('drop', 'filter/cali-pi-_DNxril3RavGD5MfvJ7N rule 1', 'legacy'),
                            8080: ('accept', None, None)},
    'mixed/nft-native': {80: NATIVE_DROP,
                         81: ('drop', 'filter/cali-pi-_DNxril3RavGD5MfvJ7N rule 1', 'nf_tables'),
                         8080: ('accept', None, None)},
    'mixed/legacy-nft': {80: ('accept', None, None),
                         81: ('drop', 'filter/cali-pi-_DNxril3RavGD5MfvJ7N rule 1', 'legacy'),
                         82: ('drop', 'filter/KUBE-PROXY-FIREWALL rule 1', 'nf_tables'),
                         8080: ('accept', None, None)},
}
PACKETS = {'mixed/legacy-native': 5, 'mixed/nft-native': 5, 'mixed/legacy-nft': 6}
ALL_KINDS = ['legacy', 'nft', 'nftables'] + sorted(MIXED_KINDS)


def _report(bundle, kind, **kwargs):
    return build_report(str(bundle(kind, hosts=('node2',), **kwargs)))


def _by_port(report):
    found = {}
    for packet in report['packets']:
        if packet['summary'].get('proto') == 'tcp' and packet['summary'].get('src') == '198.18.200.1':
            found.setdefault(packet['summary']['dport'], []).append(packet)
    return found


@pytest.mark.parametrize('kind', sorted(MIXED_KINDS))
def test_one_record_per_packet_and_the_dropping_rule(bundle, kind):
    report = _report(bundle, kind)
    assert report['hosts']['node2']['errors'] == []
    assert len(report['packets']) == PACKETS[kind]
    ids = [p['summary']['ip_id'] for p in report['packets']]
    assert len(ids) == len(set(ids)), 'a packet became more than one record'
    by_port = _by_port(report)
    assert sorted(by_port) == sorted(MIXED_KINDS[kind])
    for port, (verdict, label, backend) in MIXED_KINDS[kind].items():
        (packet,) = by_port[port]
        assert packet['verdict'] == verdict, (port, packet['verdict_reason'])
        if label is not None:
            assert step_label(packet['verdict_rule']) == label
            assert packet['verdict_rule']['backend'] == backend
    pings = [p for p in report['packets'] if p['summary'].get('proto') == 'icmp']
    assert len(pings) == 2 and all(p['verdict'] == 'accept' for p in pings)


@pytest.mark.parametrize('kind', ['mixed/legacy-native', 'mixed/legacy-nft'])
def test_both_sources_make_one_record_in_kernel_order(bundle, kind):
    """Kernel log and monitor steps of one packet, sorted by hook and priority: raw before mangle before nat
    before filter, and prerouting before input."""
    report = _report(bundle, kind)
    for path in report['paths']:
        assert {s['backend'] for s in path['steps']} >= {'legacy'}
        order = [(s['hook'], s['priority']) for s in path['steps'] if s['base_chain']]
        ranks = [({'prerouting': 1, 'input': 2}[hook], priority) for hook, priority in order]
        assert ranks == sorted(ranks), order
    assert all('+' in p['format'] for p in report['packets'])


@pytest.mark.parametrize('kind', ALL_KINDS)
def test_every_step_has_rule_text_or_says_why_not(bundle, kind):
    report = build_report(str(bundle(kind, hosts=('node2',))))
    steps = [step for path in report['paths'] for step in path['steps']]
    assert steps
    for step in steps:
        assert step['rule'] or step['note'], step


@pytest.mark.parametrize('kind', ALL_KINDS)
def test_native_steps_have_their_own_hook_and_family(bundle, kind):
    report = build_report(str(bundle(kind, hosts=('node2',))))
    for path in report['paths']:
        for step in path['steps']:
            if step['backend'] == 'nftables' and step['base_chain'] and step['chain'] == 'input':
                assert step['hook'] == 'input'
    for drop in report['drops']:
        if drop['backend'] == 'nftables':
            assert step_label(drop).startswith(drop['family'] + ' ')


@pytest.mark.parametrize('kind, monitor, port', [
    ('mixed/legacy-native', 'nft-monitor.log', 80),   # the native table's drop, with only legacy traced
    ('mixed/legacy-nft', 'xtables-monitor.log', 82),  # iptables-nft's drop, without xtables-monitor's lines
])
def test_an_untraced_backend_makes_the_verdict_unknown_never_accept(bundle, kind, monitor, port):
    incident = bundle(kind, hosts=('node2',), checksums=False)
    (incident / 'node2' / 'trace' / monitor).unlink()
    report = build_report(str(incident))
    (packet,) = _by_port(report)[port]
    assert packet['verdict'] == 'unknown'
    assert 'could still drop it' in packet['verdict_reason'] and 'not in the trace' in packet['verdict_reason']
    assert ('native nftables table inet filter, chain input' if port == 80 else 'iptables-nft table ip filter, chain INPUT') \
        in packet['verdict_reason']
    assert all(p['verdict'] != 'accept' for ps in _by_port(report).values() for p in ps
               if p['summary']['dport'] in (80, 81, 82) and MIXED_KINDS[kind].get(p['summary']['dport'], ('',))[0] == 'drop')


def test_no_snapshot_no_accept(bundle):
    incident = bundle('legacy', hosts=('node2',), checksums=False)
    for path in (incident / 'node2' / 'ruleset').iterdir():
        path.unlink()
    report = build_report(str(incident))
    assert report['packets'] and all(p['verdict'] != 'accept' for p in report['packets'])
    assert all(p['verdict_reason'] for p in report['packets'] if p['verdict'] == 'unknown')


def test_reports_say_why_a_verdict_is_unknown(bundle):
    incident = bundle('mixed/legacy-native', hosts=('node2',), checksums=False)
    (incident / 'node2' / 'trace' / 'nft-monitor.log').unlink()
    report = build_report(str(incident))
    unknown = [p for p in report['paths'] if p['verdict'] == 'unknown']
    assert unknown and all(p['verdict_reason'] for p in unknown)
    markdown = render_md(report)
    assert 'Why unknown: accepted at ' in markdown
    assert 'native nftables table inet filter, chain input (input, priority 0) could still drop it' in markdown
    assert 'Why unknown: accepted at ' in render_html(report)


def test_native_chains_are_drawn_with_their_family(bundle):
    markdown = render_md(build_report(str(bundle('mixed/legacy-native', hosts=('node2',)))))
    assert re.search(r'^INPUT +inet filter/input +rule 1 .*<== decided here$', markdown, re.M), markdown


def test_flushed_tables_of_another_backend_do_not_make_accepts_unknown(bundle):
    """An iptables-nft node whose legacy tables were used once and flushed (they stay, empty and accepting)."""
    plain = build_report(str(bundle('nft', hosts=('node2',))))
    incident = bundle('nft', hosts=('node2',), checksums=False, incident='inc2')
    (incident / 'node2' / 'ruleset' / 'iptables-legacy.save').write_text(
        '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'
        '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n')
    flushed = build_report(str(incident))
    assert [p['verdict'] for p in flushed['packets']] == [p['verdict'] for p in plain['packets']]
    assert 'accept' in [p['verdict'] for p in plain['packets']]


def _edit(path, keep):
    path.write_text(''.join(line for line in path.read_text().splitlines(True) if keep(line)))


def test_a_chain_one_source_shows_only_in_part_is_no_accept(bundle):
    """The legacy-dropped :81 SYN (IP id 7852) with its kernel-log DROP line lost: the monitor's native chain
    accepted it, but legacy filter/INPUT is seen without its end, so the verdict cannot be accept."""
    incident = bundle('mixed/legacy-native', hosts=('node2',), checksums=False)
    _edit(incident / 'node2' / 'trace' / 'kernel.log',
          lambda line: not ('ID=7852' in line and 'cali-pi-_DNxril3RavGD5MfvJ7N:rule:1' in line))
    (packet,) = _by_port(build_report(str(incident)))[81]
    assert packet['verdict'] == 'unknown'
    assert packet['verdict_reason'].startswith('the trace of filter/INPUT stops at filter/cali-fh-ndt2 (rule)')


def test_a_trace_without_its_start_is_no_accept(bundle):
    """Ping 2 (IP id 9788), legacy only, with every line before its user chain lost: the ACCEPT in cali-fh-ndt2
    has no base chain (no hook, no priority), so nothing tells what could come after it."""
    incident = bundle('mixed/legacy-native', hosts=('node2',), checksums=False)
    (incident / 'node2' / 'trace' / 'nft-monitor.log').unlink()
    _edit(incident / 'node2' / 'trace' / 'kernel.log', lambda line: 'ID=9788' not in line or 'cali-fh-ndt2' in line)
    report = build_report(str(incident))
    (ping,) = [p for p in report['packets'] if p['summary'].get('ip_id') == 9788]
    assert ping['verdict'] == 'unknown' and 'has no base chain before it' in ping['verdict_reason']


def test_an_ambiguous_pairing_is_not_merged(bundle):
    """The monitor's :8080 SYN given ping 1's IP id (9712): the key now has one kernel packet and two monitor
    packets, so nothing of it is merged, and no partial record is called accepted wrongly."""
    incident = bundle('mixed/legacy-native', hosts=('node2',), checksums=False)
    monitor = incident / 'node2' / 'trace' / 'nft-monitor.log'
    monitor.write_text(monitor.read_text().replace('ip id 64143 ', 'ip id 9712 '))
    report = build_report(str(incident))
    merged = [p for p in report['packets'] if '+' in p['format']]
    assert all(p['summary']['ip_id'] not in (9712, 64143) for p in merged)
    syn_alone = [p for p in report['packets'] if p['format'] == 'nft-monitor' and p['summary'].get('dport') == 8080]
    assert syn_alone and all(p['verdict'] == 'unknown' for p in syn_alone)
    for packet in report['packets']:
        for step in packet['path']:
            assert step['table'] != 'cali-pi-_DNxril3RavGD5MfvJ7N'


def test_mixed_accepts_are_credited_to_the_explicit_rule(bundle):
    """Ping 1 on legacy + native: the native chain accepted by policy, legacy by cali-INPUT rule 5 (README)."""
    report = _report(bundle, 'mixed/legacy-native')
    (ping,) = [p for p in report['packets'] if p['summary'].get('ip_id') == 9712]
    assert ping['verdict'] == 'accept' and step_label(ping['verdict_rule']) == 'filter/cali-INPUT rule 5'


def test_a_chain_passed_but_missing_from_its_backends_trace_is_no_accept(bundle):
    """Ping 1 on legacy + iptables-nft (IP id 8252) with its kernel-log lines cut after nat PREROUTING, as if
    another packet with its id (dropped before legacy filter/INPUT) had been taken for it: the monitor shows the
    packet at input, so legacy filter/INPUT was passed, yet the legacy trace does not show it."""
    incident = bundle('mixed/legacy-nft', hosts=('node2',), checksums=False)
    _edit(incident / 'node2' / 'trace' / 'kernel.log',
          lambda line: 'ID=8252' not in line or ' TRACE: raw:' in line or ' TRACE: nat:PREROUTING' in line
          or ' TRACE: nat:cali-' in line)
    report = build_report(str(incident))
    (ping,) = [p for p in report['packets'] if p['summary'].get('ip_id') == 8252]
    assert ping['format'] == 'kernel+xtables-monitor' and ping['verdict'] == 'unknown'
    # its last step is nf_tables nat/INPUT (priority 100), past legacy filter/INPUT (0)
    assert ping['verdict_reason'].startswith('the packet passed iptables-legacy table ip filter, chain INPUT')


def test_legacy_tables_without_a_legacy_save_give_no_accept(bundle):
    """Legacy + iptables-nft traced through the monitor only, the node without iptables-legacy (no save), but
    its kernel holding legacy tables an agent made (ip_tables_names): the legacy chains are not known."""
    incident = bundle('mixed/legacy-nft', hosts=('node2',), checksums=False)
    (incident / 'node2' / 'trace' / 'kernel.log').unlink()
    (incident / 'node2' / 'ruleset' / 'iptables-legacy.save').unlink()
    (incident / 'node2' / 'ruleset' / 'ip_tables_names').write_text('nat\nfilter\nraw\n')
    report = build_report(str(incident))
    assert report['packets'] and all(p['verdict'] != 'accept' for p in report['packets'])
    (syn,) = _by_port(report)[81]
    assert syn['verdict'] == 'unknown' and 'iptables-legacy tables (filter, nat, raw)' in syn['verdict_reason']
