# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's drops joined to the traced packets (issue 18): a recorded bundle, and the join's rules case by case."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis import kernel_drops
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_md import render_md

BUNDLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'trace', 'kernel-drops', 'kdrops-1')


@pytest.fixture(scope='module')
def report():
    return build_report(BUNDLE)


def _packet(report, host, dport):
    found = [p for p in report['packets'] if p['host'] == host and p['summary'].get('dport') == dport]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize('host, dport, reason, location', [
    ('node2', 53, 'IP_RPFILTER', 'ip_rcv_finish_core'),
    ('node2', 9, 'NO_SOCKET', '__udp4_lib_rcv'),
])
def test_a_drop_no_rule_made_is_a_drop_with_the_kernels_reason(report, host, dport, reason, location):
    packet = _packet(report, host, dport)
    assert (packet['verdict'], packet['verdict_rule']) == ('drop', None)
    assert (packet['kernel_drop']['reason'], packet['kernel_drop']['location']) == (reason, location)
    assert packet['verdict_reason'].startswith('dropped by the kernel, not by a rule: %s (%s), after ' % (reason, location))


@pytest.mark.parametrize('host, backend, location', [('node2', 'nf_tables', 'nft_do_chain'),
                                                     ('node3', 'legacy', 'nf_hook_slow')])
def test_a_rules_drop_keeps_the_rule_and_the_kernels_location(report, host, backend, location):
    packet = _packet(report, host, 7)
    assert packet['verdict_rule']['backend'] == backend and packet['verdict_rule']['chain'] == 'INPUT'
    assert (packet['kernel_drop']['reason'], packet['kernel_drop']['location']) == ('NETFILTER_DROP', location)


def test_node3s_kernel_log_line_joins_by_the_kernels_own_stamp(report):
    packet = _packet(report, 'node3', 7)
    assert packet['clock'] == 'boot' and packet['controller_ts'] is None


def test_the_findings_come_first_and_say_what_dropped_each(report):
    assert report['findings'][:2] == [
        'node2: 1 traced packet dropped at filter/INPUT rule 1',
        'node2: 1 traced packet dropped by the kernel, reason IP_RPFILTER (ip_rcv_finish_core), and 1 by rules']
    assert 'node3: 1 traced packet dropped at filter/INPUT rule 1' in report['findings']
    assert report['kernel_drops'][0]['hosts'] == ['node1', 'node2', 'node3']
    assert report['kernel_drops'][0]['joined'] == 4
    text = render_md(report)
    assert text.index('## Findings') < text.index('## Verdicts')


def test_one_kernel_one_pool(report):
    """Three instances on one kernel stamp each drop a few microseconds apart: counted once, not three times."""
    group = report['kernel_drops'][0]
    assert group['events'] == 4 and group['unjoined'] == []


def test_a_bundle_without_drop_reasons_reports_as_before(tmp_path):
    copy = tmp_path / 'kdrops-1'
    shutil.copytree(BUNDLE, str(copy))
    manifest = json.loads((copy / 'manifest.json').read_text())
    for name, entry in manifest['hosts'].items():
        os.remove(str(copy / name / 'drop-reasons.json'))
        entry['files'] = [f for f in entry['files'] if f['path'] != 'drop-reasons.json']
        entry['drop_reasons'] = None
    (copy / 'manifest.json').write_text(json.dumps(manifest))
    plain = build_report(str(copy))
    assert plain['kernel_drops'] == []
    assert _packet(plain, 'node2', 53)['verdict'] == 'unknown'  # last seen at prerouting: never an accept
    assert _packet(plain, 'node2', 9)['verdict'] == 'accept'  # what a capture without drop reasons can say


def record(host, verdict, ts, last_hook, backend=None, clock='wall', family='ip', proto=None):
    """(a report record, the last hook of its path)"""
    return ({'host': host, 'verdict': verdict, 'verdict_rule': {'backend': backend} if backend else None,
             'verdict_reason': None, 'family': family, 'clock': clock,
             'controller_ts': ts if clock == 'wall' else None, 'ts': ts,
             'summary': {'proto': proto} if proto else {}}, last_hook)


@pytest.mark.parametrize('name, records, event, joined', [
    ('routing reason prefers the packet last seen at prerouting',
     [record('n', 'accept', 10.0, 'input'), record('n', 'unknown', 10.0, 'prerouting')],
     (10.0, 'ipv4', 'IP_RPFILTER', 'ip_rcv_finish_core'), 1),
    ('a routing reason never joins a packet past routing', [record('n', 'accept', 10.0, 'input')],
     (10.0, 'ipv4', 'IP_RPFILTER', 'ip_rcv_finish_core'), None),
    ('local delivery reason prefers input',
     [record('n', 'unknown', 10.0, 'prerouting'), record('n', 'accept', 10.0, 'input')],
     (10.0, 'ipv4', 'NO_SOCKET', '__udp4_lib_rcv'), 1),
    ('a send-path reason needs a packet on its way out',
     [record('n', 'accept', 10.0, 'input')], (10.0, 'ipv4', 'NEIGH_FAILED', 'neigh_invalidate'), None),
    ('an echo reply freed after a raw socket took it is never joined', [record('n', 'accept', 10.0, 'input')],
     (10.0, 'ipv4', 'NO_SOCKET', 'ping_rcv'), None),
    ('NOT_SPECIFIED is never joined', [record('n', 'accept', 10.0, 'input')],
     (10.0, 'ipv4', 'NOT_SPECIFIED', 'icmpv6_rcv'), None),
    ('another family is another packet', [record('n', 'accept', 10.0, 'input', family='ip6')],
     (10.0, 'ipv4', 'NO_SOCKET', '__udp4_lib_rcv'), None),
    ('too far in time', [record('n', 'accept', 10.0, 'input')], (11.5, 'ipv4', 'NO_SOCKET', '__udp4_lib_rcv'), None),
    ('nf_tables chain walk is never a legacy rule',
     [record('n', 'drop', 10.0, 'input', backend='legacy'), record('n', 'drop', 10.3, 'input', backend='nf_tables')],
     (10.0, 'ipv4', 'NETFILTER_DROP', 'nft_do_chain'), 1),
    ('a rule drop first, then a packet no rule dropped (conntrack)',
     [record('n', 'unknown', 10.0, 'prerouting'), record('n', 'drop', 10.2, 'input', backend='nf_tables')],
     (10.0, 'ipv4', 'NETFILTER_DROP', 'nf_hook_slow'), 1),
    ('conntrack dropped a packet no rule dropped', [record('n', 'unknown', 10.0, 'prerouting')],
     (10.0, 'ipv4', 'NETFILTER_DROP', 'nf_hook_slow'), 0),
    ('another kernel\'s host is not a candidate', [record('other', 'accept', 10.0, 'input')],
     (10.0, 'ipv4', 'NO_SOCKET', '__udp4_lib_rcv'), None),
    ('a TCP drop is never a UDP packet\'s', [record('n', 'accept', 10.0, 'input', proto='udp')],
     (10.0, 'ipv4', 'TCP_OLD_DATA', 'tcp_data_queue'), None),
    ('a UDP drop is a UDP packet\'s', [record('n', 'accept', 10.0, 'input', proto='udp')],
     (10.0, 'ipv4', 'NO_SOCKET', '__udp4_lib_rcv'), 0),
    ('a kernel-log line joins by the kernel\'s stamp', [record('n', 'accept', 1362.5, 'input', clock='boot')],
     (10.0, 'ipv4', 'NO_SOCKET', '__udp4_lib_rcv', 1362.4), 0),
])
def test_join(name, records, event, joined):
    last_hooks = [hook for _r, hook in records]
    records = [r for r, _hook in records]
    event = event if len(event) == 5 else event + (event[0],)  # the kernel's stamp: the time, unless given
    unjoined, _flipped = kernel_drops.join(records, last_hooks, {'n'}, [event], {'n': 1})
    got = [i for i, r in enumerate(records) if r.get('kernel_drop')]
    assert got == ([] if joined is None else [joined]), name
    assert (unjoined == []) == (joined is not None), name


def test_findings_order_most_severe_first():
    from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.findings import findings
    kernel = [{'hosts': ['node2'], 'lost': 1204, 'unjoined': [
        {'reason': 'NOT_SPECIFIED', 'location': 'icmpv6_rcv', 'family': 'ipv6', 'packets': 12},
        {'reason': 'IP_RPFILTER', 'location': 'ip_rcv_finish_core', 'family': 'ipv4', 'packets': 412},
        {'reason': 'NETFILTER_DROP', 'location': 'nf_hook_slow', 'family': 'ipv4', 'packets': 3}]}]
    hosts = {'node2': {'drop_reasons': {'available': True}},
             'node3': {'drop_reasons': {'available': False, 'why': 'drop reasons not available on this kernel: the '
                                                                   'skb:kfree_skb event has no reason field (Linux '
                                                                   'before 5.17)'}}}
    drops = [{'host': 'node2', 'verdict': 'drop', 'packets': 2, 'chain': None,
              'kernel_drop': {'reason': 'NO_SOCKET', 'location': '__udp4_lib_rcv'}}]
    assert findings(drops, kernel, hosts) == [
        'node2: 2 traced packets dropped by the kernel, reason NO_SOCKET (__udp4_lib_rcv), none by a rule',
        'node2: 412 IPv4 packets dropped by the kernel, reason IP_RPFILTER (ip_rcv_finish_core), none of them traced',
        'node2: 3 IPv4 packets dropped by netfilter (NETFILTER_DROP at nf_hook_slow), none of them traced',
        'node2: 1,204 packets dropped by the kernel were not recorded (the drop-reason buffer was full)',
        'node2: 12 packets dropped by the kernel without a reason (NOT_SPECIFIED), not joined to any packet',
        'node3: drop reasons not available on this kernel: the skb:kfree_skb event has no reason field (Linux before '
        '5.17)']


@pytest.mark.parametrize('recorded, expected', [
    ({'start': {'counters': {'insert_failed': 10, 'drop': 0, 'invalid': 1}, 'count': 5, 'max': 100},
      'stop': {'counters': {'insert_failed': 1214, 'drop': 3, 'invalid': 1}, 'count': 98, 'max': 100}},
     ['node3: conntrack table 98% full (98 of 100 entries), insert_failed +1,204, drop +3 during the window']),
    ({'start': {'counters': {'invalid': 1}, 'count': 5, 'max': 100},
      'stop': {'counters': {'invalid': 13}, 'count': 6, 'max': 100}},
     ['node3: conntrack invalid +12 during the window']),
    ({'start': {'counters': {}, 'count': 5, 'max': 100}, 'stop': {'counters': {}, 'count': 6, 'max': 100}}, []),
    ({'start': None, 'stop': {'counters': {'drop': 5}, 'count': 6, 'max': 100}}, []),  # conntrack loaded meanwhile
])
def test_conntrack_over_the_window(recorded, expected):
    from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.findings import findings
    hosts = {'node3': {'conntrack_window': kernel_drops.conntrack_window(recorded)}}
    assert findings([], [], hosts) == expected


def test_conntrack_counters_are_read_per_namespace_from_proc(tmp_path):
    from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import conntrack_counters
    stat = tmp_path / 'nf_conntrack'
    stat.write_text('entries  clashres found new invalid ignore delete chainlength insert insert_failed drop '
                    'early_drop icmp_error  expect_new expect_create expect_delete search_restart\n'
                    + '00000003  00000000 00000000 00000000 00000002 00000000 00000000 00000000 00000000 00000010 '
                      '00000001 00000000 00000000  00000000 00000000 00000000 00000000\n' * 2)
    (tmp_path / 'count').write_text('3\n')
    (tmp_path / 'max').write_text('262144\n')
    found = conntrack_counters.read(str(stat), str(tmp_path / 'count'), str(tmp_path / 'max'))
    assert (found['counters']['insert_failed'], found['counters']['invalid'], found['count'], found['max']) == (
        32, 4, 3, 262144)
    assert conntrack_counters.read(str(tmp_path / 'missing')) is None


def test_the_join_takes_the_best_pairs_first_and_conntracks_drops_within_its_count():
    """An untraced packet's rule drop, earlier and nearer, must not take the traced packet's rule drop and leave
    that drop to flip an accepted packet; and a NETFILTER_DROP flips a packet no rule dropped only while the host's
    conntrack counted drops."""
    records = [record('n', 'drop', 10.4, 'input', backend='nf_tables')[0], record('n', 'accept', 10.2, 'input')[0],
               record('n', 'unknown', 10.3, 'prerouting')[0]]
    hooks = ['input', 'input', 'prerouting']
    events = [(10.0, 'ipv4', 'NETFILTER_DROP', 'nft_do_chain', 10.0),
              (10.39, 'ipv4', 'NETFILTER_DROP', 'nft_do_chain', 10.39)]
    unjoined, flipped = kernel_drops.join(records, hooks, {'n'}, events)
    assert records[0]['kernel_drop']['ts'] == 10.39 and flipped == [] and len(unjoined) == 1
    assert records[1]['verdict'] == 'accept' and records[2]['verdict'] == 'unknown'
    unjoined, flipped = kernel_drops.join(records, hooks, {'n'}, events[:1], {'n': 1})
    assert flipped == [(2, 'unknown')] and unjoined == []
    assert records[2]['verdict_reason'].startswith('dropped by netfilter, not by a traced rule')
    assert records[1]['verdict'] == 'accept'


@pytest.mark.parametrize('reason, location, protocol', [
    ('TCP_OLD_DATA', 'tcp_data_queue', 'tcp'), ('NO_SOCKET', '__udp4_lib_rcv', 'udp'),
    ('NO_SOCKET', 'tcp_v4_rcv', 'tcp'), ('NOT_SPECIFIED', 'icmpv6_rcv', 'icmp'), ('UDP_CSUM', None, 'udp'),
    ('IP_RPFILTER', 'ip_rcv_finish_core', None), ('NETFILTER_DROP', 'nf_hook_slow', None),
])
def test_what_a_drop_says_of_its_protocol(reason, location, protocol):
    assert kernel_drops.drop_protocol(reason, location) == protocol
