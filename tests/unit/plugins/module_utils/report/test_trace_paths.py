# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Acceptance: captured legacy, iptables-nft and nftables paths resolve to the right rule text and verdict -
a DROP two jumps deep in a user chain, a REJECT, a policy DROP and a RETURN (explicit and end of chain)."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.paths import decide


def _node2(incident_dir):
    report = build_report(str(incident_dir))
    for packet in report['packets']:  # the full steps (effect, hook, note) are kept once per distinct path
        packet['steps'] = report['paths'][packet['path_id']]['steps']
    return [p for p in report['packets'] if p['host'] == 'node2'], report


def _pick(packets, proto, **summary):
    found = [p for p in packets if p['summary'].get('proto', 'ip') == proto and
             all(p['summary'].get(k) == v for k, v in summary.items())]
    assert found, (proto, summary)
    return found


def _where(packet):
    rule = packet['verdict_rule']
    return (packet['verdict'], rule['table'], rule['chain'], rule['kind'], rule['rulenum'], rule['handle'],
            rule['rule'], rule['target'])


def _trail(packet):
    return [(s['table'], s['chain'], s['effect']) for s in packet['steps']]


LEGACY = {
    'deep_drop': ('drop', 'filter', 'app-deep', 'rule', 1, None, '-A app-deep -m length --length 200:65535 -j DROP',
                  'DROP'),
    'accept': ('accept', 'filter', 'app-guard', 'return', 2, None, '-A app-guard -j ACCEPT', 'ACCEPT'),
    'reject_tcp': ('reject', 'filter', 'INPUT', 'rule', 5, None,
                   '-A INPUT -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset', 'REJECT'),
    'reject_udp': ('reject', 'filter', 'INPUT', 'rule', 6, None,
                   '-A INPUT -p udp -m udp --dport 5353 -j REJECT --reject-with icmp-port-unreachable', 'REJECT'),
    'policy_drop': ('drop', 'filter', 'INPUT', 'policy', 8, None, '-P INPUT DROP', 'DROP'),
}
# iptables-nft: the same rule texts as legacy (xtables-monitor's '-4 -t filter' prefix is not kept), with handles
XTABLES = {
    'deep_drop': ('drop', 'filter', 'app-deep', 'rule', 1, 16,
                  '-A app-deep -m length --length 200:65535 -j DROP', 'DROP'),
    'accept': ('accept', 'filter', 'app-guard', 'rule', 2, 18, '-A app-guard -j ACCEPT', 'ACCEPT'),
    'reject_tcp': ('reject', 'filter', 'INPUT', 'rule', 5, 11,
                   '-A INPUT -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset', 'REJECT'),
    'reject_udp': ('reject', 'filter', 'INPUT', 'rule', 6, 12,
                   '-A INPUT -p udp -m udp --dport 5353 -j REJECT --reject-with icmp-port-unreachable', 'REJECT'),
    'policy_drop': ('drop', 'filter', 'INPUT', 'policy', None, None, '-P INPUT DROP', 'DROP'),
}
NFTABLES = {
    'deep_drop': ('drop', 'ndtrace', 'app-deep', 'rule', 1, 20, 'ip length >= 200 drop', 'drop'),
    'accept': ('accept', 'ndtrace', 'app-guard', 'rule', 2, 19, 'accept', 'accept'),
    'reject_tcp': ('reject', 'ndtrace', 'input', 'rule', 6, 13, 'tcp dport 8080 reject with tcp reset', 'reject'),
    'reject_udp': ('reject', 'ndtrace', 'input', 'rule', 7, 14, 'udp dport 5353 reject', 'reject'),
    'policy_drop': ('drop', 'ndtrace', 'input', 'policy', None, None, 'policy drop', 'drop'),
}


@pytest.mark.parametrize('kind, expected', [('legacy', LEGACY), ('nft', XTABLES), ('nftables', NFTABLES)])
def test_verdicts_and_deciding_rules(bundle, kind, expected):
    packets, _report = _node2(bundle(kind))
    big = [p for p in packets if p['summary'].get('len') == 328 and ':' not in p['summary']['src']]
    assert len(big) == 2 and all(_where(p) == expected['deep_drop'] for p in big)
    first_ping = packets[0]
    assert _where(first_ping) == expected['accept']
    assert _where(_pick(packets, 'tcp', dport=8080)[0]) == expected['reject_tcp']
    syns = _pick(packets, 'tcp', dport=9999)
    assert len(syns) == 2 and all(_where(p) == expected['policy_drop'] for p in syns)
    # xtables-monitor does not print the protocol of UDP and ICMP packets: the matched rules' -p tells
    assert _where(_pick(packets, 'udp', dport=5353)[0]) == expected['reject_udp']
    assert {p['summary']['proto'] for p in big} == {'icmp'}


@pytest.mark.parametrize('kind, chain, table', [('legacy', 'app-deep', 'filter'), ('nft', 'app-deep', 'filter'),
                                                ('nftables', 'app-deep', 'ndtrace')])
def test_drop_is_reached_through_two_jumps(bundle, kind, chain, table):
    packets, _report = _node2(bundle(kind))
    drop = next(p for p in packets if p['verdict'] == 'drop' and p['verdict_rule']['chain'] == chain)
    trail = [(c, e) for t, c, e in _trail(drop) if t == table]
    input_chain = 'input' if kind == 'nftables' else 'INPUT'
    assert trail[-5:] == [(input_chain, 'jump'), ('app-check', 'return'), (input_chain, 'jump'),
                          ('app-guard', 'jump'), ('app-deep', 'drop')]
    assert [s['hook'] for s in drop['steps'] if s['table'] == table][-5:] == ['input'] * 5


def test_legacy_return_explicit_and_end_of_chain(bundle):
    packets, _report = _node2(bundle('legacy'))
    ping = packets[0]
    explicit = next(s for s in ping['steps'] if s['chain'] == 'app-check')
    assert (explicit['kind'], explicit['rulenum'], explicit['rule'], explicit['effect']) == \
        ('rule', 1, '-A app-check -p icmp -j RETURN', 'return')
    end = next(s for s in ping['steps'] if s['chain'] == 'app-deep')
    assert (end['kind'], end['rulenum'], end['rule'], end['effect'], end['note']) == \
        ('return', 2, None, 'return', 'end of chain')
    tcp = _pick(packets, 'tcp', dport=8080)[0]
    fall_off = next(s for s in tcp['steps'] if s['chain'] == 'app-check')
    assert (fall_off['kind'], fall_off['rulenum'], fall_off['effect']) == ('return', 3, 'return')
    quirk = next(s for s in ping['steps'] if s['chain'] == 'app-guard' and s['kind'] == 'return')
    assert quirk['note'] == 'unconditional rule, reported by the kernel as return'


def test_legacy_log_lines_join_their_packet(bundle):
    packets, _report = _node2(bundle('legacy'))
    syns = _pick(packets, 'tcp', dport=9999)
    assert [p['logs'] for p in syns] == [['ndtrace policy-drop: '], ['ndtrace policy-drop: ']]
    assert len(packets) == 12  # 5 pings, 1+2+1 TCP/UDP, 3 IPv6 (one neighbour solicitation); no LOG-only packets


def test_ipv6_drop_resolved_from_nft_ruleset_when_xtables_monitor_could_not_print_the_rule(bundle):
    packets, _report = _node2(bundle('nft'))
    drop = next(p for p in packets if p['family'] == 'ip6' and p['verdict'] == 'drop')
    assert drop['verdict_rule']['handle'] == 4
    assert drop['verdict_rule']['rule'] == \
        'meta l4proto ipv6-icmp icmpv6 type echo-request meta length 300-65535 counter drop'


@pytest.mark.parametrize('kind, host, packets, trace_ids', [
    ('nft', 'node2', 11, 11), ('nftables', 'node2', 11, 10), ('nftables', 'node1', 13, 12)])
def test_reused_trace_ids_split_into_packets(bundle, kind, host, packets, trace_ids):
    report = build_report(str(bundle(kind)))
    mine = [p for p in report['packets'] if p['host'] == host]
    assert len(mine) == packets
    assert len({p['trace_id'] for p in mine}) == trace_ids


def test_capture_ended_mid_path_gives_unknown(bundle):
    incident = bundle('legacy', checksums=False)
    trace = incident / 'node2' / 'trace' / 'dmesg.log'
    lines = trace.read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if 'LEN=328' in line and 'app-deep:rule:1' in line)
    trace.write_text('\n'.join(lines[:cut]) + '\n')
    report = build_report(str(incident))
    cut_packet = [p for p in report['packets'] if p['host'] == 'node2' and p['summary'].get('len') == 328][0]
    assert cut_packet['verdict'] == 'unknown' and cut_packet['verdict_rule'] is None
    assert cut_packet['path'][-1]['chain'] == 'app-guard'
    assert report['hosts']['node2']['errors'] == []


def test_without_snapshot_legacy_verdicts_are_unknown(bundle):
    incident = bundle('legacy', checksums=False)
    for path in (incident / 'node2' / 'ruleset').iterdir():
        path.unlink()
    report = build_report(str(incident))
    node2 = [p for p in report['packets'] if p['host'] == 'node2']
    assert {p['verdict'] for p in node2} == {'unknown'}
    assert any('no ruleset snapshot' in e for e in report['hosts']['node2']['errors'])


def test_monitor_verdicts_need_no_snapshot(bundle):
    incident = bundle('nftables', checksums=False)
    for path in (incident / 'node2' / 'ruleset').iterdir():
        path.unlink()
    node2 = [p for p in build_report(str(incident))['packets'] if p['host'] == 'node2']
    assert sorted(p['verdict'] for p in node2).count('drop') == 4
    assert sorted(p['verdict'] for p in node2).count('reject') == 2


def test_a_looped_back_packet_is_never_accepted():
    """Output, then prerouting and input (a packet to a local address, through lo): no accept without a known
    order of its hooks."""
    def step(hook, priority, effect='accept'):
        return {'hook': hook, 'priority': priority, 'effect': effect, 'base': ('legacy', 'ip', 'filter', hook),
                'backend': 'legacy', 'table': 'filter', 'chain': hook.upper(), 'kind': 'policy',
                'chain_type': 'filter'}
    path = [step('output', 0), step('postrouting', 0), step('prerouting', 0), step('input', 0)]
    verdict, deciding, reason = decide(path, [], None)
    assert (verdict, deciding) == ('unknown', None) and 'loopback' in reason
    path[3] = step('input', 0, effect='drop')
    assert decide(path, [], None)[0] == 'drop'
