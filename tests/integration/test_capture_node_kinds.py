# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The true verdict on every node kind (issue 14): the capture with default settings on lab nodes that hold base
chains in several backends, each with a drop in each backend.

Rulesets: tests/lab/scenarios/kinds-calico.rules (Calico-style, drops TCP 81), kinds-kube.rules (kube-proxy-style,
drops TCP 82 in, 84 out) and kinds-native.nft (a native `table inet filter`, drops TCP 80 and 85 in, 83 out).
The lab's nodes share one kernel log, so only node3 ever gets legacy tables (test_capture.py's legacy node is node3
too; a legacy table cannot be removed again):

- capture 1: node1 iptables-nft + native (the sender: drops on the way out in each backend), node3 legacy + native,
  node2 native only;
- capture 2: node3 legacy + iptables-nft (mixed), node1 and node2 empty.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from conftest import COLLECTION
from test_capture import NODES, capture_while, leftovers, load_json, node_run, snapshots

SCENARIOS = COLLECTION / 'tests' / 'lab' / 'scenarios'
MATCH = {'source': '198.18.0.1', 'protocol': 'tcp', 'destination_port': '80:89'}
NATIVE_IN = ('drop', 'nftables', 'filter', 'input')
# Every chain accepts a SYN to port 86, where nothing listens: the kernel drops it (and answers with a RST), which
# the drop reasons tell (issue 18): the verdict is that drop, not the chains' accept.
NO_LISTENER = ('drop', 'kernel', 'NO_SOCKET', 'tcp_v4_rcv')


def _flush(lab, node):
    node_run(lab, node, ['nft', 'flush', 'ruleset'])  # iptables-nft's tables and the native one
    # Only the legacy tables the node has: touching another would create it, and a legacy table stays for good.
    # (The lab's nodes share one kernel log, so a legacy table on a node that is not meant to be legacy would
    # put that node's TRACE lines into the others' kernel.log.)
    for table in node_run(lab, node, ['cat', '/proc/net/ip_tables_names']).split():
        node_run(lab, node, ['iptables-legacy', '-t', table, '-F'])
        node_run(lab, node, ['iptables-legacy', '-t', table, '-X'])
    node_run(lab, node, ['update-alternatives', '--set', 'iptables', '/usr/sbin/iptables-nft'])


@contextlib.contextmanager
def loaded(lab, plan):
    """plan: {node: [kind, ...]} with kinds calico-legacy, calico-nft, kube-nft, native; empty nodes before and
    after (the lab's nodes start empty)."""
    try:
        for node, kinds in plan.items():
            assert node_run(lab, node, ['nft', 'list', 'ruleset']).strip() == '', '%s is not empty' % node
            for kind in kinds:
                if kind == 'native':
                    node_run(lab, node, ['nft', '-f', '-'], data=(SCENARIOS / 'kinds-native.nft').read_bytes())
                    continue
                name, variant = kind.split('-')
                if variant == 'legacy':  # a legacy node, as a distribution with iptables-legacy has it
                    node_run(lab, node, ['update-alternatives', '--set', 'iptables', '/usr/sbin/iptables-legacy'])
                node_run(lab, node, ['iptables-%s-restore' % variant, '--noflush'],
                         data=(SCENARIOS / ('kinds-%s.rules' % name)).read_bytes())
        yield
    finally:
        for node in plan:
            _flush(lab, node)


def syn(lab, node, address, port):
    """One TCP connection attempt (a dropped SYN times out; a closed port answers with a RST)."""
    lab.exec(node, ['timeout', '1', 'bash', '-c', 'exec 3<>/dev/tcp/%s/%d' % (address, port)], timeout=10)


def run_capture(lab, ansible, tmp_path, incident, attempts):
    def sender():
        for address, port in attempts:
            syn(lab, 'node1', address, port)

    res = capture_while(ansible, lab, incident, tmp_path, sender, duration=14,
                        extra={'netdebug_match': MATCH, 'netdebug_conntrack': False})
    assert res.rc == 0, res
    manifest = load_json(tmp_path / incident / 'manifest.json')
    assert {h: e['status'] for h, e in manifest['hosts'].items()} == dict.fromkeys(NODES, 'ok'), manifest
    for entry in manifest['hosts'].values():
        assert isinstance(entry['clock']['offset'], float) and entry['clock']['error'] < 1.0, entry['clock']
    return load_json(tmp_path / incident / 'report.json')


def check(report, expected):
    """expected: {(host, dport): (verdict, backend, table, chain)}: one record per packet and host, the right
    verdict and deciding chain, never an accept for a dropped packet, and journeys that start on node1."""
    records = {}
    for packet in report['packets']:
        summary = packet['summary']
        if summary.get('src') != '198.18.0.1' or summary.get('dport') is None:
            continue
        records.setdefault((packet['host'], summary['dport']), []).append(packet)
    for (host, port), (verdict, backend, table, chain) in expected.items():
        found = records.get((host, port))
        assert found, ((host, port), sorted(records), report['hosts'][host])
        ids = [p['summary'].get('ip_id') for p in found]
        assert len(ids) == len(set(ids)), ('a packet became more than one record', host, port, found)
        for packet in found:
            rule = packet['verdict_rule'] or {}
            assert packet['verdict'] == verdict, (host, port, packet['verdict'], packet['verdict_reason'], rule)
            if backend == 'kernel':
                assert not rule and (packet['kernel_drop']['reason'], packet['kernel_drop']['location']) == (
                    table, chain), (host, port, packet)
            elif verdict != 'accept':
                assert (rule['backend'], rule['table'], rule['chain']) == (backend, table, chain), (host, port, rule)
                if backend == 'nftables':  # drawn at its own hook, named with its family
                    assert (rule['hook'], rule['family']) == (chain, 'inet'), rule
    for journey in report['journeys']:
        assert journey['hosts'][0] == 'node1', journey


@pytest.fixture(scope='module')
def kinds_lab(netns_lab):
    yield netns_lab
    for node in NODES:
        _flush(netns_lab, node)


def test_nft_native_legacy_native_and_native_nodes(kinds_lab, lab_ansible, tmp_path):
    plan = {'node1': ['kube-nft', 'native'], 'node2': ['native'], 'node3': ['calico-legacy', 'native']}
    with loaded(kinds_lab, plan):
        before = snapshots(lab_ansible)
        report = run_capture(kinds_lab, lab_ansible, tmp_path, 'kinds-1', [
            ('198.18.0.3', 80), ('198.18.0.3', 81), ('198.18.0.2', 83), ('198.18.0.2', 84),
            ('198.18.0.2', 85), ('198.18.0.2', 86)])
        check(report, {
            ('node3', 80): NATIVE_IN,
            ('node3', 81): ('drop', 'legacy', 'filter', 'cali-pi-deny81'),
            ('node1', 83): ('drop', 'nftables', 'filter', 'output'),
            ('node1', 84): ('drop', 'nf_tables', 'filter', 'KUBE-PROXY-FIREWALL'),
            ('node2', 85): NATIVE_IN,
            ('node2', 86): NO_LISTENER,
        })
        # the packets dropped on their way out never reached node2; node3's records are one per packet from both
        # sources (legacy TRACE in the kernel log, our nftables table through nft monitor)
        assert not [p for p in report['packets'] if p['host'] == 'node2' and p['summary'].get('dport') in (83, 84)]
        manifest = load_json(tmp_path / 'kinds-1' / 'manifest.json')
        names = {item['path'] for item in manifest['hosts']['node3']['files']}
        assert 'ruleset/ip_tables_names' in names, names
        legacy_tables = (tmp_path / 'kinds-1' / manifest['hosts']['node3']['dir'] / 'ruleset' / 'ip_tables_names')
        assert {'raw', 'filter'} <= set(legacy_tables.read_text().split())
        node3 = [p for p in report['packets'] if p['host'] == 'node3' and p['summary'].get('dport') == 81]
        assert node3 and all(p['format'] == 'kernel+nft-monitor' for p in node3), node3
        assert snapshots(lab_ansible) == before
    for node in NODES:
        assert leftovers(kinds_lab, node)[0] == [], node


def test_mixed_node(kinds_lab, lab_ansible, tmp_path):
    with loaded(kinds_lab, {'node3': ['calico-legacy', 'kube-nft']}):
        before = snapshots(lab_ansible)
        report = run_capture(kinds_lab, lab_ansible, tmp_path, 'kinds-2', [
            ('198.18.0.3', 81), ('198.18.0.3', 82), ('198.18.0.3', 86)])
        check(report, {
            ('node3', 81): ('drop', 'legacy', 'filter', 'cali-pi-deny81'),
            ('node3', 82): ('drop', 'nf_tables', 'filter', 'KUBE-PROXY-FIREWALL'),
            ('node3', 86): NO_LISTENER,
        })
        node3 = [p for p in report['packets'] if p['host'] == 'node3' and p['summary'].get('dport') == 86]
        assert all(p['format'] == 'kernel+xtables-monitor' for p in node3), node3
        assert snapshots(lab_ansible) == before
    for node in NODES:
        assert leftovers(kinds_lab, node)[0] == [], node


# Issue 19: a ClusterIP DNATed on node2 (kube-proxy's iptables shapes, tests/lab/scenarios/k8s-service.rules) to an
# endpoint on node3, dropped there by a Calico-shaped policy chain whose name Felix hashed (k8s-policy.rules).
CLUSTER_IP = '198.19.0.10'
LONG_POLICY = 'deny-web-except-from-the-frontend'
POLICY_CHAIN = 'cali-pi-_xjDhvsRvp8FAVLvgElm'  # Felix's hashed name of knp/ns1/<LONG_POLICY>
K8S_OBJECTS = {'apiVersion': 'v1', 'kind': 'List', 'items': [
    {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'namespace': 'ns1', 'name': 'web-0'}, 'spec': {'nodeName': 'node3'},
     'status': {'podIP': '198.18.0.3', 'podIPs': [{'ip': '198.18.0.3'}]}},
    {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'namespace': 'ns1', 'name': 'web'},
     'spec': {'clusterIP': CLUSTER_IP, 'clusterIPs': [CLUSTER_IP]}},
    {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy', 'metadata': {'namespace': 'ns1', 'name': LONG_POLICY},
     'spec': {'podSelector': {}, 'policyTypes': ['Ingress']}},
]}
# what the scenario changes on its nodes besides the rules, put back afterwards
K8S_SYSCTLS = {'node2': ['net.ipv4.ip_forward', 'net.ipv4.conf.all.send_redirects', 'net.ipv4.conf.eth0.send_redirects']}


@contextlib.contextmanager
def k8s_scenario(lab):
    """node2 forwards and DNATs the ClusterIP (no redirects, which would send node1 around it), node1 routes the
    ClusterIP to node2, node3 holds the policy; every change is put back."""
    saved = {node: {key: node_run(lab, node, ['sysctl', '-n', key]).strip() for key in keys}
             for node, keys in K8S_SYSCTLS.items()}
    try:
        for node in ('node2', 'node3'):
            assert node_run(lab, node, ['nft', 'list', 'ruleset']).strip() == '', '%s is not empty' % node
        node_run(lab, 'node2', ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0',
                                'net.ipv4.conf.eth0.send_redirects=0'])
        node_run(lab, 'node1', ['ip', 'route', 'replace', CLUSTER_IP + '/32', 'via', '198.18.0.2'])
        node_run(lab, 'node2', ['iptables-nft-restore', '--noflush'],
                 data=(SCENARIOS / 'k8s-service.rules').read_bytes())
        node_run(lab, 'node3', ['iptables-nft-restore', '--noflush'],
                 data=(SCENARIOS / 'k8s-policy.rules').read_bytes())
        yield
    finally:
        node_run(lab, 'node1', ['ip', 'route', 'del', CLUSTER_IP + '/32'], check=False)
        for node, values in saved.items():
            node_run(lab, node, ['sysctl', '-q', '-w'] + ['%s=%s' % item for item in values.items()])
        for node in ('node2', 'node3'):
            _flush(lab, node)


def test_the_kubernetes_service_endpoint_and_policy_behind_a_drop(kinds_lab, lab_ansible, tmp_path):
    """The report names the service, its endpoint and where it was DNATed, and the policy chain's role; with
    netdebug_k8s_objects, also the pod and the policy's name, which only Felix's hash of it gives."""
    objects = tmp_path / 'k8s-objects.json'
    objects.write_text(json.dumps(K8S_OBJECTS))
    with k8s_scenario(kinds_lab):
        before = snapshots(lab_ansible)
        incident = 'k8s-1'

        def sender():
            for dummy in range(2):
                syn(kinds_lab, 'node1', CLUSTER_IP, 80)

        res = capture_while(lab_ansible, kinds_lab, incident, tmp_path, sender, duration=12,
                            extra={'netdebug_match': {'source': '198.18.0.1', 'protocol': 'tcp', 'destination_port': '80'},
                                   'netdebug_k8s_objects': str(objects)})
        assert res.rc == 0, res
        report = load_json(tmp_path / incident / 'report.json')
        assert report['kubernetes_objects'] == {'file': str(objects), 'pods': 1, 'services': 1, 'policies': 1}
        drop = next(d for d in report['drops'] if d['host'] == 'node3')
        assert (drop['chain'], drop['k8s']['role'], drop['k8s']['name']) == (POLICY_CHAIN, 'policy', LONG_POLICY), drop
        assert any(line.startswith('node3 drops TCP 198.18.0.1 -> pod ns1/web-0 (198.18.0.3:80) at Calico policy '
                                   'ns1/%s (inbound) (filter/%s rule 1): -A %s ' % (LONG_POLICY, POLICY_CHAIN, POLICY_CHAIN))
                   for line in report['verdicts']), report['verdicts']
        # Each connection's first SYN passes the service's DNAT and names it; a retransmitted SYN (the connect
        # outlived the kernel's 1 s timer on a loaded machine) follows the conntrack entry and names none.
        named = [j for j in report['journeys'] if j['hosts'] == list(NODES) and j['kubernetes']]
        assert len(named) == 2 and all(j['kubernetes'] == ['service ns1/web:http -> endpoint 198.18.0.3:80 (pod '
                                                           'ns1/web-0, DNAT on node2)'] for j in named), report['journeys']
        # the same bundle without the objects: names from the rules alone
        plain = tmp_path / 'plain'
        plain.mkdir()
        again = lab_ansible.module('localhost', 'netdebug.netfilter.trace_report', {
            'bundle_dir': str(tmp_path), 'incident_id': incident, 'output_dir': str(plain), 'formats': ['json']})
        assert again.rc == 0, again
        report = load_json(plain / 'report.json')
        drop = next(d for d in report['drops'] if d['host'] == 'node3')
        assert drop['k8s']['label'] == 'Calico policy (hashed name %s) (inbound)' % POLICY_CHAIN[len('cali-pi-'):]
        node2 = next(p for p in report['paths'] if p['host'] == 'node2' and p['steps'])
        labels = [s['k8s']['label'] for s in node2['steps'] if s['k8s']]
        assert 'endpoint 198.18.0.3:80 of service ns1/web:http' in labels, labels
        assert any(j['kubernetes'] == ['service ns1/web:http -> endpoint 198.18.0.3:80 (DNAT on node2)']
                   for j in report['journeys']), report['journeys']
        assert snapshots(lab_ansible) == before
    for node in NODES:
        assert leftovers(kinds_lab, node)[0] == [], node
