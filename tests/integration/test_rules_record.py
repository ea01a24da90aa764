# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables_trace record_rulesets and monitors_died on the netns lab, over SSH with Ansible.

node1 holds legacy rules, node2 iptables-nft rules (both with Calico- and kube-proxy-like hooks). The recorded
files are read back from the node and compared with what netfilter_info returns for the same ruleset.
"""

from __future__ import annotations

import json

import pytest

import rules_support as rs

TRACE = 'netdebug.netfilter.iptables_trace'
INFO = 'netdebug.netfilter.netfilter_info'
NODE1 = '198.18.0.1'
# node -> (iptables command of its variant, the listing that holds our rules there)
VARIANTS = {'node1': ('iptables-legacy', 'iptables-legacy.save'), 'node2': ('iptables-nft', 'iptables-nft.save')}
CHAIN = 'ndtest-record'  # created and removed by the tests here


@pytest.fixture(scope='module')
def nodes(netns_lab, lab_ansible):
    with rs.SshRetries():
        for node in VARIANTS:
            rs.reset(netns_lab, node)
            rs.load(netns_lab, node, VARIANTS[node][0] + '-restore')
        yield netns_lab
        lab_ansible.module('node1,node2', TRACE, {'run_id': '*', 'state': 'absent'})
        for node in VARIANTS:
            rs.reset(netns_lab, node)


def ok(result, host):
    assert result.statuses().get(host) == 'ok', result
    return result.by_host()[host]


def read_json(lab, node, path):
    return json.loads(rs.read_file(lab, node, path))


def start(lab_ansible, node, run_id):
    return ok(lab_ansible.module(node, TRACE, {'run_id': run_id, 'protocol': 'icmp', 'source': NODE1, 'ttl': 120,
                                               'record_rulesets': True}), node)


def stop(lab_ansible, node, run_id):
    return ok(lab_ansible.module(node, TRACE, {'run_id': run_id, 'state': 'absent', 'record_rulesets': True}), node)


@pytest.mark.parametrize('node', sorted(VARIANTS))
def test_record_before_listings_after(nodes, lab_ansible, node):
    run_id = 'rec-' + node
    base = '/run/netdebug/runs/%s/ruleset' % run_id
    info = ok(lab_ansible.module(node, INFO, {'snapshot': True, 'include_nft': True}), node)['snapshot']
    res = start(lab_ansible, node, run_id)
    assert res['record_dir'] == base
    listing = VARIANTS[node][1]
    assert {'before.json', 'before/' + listing, listing, 'nft.ruleset'} <= set(res['recorded'])
    before_text = rs.read_file(nodes, node, base + '/before.json')
    assert json.loads(before_text) == info and 'netdebug:' not in before_text  # as netfilter_info, none of ours
    assert before_text == json.dumps(info, indent=2, sort_keys=True) + '\n'
    variant = 'legacy' if node == 'node1' else 'nf_tables'
    assert rs.read_file(nodes, node, base + '/before/' + listing) == info[variant]['ipv4']
    text = rs.read_file(nodes, node, base + '/' + listing)
    assert '-j TRACE' in text and 'netdebug:%s:%d' % (run_id, res['expires_at']) in text
    assert 'cali-PREROUTING' in text  # the whole ruleset, not only ours
    if node == 'node2':  # iptables-nft's tables are in the nft ruleset (node1's legacy ones are not)
        assert 'before/nft.ruleset' in res['recorded']
        nft = rs.read_file(nodes, node, base + '/nft.ruleset')
        assert 'meta nftrace set 1 # handle ' in nft  # our rule (nft does not print its comment) with its handle
    modes = rs.run(nodes, node, ['stat', '-c', '%a %n', base, base + '/before', base + '/before.json',
                                 base + '/' + listing]).split('\n')
    assert [m.split()[0] for m in modes if m] == ['700', '700', '600', '600']

    again = start(lab_ansible, node, run_id)  # nothing to add: listings again, the snapshot before kept
    assert not again['changed'] and 'before.json' not in again['recorded'] and listing in again['recorded']
    assert rs.read_file(nodes, node, base + '/before.json') == before_text

    gone = stop(lab_ansible, node, run_id)
    assert len(gone['removed']['rules']) == 2 and gone['monitors_died'] == []
    assert gone['ruleset_restored'] is True and gone['record_dir'] == base
    assert 'after.json' in gone['recorded'] and 'after/' + listing in gone['recorded']
    assert read_json(nodes, node, base + '/after.json') == json.loads(before_text)


@pytest.mark.parametrize('node', sorted(VARIANTS))
def test_a_change_during_the_window_is_reported(nodes, lab_ansible, node):
    run_id = 'recchg-' + node
    tool = VARIANTS[node][0]
    rs.run(nodes, node, [tool, '-w', '10', '-N', CHAIN])
    try:
        start(lab_ansible, node, run_id)
        rs.run(nodes, node, [tool, '-w', '10', '-A', CHAIN, '-s', '198.18.0.250/32', '-j', 'RETURN'])
        gone = stop(lab_ansible, node, run_id)
        assert gone['ruleset_restored'] is False
        base = gone['record_dir']
        before, after = (read_json(nodes, node, base + '/%s.json' % when) for when in ('before', 'after'))
        variant = 'legacy' if node == 'node1' else 'nf_tables'
        assert '198.18.0.250' not in before[variant]['ipv4'] and '198.18.0.250' in after[variant]['ipv4']
        assert 'netdebug:' not in json.dumps(after)  # our rules are gone all the same
    finally:
        rs.sh(nodes, node, '%s -w 10 -F %s; %s -w 10 -X %s' % (tool, CHAIN, tool, CHAIN), check=False)


def test_a_monitor_that_died_is_reported(nodes, lab_ansible):
    run_id = 'recdied'
    res = ok(lab_ansible.module('node2', TRACE, {'run_id': run_id, 'protocol': 'icmp', 'ttl': 120}), 'node2')
    capture = res['capture_files'][0]
    # The monitor itself (not the timeout around it) ends, as it did under an agent rewriting its chains.
    monitors = [line.split(None, 1) for line in rs.processes(nodes, 'node2', 'xtables-monitor --trace')]
    pids = [pid for pid, args in monitors if args.split()[0].endswith('/xtables-monitor')]
    assert len(pids) == 1, monitors
    rs.run(nodes, 'node2', ['kill', '-TERM', pids[0]])
    rs.wait_until(lambda: not rs.processes(nodes, 'node2', 'xtables-monitor --trace'), 10, what='monitor gone')
    gone = ok(lab_ansible.module('node2', TRACE, {'run_id': run_id, 'state': 'absent'}), 'node2')
    assert [(m['backend'], m['capture_file']) for m in gone['monitors_died']] == [('nft', capture)]
    assert gone['removed']['monitors'] == [] and len(gone['removed']['rules']) == 2
    assert any('had ended before the stop' in w and capture in w for w in gone.get('warnings', [])), gone
    assert gone['ruleset_restored'] is None and gone['record_dir'] is None


AGENT_RULES = """*filter
:ndtest-agent - [0:0]
:ndtest-agent-ep - [0:0]
-A ndtest-agent -m comment --comment "agent:1" -j ndtest-agent-ep
-A ndtest-agent-ep -m comment --comment "agent:2" -m mark --mark 0x10000/0x10000 -j ACCEPT
COMMIT
"""


def test_xtables_monitor_dies_under_an_agent_rewriting_its_chains(nodes, lab_ansible):
    """The cause seen in test_capture: a traced packet crosses a rule the agent deletes before xtables-monitor
    looks it up by handle; the monitor then exits ("error: No such file or directory") mid-line."""
    run_id = 'recagent'
    rs.run(nodes, 'node2', ['tee', '/tmp/ndtest-agent.rules'], data=AGENT_RULES)
    rs.run(nodes, 'node2', ['iptables-nft-restore', '-w', '10', '--noflush', '/tmp/ndtest-agent.rules'])
    rs.run(nodes, 'node2', ['iptables-nft', '-w', '10', '-A', 'INPUT', '-j', 'ndtest-agent'])
    try:
        res = ok(lab_ansible.module('node2', TRACE, {'run_id': run_id, 'protocol': 'icmp', 'ttl': 120}), 'node2')
        # A race (the rule must go between the packet and the lookup): a few percent of the rewrites hit it, so
        # rewrite until the monitor is gone, at most 400 times.
        rs.sh(nodes, 'node2', 'ping -q -i 0.005 -W 1 127.0.0.1 >/dev/null & p=$!; for i in $(seq 400); do '
                              'iptables-nft-restore -w 5 --noflush /tmp/ndtest-agent.rules; '
                              "ps -eo args= | grep -q '^[^ ]*xtables-monitor --trace' || break; sleep 0.05; done; "
                              'kill $p', timeout=120)
        capture = rs.read_file(nodes, 'node2', res['capture_files'][0])
        gone = ok(lab_ansible.module('node2', TRACE, {'run_id': run_id, 'state': 'absent'}), 'node2')
    finally:
        rs.sh(nodes, 'node2', 'iptables-nft -w 10 -D INPUT -j ndtest-agent; for c in ndtest-agent ndtest-agent-ep; '
                              'do iptables-nft -w 10 -F $c; done; for c in ndtest-agent ndtest-agent-ep; do '
                              'iptables-nft -w 10 -X $c; done; rm -f /tmp/ndtest-agent.rules', check=False)
    assert [m['capture_file'] for m in gone['monitors_died']] == res['capture_files'], (gone, capture[-3000:])
    assert any('No such file or directory' in w for w in gone.get('warnings', [])), gone
