# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables_trace with ip_version ipv6 and both on the iptables backends (legacy and nft), on the netns lab.

node1 holds legacy rules, node2 iptables-nft rules, in both families. The lab nodes have no IPv6 address of their
own, so the module fixture gives their eth0 a ULA address (fd00:198:18::N/64, on the lab bridge only) and
removes it again. Legacy TRACE lines reach this machine's kernel log (the lab sets nf_log_all_netns=1);
nf_tables TRACE goes to the xtables-monitor capture file.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

import rules_support as rs

TRACE = 'netdebug.netfilter.iptables_trace'
NODES = {'node1': ('legacy', '198.18.0.1', 'fd00:198:18::1'), 'node2': ('nft', '198.18.0.2', 'fd00:198:18::2')}
V6_RULES = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -s 2001:db8:ffff::1/128 -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:app-guard - [0:0]
-A INPUT -j app-guard
-A app-guard -p tcp -m tcp --dport 9 -j DROP
COMMIT
"""
NF_LOG_V6 = '/proc/sys/net/netfilter/nf_log/10'


@pytest.fixture(scope='module')
def nodes(netns_lab, lab_ansible):
    with rs.SshRetries():
        yield from _nodes(netns_lab, lab_ansible)


def _nodes(lab, lab_ansible):
    saved = {}
    for node, (variant, _v4, v6) in NODES.items():
        rs.reset(lab, node)
        rs.load(lab, node, 'iptables-%s-restore' % variant)
        rs.load(lab, node, 'ip6tables-%s-restore' % variant, V6_RULES)
        saved[node] = (rs.read_file(lab, node, '/proc/sys/net/ipv6/conf/eth0/disable_ipv6').strip(),
                       rs.read_file(lab, node, NF_LOG_V6).strip())
        rs.sh(lab, node, 'echo 0 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6')
        rs.run(lab, node, ['ip', '-6', 'addr', 'add', v6 + '/64', 'dev', 'eth0', 'nodad'])
    try:
        if saved['node1'][1] == 'NONE':  # legacy IPv6 TRACE needs a bound logger in node1's namespace
            rs.sh(lab, 'node1', 'echo nf_log_ipv6 > %s' % NF_LOG_V6)
        rs.run(lab, 'node1', ['ping', '-6', '-c', '1', '-W', '5', NODES['node2'][2]])  # neighbours resolved
        yield lab
    finally:
        lab_ansible.module(','.join(NODES), TRACE, {'run_id': '*', 'state': 'absent'})
        for node, (_variant, _v4, v6) in NODES.items():
            rs.run(lab, node, ['ip', '-6', 'addr', 'del', v6 + '/64', 'dev', 'eth0'], check=False)
            disable_ipv6, logger = saved[node]
            rs.sh(lab, node, 'echo %s > /proc/sys/net/ipv6/conf/eth0/disable_ipv6' % disable_ipv6)
            rs.sh(lab, node, 'echo %s > %s' % (logger, NF_LOG_V6))
            rs.reset(lab, node)


def ok(result, host):
    assert result.statuses().get(host) == 'ok', result
    return result.by_host()[host]


def saved_tags(lab, node, tool, run_id):
    """-A lines of one save tool that carry the run's tag."""
    return [line for line in rs.run(lab, node, [tool]).splitlines()
            if line.startswith('-A ') and (rs.TAG_RE.search(line) or [None, None])[1] == run_id]


def families(ip_version):
    return ['ipv4', 'ipv6'] if ip_version == 'both' else [ip_version]


def save_tool(variant, family):
    return '%s-%s-save' % ('ip6tables' if family == 'ipv6' else 'iptables', variant)


@pytest.mark.parametrize('ip_version', ['ipv6', 'both'])
@pytest.mark.parametrize('node', sorted(NODES))
def test_four_steps_and_a_real_packet(nodes, lab_ansible, node, ip_version):
    variant = NODES[node][0]
    peer = [n for n in NODES if n != node][0]
    before = rs.ruleset(nodes, node)
    dport = random.randint(20000, 60000)
    run_id = 'six-%s-%s' % (variant, ip_version)
    args = {'run_id': run_id, 'backend': variant, 'ip_version': ip_version, 'protocol': 'udp',
            'destination_port': str(dport), 'ttl': 300}
    check = ok(lab_ansible.module(node, TRACE, args, check=True, diff=True), node)
    # PREROUTING and OUTPUT, each a TRACE rule and its count rule
    assert check['changed'] and len(check['rules']) == 4 * len(families(ip_version))
    assert rs.ruleset(nodes, node) == before
    klog = rs.KernelLog()
    try:
        first = ok(lab_ansible.module(node, TRACE, args, diff=True), node)
        assert first['changed'] and first['backend'] == variant
        assert sorted(r['family'] for r in first['rules']) == sorted(families(ip_version) * 4)
        tag = 'netdebug:%s:%d' % (run_id, first['expires_at'])
        for family in families(ip_version):
            lines = saved_tags(nodes, node, save_tool(variant, family), run_id)
            assert len(lines) == 4 and all(tag in l and '--dport %d' % dport in l for l in lines), lines
            assert len([l for l in lines if l.endswith('-j TRACE')]) == 2, lines
        for family in {'ipv4', 'ipv6'} - set(families(ip_version)):
            assert not saved_tags(nodes, node, save_tool(variant, family), run_id)
        again_check = ok(lab_ansible.module(node, TRACE, args, check=True), node)
        assert not again_check['changed'] and again_check['rules'] == first['rules']
        again = ok(lab_ansible.module(node, TRACE, args), node)
        assert not again['changed'] and again['rules'] == first['rules']
        _packets_are_traced(nodes, klog, node, peer, first, families(ip_version), dport)
    finally:
        klog.close()
        gone = ok(lab_ansible.module(node, TRACE, {'run_id': run_id, 'state': 'absent'}), node)
    assert gone['changed'] and len(gone['removed']['rules']) == len(first['rules'])
    assert not rs.processes(nodes, node, '--run-id %s ' % run_id) and not rs.processes(nodes, node, 'monitor')
    assert rs.ruleset(nodes, node) == before


def _packets_are_traced(lab, klog, node, peer, res, fams, dport):
    """A datagram per family from peer to node: TRACE from raw PREROUTING for each family."""
    for family in fams:
        rs.udp_probe(lab, peer, _address(node, family), dport)
    if res['backend'] == 'legacy':
        assert res['kernel_log'] and res['capture_files'] == []
        for family in fams:
            # The kernel prints IPv6 addresses in full (fd00:0198:0018:0000:...).
            src = 'SRC=%s ' % ipaddress.ip_address(_address(peer, family)).exploded
            rs.wait_until(lambda s=src: [l for l in klog.read() if l.startswith('TRACE: raw:PREROUTING:')
                                         and 'DPT=%d ' % dport in l and s in l], 10,
                          what='legacy %s TRACE lines with %s' % (family, src))
    else:
        assert not res['kernel_log'] and res['capture_files'] == ['/run/netdebug/runs/%s/nft.trace' % res['run_id']]
        for family in fams:
            rs.wait_until(lambda f=family: _monitor_traced(lab, node, res['capture_files'][0], f, _address(peer, f)),
                          10, what='xtables-monitor %s TRACE of a packet from %s' % (family, peer))


def _address(node, family):
    return NODES[node][1 if family == 'ipv4' else 2]


def _monitor_traced(lab, node, path, family, source):
    """True when the capture holds a packet of the family from source and a raw PREROUTING TRACE line of its id.

    xtables-monitor prints 'PACKET: <nfproto> <id> ... SRC=<address> ...' and ' TRACE: <nfproto> <id> raw:...'.
    """
    nfproto = {'ipv4': '2', 'ipv6': '10'}[family]
    lines = rs.monitor_lines(lab, node, path)
    ids = set(l.split()[2] for l in lines if l.startswith('PACKET: %s ' % nfproto) and ' SRC=%s ' % source in l)
    return any(l.split()[:2] == ['TRACE:', nfproto] and l.split()[2] in ids and 'raw:PREROUTING:' in l
               for l in lines)


@pytest.mark.parametrize('node', sorted(NODES))
def test_ipv4_address_with_ipv6_fails_and_changes_nothing(nodes, lab_ansible, node):
    before = rs.ruleset(nodes, node)
    res = lab_ansible.module(node, TRACE, {'run_id': 'sixbad', 'backend': NODES[node][0], 'ip_version': 'ipv6',
                                           'protocol': 'udp', 'source': '198.18.0.1', 'ttl': 60})
    assert res.statuses().get(node) == 'failed', res
    msg = res.by_host()[node]['msg']
    assert 'source: 198.18.0.1 is an IPv4 address but ip_version is ipv6: set ip_version: ipv4' in msg, msg
    assert rs.ruleset(nodes, node) == before
    assert not rs.processes(nodes, node, '--run-id sixbad ') and not rs.processes(nodes, node, 'monitor')
    assert not rs.read_file(nodes, node, '/run/netdebug/runs/sixbad/run.json')
