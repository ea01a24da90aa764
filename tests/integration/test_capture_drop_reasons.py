# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drops outside the ruleset (issue 18), on the netns lab (the host's kernel, 6.18): the kernel's drops with their
reasons, joined to the traced packets. One capture (match UDP to ports 7 to 53) with, from node1:

- to node2:53 from an address node2 has no route back to, with rp_filter on at node2: IP_RPFILTER;
- to node2:9, where no socket listens: NO_SOCKET;
- to node2:7, dropped by an iptables-nft rule: the rule, and NETFILTER_DROP at nft_do_chain;
- to node3:7, dropped by an iptables-legacy rule (node3, the lab's legacy node): the rule, and NETFILTER_DROP at
  nf_hook_slow.

No rule drops the first two: their verdict must be drop with the kernel's reason, never accept or unknown.
"""

from __future__ import annotations

import contextlib
import time

from test_capture import NODES, capture_while, leftovers, load_json, node_run, snapshots, tracefs_state
from test_capture_node_kinds import _flush

SPOOFED = '198.18.77.1'  # on node1's loopback for the test; node2 has no route back to it
RP_FILTER = ['net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.eth0.rp_filter']
MATCH = {'protocol': 'udp', 'destination_port': '7:53'}
SEND = ('import socket, sys\n'
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
        's.bind((sys.argv[1], 0))\n'
        's.sendto(b"x", (sys.argv[2], int(sys.argv[3])))\n')


@contextlib.contextmanager
def kernel_drop_scenario(lab):
    saved = {key: node_run(lab, 'node2', ['sysctl', '-n', key]).strip() for key in RP_FILTER}
    try:
        for node in ('node2', 'node3'):
            assert node_run(lab, node, ['nft', 'list', 'ruleset']).strip() == '', '%s is not empty' % node
        node_run(lab, 'node2', ['sysctl', '-q', '-w'] + ['%s=1' % key for key in RP_FILTER])
        node_run(lab, 'node1', ['ip', 'addr', 'add', SPOOFED + '/32', 'dev', 'lo'])
        node_run(lab, 'node2', ['iptables-nft', '-A', 'INPUT', '-p', 'udp', '--dport', '7', '-j', 'DROP'])
        node_run(lab, 'node3', ['update-alternatives', '--set', 'iptables', '/usr/sbin/iptables-legacy'])
        node_run(lab, 'node3', ['iptables-legacy', '-A', 'INPUT', '-p', 'udp', '--dport', '7', '-j', 'DROP'])
        # a legacy node with its raw table in use, as the other legacy rows have it: the lab's kernel has the
        # table built in, so one that our TRACE rule made would stay (the run says so: partial)
        node_run(lab, 'node3', ['iptables-legacy', '-t', 'raw', '-S'])
        yield
    finally:
        node_run(lab, 'node1', ['ip', 'addr', 'del', SPOOFED + '/32', 'dev', 'lo'], check=False)
        node_run(lab, 'node2', ['sysctl', '-q', '-w'] + ['%s=%s' % item for item in saved.items()])
        for node in ('node2', 'node3'):
            _flush(lab, node)


def send(lab, source, address, port):
    lab.exec('node1', ['python3', '-c', SEND, source, address, str(port)], timeout=10)


def test_drops_outside_the_ruleset_get_the_kernels_reason(netns_lab, lab_ansible, tmp_path):
    incident = 'kdrops-1'
    tracefs_before = tracefs_state(netns_lab)
    with kernel_drop_scenario(netns_lab):
        before = snapshots(lab_ansible)

        def sender():
            for source, address, port in ((SPOOFED, '198.18.0.2', 53), ('198.18.0.1', '198.18.0.2', 9),
                                          ('198.18.0.1', '198.18.0.2', 7), ('198.18.0.1', '198.18.0.3', 7)):
                send(netns_lab, source, address, port)
                time.sleep(0.3)

        res = capture_while(lab_ansible, netns_lab, incident, tmp_path, sender, duration=10,
                            extra={'netdebug_match': MATCH, 'netdebug_conntrack': False})
        assert res.rc == 0, res
        manifest = load_json(tmp_path / incident / 'manifest.json')
        assert {h: e['status'] for h, e in manifest['hosts'].items()} == dict.fromkeys(NODES, 'ok'), manifest
        for name, entry in manifest['hosts'].items():
            assert entry['drop_reasons']['available'] and entry['drop_reasons']['events'] >= 4, (name, entry)
        report = load_json(tmp_path / incident / 'report.json')
        found = {}
        for packet in report['packets']:
            key = (packet['host'], packet['summary'].get('dport'))
            if key in (('node2', 53), ('node2', 9), ('node2', 7), ('node3', 7)):
                assert key not in found, ('one packet, one record', key, packet, found[key])
                found[key] = packet
        assert sorted(found) == [('node2', 7), ('node2', 9), ('node2', 53), ('node3', 7)], report['packets']
        for key, reason, location in ((('node2', 53), 'IP_RPFILTER', 'ip_rcv_finish_core'),
                                      (('node2', 9), 'NO_SOCKET', '__udp4_lib_rcv')):
            packet = found[key]
            assert packet['verdict'] == 'drop' and packet['verdict_rule'] is None, (key, packet)
            assert (packet['kernel_drop']['reason'], packet['kernel_drop']['location']) == (reason, location), packet
            assert packet['verdict_reason'].startswith('dropped by the kernel, not by a rule: %s (%s)'
                                                       % (reason, location)), packet
        for key, backend, location in ((('node2', 7), 'nf_tables', 'nft_do_chain'),
                                       (('node3', 7), 'legacy', 'nf_hook_slow')):
            packet = found[key]
            assert packet['verdict'] == 'drop' and packet['verdict_rule']['backend'] == backend, (key, packet)
            assert packet['verdict_rule']['chain'] == 'INPUT', packet
            assert packet['kernel_drop']['reason'] == 'NETFILTER_DROP', packet
            assert packet['kernel_drop']['location'] == location, packet
        findings = report['findings']
        assert any(line.startswith('node2: 1 traced packet dropped by the kernel, reason IP_RPFILTER '
                                   '(ip_rcv_finish_core), and 1 by rules') for line in findings), findings
        assert any(line.startswith('node2: 1 traced packet dropped by the kernel, reason NO_SOCKET (__udp4_lib_rcv)')
                   for line in findings), findings
        assert 'node3: 1 traced packet dropped at filter/INPUT rule 1' in findings, findings
        markdown = (tmp_path / incident / 'report.md').read_text()
        assert markdown.index('## Findings') < markdown.index('## Verdicts'), markdown[:2000]
        assert 'node2 drops UDP %s -> 198.18.0.2:53 in the kernel, not by a rule: IP_RPFILTER (ip_rcv_finish_core)' \
            % SPOOFED in report['verdicts'], report['verdicts']
        assert snapshots(lab_ansible) == before
    for node in NODES:
        assert leftovers(netns_lab, node)[0] == [], node
    assert tracefs_state(netns_lab) == tracefs_before
