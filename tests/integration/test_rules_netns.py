# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables_trace and iptables_log on the netns lab, over SSH with Ansible.

node1 holds legacy rules (variant legacy), node2 iptables-nft rules (nf_tables), node3 both (mixed); all three
carry Calico- and kube-proxy-like hooks. The lab sets net.netfilter.nf_log_all_netns=1 while it is up, so that
LOG and legacy TRACE lines from the nodes' namespaces reach this machine's kernel log, read here from /dev/kmsg.
"""

from __future__ import annotations

import random

import pytest

import rules_support as rs

TRACE = 'netdebug.netfilter.iptables_trace'
LOG = 'netdebug.netfilter.iptables_log'
NODE1 = '198.18.0.1'


@pytest.fixture(scope='module')
def nodes(netns_lab, lab_ansible):
    with rs.SshRetries():
        yield from _nodes(netns_lab, lab_ansible)


def _nodes(netns_lab, lab_ansible):
    for node in ('node1', 'node2', 'node3'):
        rs.reset(netns_lab, node)
    rs.load(netns_lab, 'node1', 'iptables-legacy-restore')
    rs.load(netns_lab, 'node2', 'iptables-nft-restore')
    rs.load(netns_lab, 'node3', 'iptables-legacy-restore')
    rs.load(netns_lab, 'node3', 'iptables-nft-restore', '*raw\n:PREROUTING ACCEPT [0:0]\n'
            '-A PREROUTING -s 198.18.0.200/32 -j ACCEPT\nCOMMIT\n')
    yield netns_lab
    lab_ansible.module('node1,node2,node3', TRACE, {'run_id': '*', 'state': 'absent'})
    for node in ('node1', 'node2', 'node3'):
        rs.reset(netns_lab, node)


def ok(result, host):
    status = result.statuses().get(host)
    assert status == 'ok', result
    return result.by_host()[host]


def failed(result, host):
    assert result.statuses().get(host) == 'failed', result
    return result.by_host()[host]


def port():
    return random.randint(20000, 60000)


# -- detection and the three variants -------------------------------------------------------------------------------
@pytest.mark.parametrize('node, backends, variant', [('node1', ['legacy'], 'legacy'), ('node2', ['nft'], 'nf_tables'),
                                                     ('node3', ['legacy', 'nft'], 'mixed')])
def test_auto_follows_the_variant(nodes, lab_ansible, node, backends, variant):
    res = ok(lab_ansible.module(node, TRACE, {'protocol': 'icmp', 'source': NODE1, 'ttl': 60}, check=True), node)
    assert res['backends'] == backends and res['variant'] == variant and res['changed']
    # PREROUTING and OUTPUT per backend, each a rate-limited TRACE rule and the count rule above it
    assert len(res['rules']) == 4 * len(backends)
    assert [r['rule'].endswith('-j TRACE') for r in res['rules']] == [True, False] * 2 * len(backends)


def test_nft_trace_through_the_monitor(nodes, lab_ansible):
    before = rs.ruleset(nodes, 'node2')
    dport = port()
    res = ok(lab_ansible.module('node2', TRACE, {'run_id': 'nftmon', 'protocol': 'udp', 'source': NODE1,
                                                 'destination_port': str(dport), 'ttl': 120}), 'node2')
    assert res['backend'] == 'nft' and res['capture_files'] == ['/run/netdebug/runs/nftmon/nft.trace']
    assert not res['kernel_log']
    assert any('kube-proxy' in w or 'calico' in w for w in res.get('warnings', [])), res.get('warnings')
    rule = [r['rule'] for r in res['rules'] if r['chain'] == 'PREROUTING'][0]
    assert 'netdebug:nftmon:%d' % res['expires_at'] in rule and '-j TRACE' in rule
    assert rs.processes(nodes, 'node2', 'xtables-monitor --trace')
    rs.udp_probe(nodes, 'node1', '198.18.0.2', dport)
    text = rs.wait_for_text(nodes, 'node2', res['capture_files'][0], 'raw:PREROUTING')
    assert 'raw:PREROUTING:rule:0x' in text and 'SRC=198.18.0.1' in text
    assert 'netdebug:nftmon:' in text  # xtables-monitor prints our rule with its tag
    gone = ok(lab_ansible.module('node2', TRACE, {'run_id': 'nftmon', 'state': 'absent'}, diff=True), 'node2')
    assert gone['changed'] and len(gone['removed']['rules']) == 4 and gone['removed']['monitors']
    # the real counters: the probe's 3 datagrams matched in PREROUTING only, and the rate limit let them through
    assert gone['packets']['matched'] == 3 and gone['packets']['untraced'] == 0, gone['packets']
    assert sorted((c['chain'], c['matched'], c['traced']) for c in gone['packets']['rules']) == [
        ('OUTPUT', 0, 0), ('PREROUTING', 3, 3)], gone['packets']
    assert not rs.processes(nodes, 'node2', 'xtables-monitor')
    assert rs.ruleset(nodes, 'node2') == before
    assert rs.read_file(nodes, 'node2', res['capture_files'][0])  # the capture stays for collection


def test_native_nftables_trace_and_log(nodes, lab_ansible):
    before = rs.ruleset(nodes, 'node2')
    klog = rs.KernelLog()
    try:
        dport = port()
        trace = ok(lab_ansible.module('node2', TRACE, {'run_id': 'native', 'backend': 'nftables', 'protocol': 'udp',
                                                       'destination_port': str(dport), 'ttl': 120}), 'node2')
        log = ok(lab_ansible.module('node2', LOG, {'run_id': 'native', 'backend': 'nftables', 'protocol': 'udp',
                                                   'destination_port': str(dport), 'log_prefix': 'ndnative%d ' % dport,
                                                   'ttl': 120}), 'node2')
        assert trace['capture_files'] == ['/run/netdebug/runs/native/nftables.trace']
        table = rs.run(nodes, 'node2', ['nft', 'list', 'table', 'inet', 'netdebug'])
        assert 'hook prerouting priority raw - 10' in table and 'meta nftrace set 1' in table
        assert 'log prefix "ndnative%d " level debug' % dport in table and 'limit rate 5/second' in table
        rs.udp_probe(nodes, 'node1', '198.18.0.2', dport)
        capture = rs.wait_for_text(nodes, 'node2', trace['capture_files'][0], 'inet netdebug raw_prerouting')
        assert 'dport %d' % dport in capture
        lines = rs.wait_until(lambda: [l for l in klog.read() if 'ndnative%d' % dport in l], 10, what='LOG lines')
        assert 'DPT=%d' % dport in lines[0]
    finally:
        klog.close()
    gone = ok(lab_ansible.module('node2', TRACE, {'run_id': 'native', 'state': 'absent'}), 'node2')
    # the counters before and after the rule's limit (the LOG rule of the run is not counted)
    assert sorted((c['backend'], c['chain'], c['matched'], c['traced']) for c in gone['packets']['rules']) == [
        ('nftables', 'raw_output', 0, 0), ('nftables', 'raw_prerouting', 3, 3)], gone['packets']
    assert rs.run(nodes, 'node2', ['nft', 'list', 'table', 'inet', 'netdebug'], check=False) == ''
    assert rs.ruleset(nodes, 'node2') == before


def test_legacy_trace_reaches_the_kernel_log(nodes, lab_ansible):
    before = rs.ruleset(nodes, 'node1')
    klog = rs.KernelLog()
    try:
        dport = port()
        res = ok(lab_ansible.module('node1', TRACE, {'run_id': 'legacy', 'protocol': 'udp', 'source': NODE1,
                                                     'destination_port': str(dport)}), 'node1')
        assert res['backend'] == 'legacy' and res['kernel_log'] and res['capture_files'] == []
        rs.udp_probe(nodes, 'node2', '198.18.0.1', dport)  # source 198.18.0.2: must not be traced
        rs.udp_probe(nodes, 'node1', '198.18.0.2', dport)  # node1's own output: traced in raw OUTPUT
        lines = rs.wait_until(lambda: [l for l in klog.read() if 'TRACE:' in l and 'DPT=%d' % dport in l], 10,
                              what='legacy TRACE lines')
        # Neither the count rule (rule 1) nor the TRACE rule (rule 2) is logged: the lines start after them (raw
        # OUTPUT policy), then filter OUTPUT.
        assert any(l.startswith('TRACE: raw:OUTPUT:policy:3 ') for l in lines), lines
        assert any(l.startswith('TRACE: filter:OUTPUT:') for l in lines), lines
        assert all('SRC=198.18.0.1 ' in l for l in lines), lines
    finally:
        klog.close()
        ok(lab_ansible.module('node1', TRACE, {'run_id': 'legacy', 'state': 'absent'}), 'node1')
    assert rs.ruleset(nodes, 'node1') == before


def test_legacy_trace_needs_a_logger(nodes, lab_ansible):
    before = rs.ruleset(nodes, 'node1')
    rs.sh(nodes, 'node1', 'echo NONE > /proc/sys/net/netfilter/nf_log/2')
    try:
        res = failed(lab_ansible.module('node1', TRACE, {'run_id': 'nolog', 'protocol': 'icmp'}), 'node1')
        assert 'no logger is bound for ipv4' in res['msg'] and 'netdebug.netfilter.nf_log' in res['msg']
    finally:
        rs.sh(nodes, 'node1', 'echo nf_log_ipv4 > /proc/sys/net/netfilter/nf_log/2')
    assert rs.ruleset(nodes, 'node1') == before


def test_mixed_node_traces_both_sides(nodes, lab_ansible):
    before = rs.ruleset(nodes, 'node3')
    klog = rs.KernelLog()
    try:
        dport = port()
        res = ok(lab_ansible.module('node3', TRACE, {'run_id': 'mixed', 'protocol': 'udp',
                                                     'destination_port': str(dport), 'hooks': ['PREROUTING']}),
                 'node3')
        assert res['backends'] == ['legacy', 'nft'] and res['kernel_log']
        assert res['capture_files'] == ['/run/netdebug/runs/mixed/nft.trace']
        rs.udp_probe(nodes, 'node1', '198.18.0.3', dport)
        kernel = rs.wait_until(lambda: [l for l in klog.read() if 'TRACE:' in l and 'DPT=%d' % dport in l], 10,
                               what='legacy TRACE lines of the mixed node')
        assert any(l.startswith('TRACE: raw:PREROUTING:') for l in kernel)
        monitor = rs.wait_for_text(nodes, 'node3', res['capture_files'][0], 'raw:PREROUTING')
        assert 'SRC=198.18.0.1' in monitor
    finally:
        klog.close()
    ok(lab_ansible.module('node3', TRACE, {'run_id': 'mixed', 'state': 'absent'}), 'node3')
    assert rs.ruleset(nodes, 'node3') == before


# -- four steps ----------------------------------------------------------------------------------------------------
FOUR_STEP = [
    ('node1', TRACE, {'backend': 'auto', 'protocol': 'icmp', 'source': NODE1}),
    ('node2', TRACE, {'backend': 'auto', 'protocol': 'tcp', 'destination_port': '443', 'ip_version': 'ipv4'}),
    ('node2', TRACE, {'backend': 'nftables', 'protocol': 'udp', 'ip_version': 'both', 'destination_port': '53'}),
    ('node3', TRACE, {'backend': 'auto', 'protocol': 'icmp'}),
    ('node1', LOG, {'table': 'filter', 'chain': 'app-guard', 'protocol': 'tcp', 'destination_port': '9'}),
    ('node2', LOG, {'table': 'filter', 'chain': 'INPUT', 'position': 2, 'target': 'NFLOG', 'nflog_group': 7}),
    ('node2', LOG, {'backend': 'nftables', 'table': 'filter', 'chain': 'INPUT', 'unlimited': True}),
]


@pytest.mark.parametrize('node, module, args', FOUR_STEP)
def test_four_steps(nodes, lab_ansible, node, module, args):
    before = rs.ruleset(nodes, node)
    args = dict(args, run_id='four', ttl=300)
    check = ok(lab_ansible.module(node, module, args, check=True, diff=True), node)
    assert check['changed'] and check['rules'] and check['diff']['after']
    assert rs.ruleset(nodes, node) == before  # check mode changed nothing
    assert not rs.processes(nodes, node, '--run-id four ') and not rs.processes(nodes, node, 'monitor')
    try:
        _applied_steps(nodes, lab_ansible, node, module, args, check)
    finally:
        lab_ansible.module(node, module, {'run_id': 'four', 'state': 'absent'})
    assert not rs.processes(nodes, node, '--run-id four ') and not rs.processes(nodes, node, 'monitor')
    assert rs.ruleset(nodes, node) == before


def _applied_steps(nodes, lab_ansible, node, module, args, check):
    first = ok(lab_ansible.module(node, module, args, diff=True), node)
    assert first['changed'] and len(first['rules']) == len(check['rules'])
    assert len(rs.tagged_lines(nodes, node, 'four')) >= len(first['rules'])
    assert first['diff']['after'].count('netdebug:four:') == len(first['rules'])
    second_check = ok(lab_ansible.module(node, module, args, check=True), node)
    assert not second_check['changed'] and second_check['rules'] == first['rules']
    second = ok(lab_ansible.module(node, module, args), node)
    assert not second['changed'] and second['rules'] == first['rules']
    assert rs.processes(nodes, node, 'reap.py --root /run/netdebug --run-id four')
    gone = ok(lab_ansible.module(node, module, {'run_id': 'four', 'state': 'absent'}, diff=True), node)
    assert gone['changed'] and 'netdebug:four:' in gone['diff']['before']
    again = ok(lab_ansible.module(node, module, {'run_id': 'four', 'state': 'absent'}), node)
    assert not again['changed']


# -- bad input changes nothing -------------------------------------------------------------------------------------
BAD = [
    (LOG, {'log_prefix': 'x' * 30}, 'log_prefix: is 30 characters long; the kernel keeps at most 29 characters'),
    (TRACE, {'source': '2001:db8::1'}, 'source: 2001:db8::1 is an IPv6 address but ip_version is ipv4'),
    (TRACE, {'destination_port': '80'}, 'destination_port: ports need protocol tcp, udp or sctp'),
    (LOG, {'table': 'filter', 'chain': 'no-such-chain'}, 'chain: '),
    (TRACE, {'run_id': 'bad id'}, 'run_id: '),
    (TRACE, {'ttl': 0}, 'ttl: '),
    (TRACE, {'ttl': 86401}, 'ttl: '),
    (TRACE, {'protocol': 'tcp', 'match_extra': ['-m', 'owner', '--uid-owner', '0'], 'hooks': ['PREROUTING']},
     'match_extra: the kernel rejected the rule'),
    (TRACE, {'match_extra': ['-m', 'length', '--length', '99999:1']}, 'match_extra: the kernel rejected the rule'),
    # Options smuggled past a token list (issue 15): a second comment made the rule unrecognisable to its owner.
    (TRACE, {'match_extra': ['-mcomment', '--comment=x']}, "match_extra: '-mcomment' is not allowed"),
    (LOG, {'match_extra': ['--jum', 'ACCEPT']}, "match_extra: '--jum' is not allowed"),
    (TRACE, {'backend': 'nftables', 'match_extra': ['meta l4proto tcp drop']}, "the nft word 'drop'"),
]


@pytest.mark.parametrize('node', ['node1', 'node2'])
@pytest.mark.parametrize('module, args, message', BAD)
def test_bad_input_changes_nothing(nodes, lab_ansible, node, module, args, message):
    before = rs.ruleset(nodes, node)
    res = failed(lab_ansible.module(node, module, dict({'run_id': 'bad', 'ttl': 60}, **args)), node)
    assert message in res['msg'], res['msg']
    assert rs.ruleset(nodes, node) == before
    assert not rs.processes(nodes, node, '--run-id bad ') and not rs.processes(nodes, node, 'monitor')
    assert not rs.read_file(nodes, node, '/run/netdebug/runs/bad/run.json')


@pytest.mark.parametrize('node, tool', [('node1', 'iptables-legacy'), ('node2', 'iptables-nft')])
def test_a_rule_with_our_tag_and_another_comment_is_removed(nodes, lab_ansible, node, tool):
    # What a smuggled comment left on every node before issue 15: our tag beside another comment. absent '*'
    # (the cleanup playbook's call) finds it by its tag, removes it and says it was not as we insert them.
    before = rs.ruleset(nodes, node)
    rs.run(nodes, node, [tool, '-w', '10', '-t', 'raw', '-I', 'PREROUTING', '-p', 'icmp', '-m', 'comment',
                         '--comment', 'x', '-m', 'comment', '--comment', 'netdebug:smuggled:4102444800', '-j', 'TRACE'])
    assert rs.ruleset(nodes, node) != before
    res = ok(lab_ansible.module(node, TRACE, {'run_id': '*', 'state': 'absent'}), node)
    assert [(r['run_id'], r['verified']) for r in res['removed']['rules']] == [('smuggled', False)]
    assert any('not as netdebug inserts them' in w for w in res.get('warnings', [])), res.get('warnings')
    assert rs.ruleset(nodes, node) == before


def test_absent_star_removes_every_run(nodes, lab_ansible):
    before = rs.ruleset(nodes, 'node2')
    for run_id, backend in (('s1', 'auto'), ('s2', 'nftables')):
        ok(lab_ansible.module('node2', TRACE, {'run_id': run_id, 'backend': backend, 'protocol': 'icmp'}), 'node2')
    ok(lab_ansible.module('node2', LOG, {'run_id': 's3', 'table': 'filter', 'chain': 'app-guard'}), 'node2')
    assert len(rs.processes(nodes, 'node2', 'reap.py')) == 3 and len(rs.processes(nodes, 'node2', 'monitor')) >= 2
    check = ok(lab_ansible.module('node2', TRACE, {'run_id': '*', 'state': 'absent'}, check=True), 'node2')
    # s1: TRACE and count rules in PREROUTING and OUTPUT; s2: one nftables rule per hook; s3: one LOG rule
    assert check['changed'] and len(check['removed']['rules']) == 7
    res = ok(lab_ansible.module('node2', LOG, {'run_id': '*', 'state': 'absent'}), 'node2')
    assert res['changed'] and len(res['removed']['rules']) == 7 and len(res['removed']['reapers']) == 3
    assert not rs.processes(nodes, 'node2', 'reap.py') and not rs.processes(nodes, 'node2', 'monitor')
    assert rs.ruleset(nodes, 'node2') == before
