# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes object behind a rule, named from what the rules say (kube-proxy and Calico chain shapes)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report, journey_services
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.k8s_objects import length_limited_id
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.kubernetes import Namer, rule_comment
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.resolve import Snapshot

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'kubernetes')
# kube-proxy's iptables mode, in the shapes of its unit tests' expected dumps (pkg/proxy/iptables/proxier_test.go):
# the service named in comments, the endpoint in its DNAT, the chains by hash; a service without endpoints rejected
# in filter KUBE-SERVICES.
KUBE_SAVE = '''*filter
:INPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 172.30.0.42/32 -p tcp -m comment --comment "ns2/svc2:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SVC-OLD - [0:0]
:KUBE-SEP-OLD - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -d 172.30.0.44/32 -p tcp -m comment --comment "ns4/svc4 cluster IP" -m tcp --dport 80 -j KUBE-SVC-OLD
-A KUBE-SVC-XPGD46QRK7WJZT7O ! -s 10.0.0.0/8 -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -s 10.180.0.1/32 -m comment --comment ns1/svc1:p80 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -p tcp -m comment --comment ns1/svc1:p80 -m tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SVC-OLD -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-OLD
-A KUBE-SEP-OLD -p tcp -m tcp -j DNAT --to-destination 10.180.0.4:8080
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
COMMIT
'''
# kube-proxy's nftables mode: the service is in the chain's name (pkg/proxy/nftables)
KUBE_NFT = '''table ip kube-proxy {
\tchain services {
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t}
\tchain service-ULMVA6XW-ns1/svc1/tcp/p80 {
\t\tip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
\t\tnumgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }
\t}
\tchain endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {
\t\tip saddr 10.180.0.1 jump mark-for-masquerade
\t\tmeta l4proto tcp dnat to 10.180.0.1:80
\t}
\tchain mark-for-masquerade {
\t\tmark set mark or 0x4000
\t}
}
'''


def _step(table, chain, rule=None, family='ip'):
    return {'table': table, 'chain': chain, 'rule': rule, 'family': family}


@pytest.fixture(scope='module')
def namer():
    return Namer(Snapshot({'iptables-nft.save': KUBE_SAVE}))


@pytest.mark.parametrize('table, chain, rule, expected', [
    ('nat', 'KUBE-SVC-XPGD46QRK7WJZT7O', None,
     {'owner': 'kube-proxy', 'role': 'service', 'namespace': 'ns1', 'name': 'svc1', 'port': 'p80',
      'cluster_ip': '172.30.0.41', 'label': 'service ns1/svc1:p80'}),
    ('nat', 'KUBE-SEP-SXIVWICOYRO3J4NJ', None,
     {'owner': 'kube-proxy', 'role': 'endpoint', 'namespace': 'ns1', 'name': 'svc1', 'port': 'p80',
      'cluster_ip': '172.30.0.41', 'endpoint': '10.180.0.1:80',
      'label': 'endpoint 10.180.0.1:80 of service ns1/svc1:p80'}),
    # an endpoint without comments takes its service from the service chain that jumps to it
    ('nat', 'KUBE-SEP-OLD', None,
     {'owner': 'kube-proxy', 'role': 'endpoint', 'namespace': 'ns4', 'name': 'svc4', 'cluster_ip': '172.30.0.44',
      'endpoint': '10.180.0.4:8080', 'label': 'endpoint 10.180.0.4:8080 of service ns4/svc4'}),
    ('filter', 'KUBE-SERVICES',
     '-A KUBE-SERVICES -d 172.30.0.42/32 -p tcp -m comment --comment "ns2/svc2:p80 has no endpoints" -m tcp '
     '--dport 80 -j REJECT --reject-with icmp-port-unreachable',
     {'owner': 'kube-proxy', 'role': 'services', 'namespace': 'ns2', 'name': 'svc2', 'port': 'p80',
      'label': 'kube-proxy service dispatch, service ns2/svc2:p80'}),
    ('nat', 'KUBE-MARK-MASQ', '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
     {'owner': 'kube-proxy', 'role': 'mark-masquerade', 'label': 'kube-proxy masquerade mark'}),
    ('nat', 'KUBE-SVC-UNKNOWN', None,
     {'owner': 'kube-proxy', 'role': 'service',
      'label': 'service (kube-proxy chain KUBE-SVC-UNKNOWN; no rule names it)'}),
    ('filter', 'INPUT', '-A INPUT -j ACCEPT', None),
])
def test_kube_proxy_iptables(namer, table, chain, rule, expected):
    assert namer.name(_step(table, chain, rule)) == expected


@pytest.mark.parametrize('chain, expected', [
    ('service-ULMVA6XW-ns1/svc1/tcp/p80',
     {'owner': 'kube-proxy', 'role': 'service', 'namespace': 'ns1', 'name': 'svc1', 'protocol': 'tcp', 'port': 'p80',
      'label': 'service ns1/svc1:p80'}),
    ('endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
     {'owner': 'kube-proxy', 'role': 'endpoint', 'namespace': 'ns1', 'name': 'svc1', 'protocol': 'tcp',
      'port': 'p80', 'endpoint': '10.180.0.1:80', 'label': 'endpoint 10.180.0.1:80 of service ns1/svc1:p80'}),
    # IPv6: kube-proxy writes '.' for ':' in chain names
    ('endpoint-4LO7HFBG-ns1/svc1/udp/__fd00.10.180..1/53',
     {'owner': 'kube-proxy', 'role': 'endpoint', 'namespace': 'ns1', 'name': 'svc1', 'protocol': 'udp',
      'endpoint': '[fd00:10:180::1]:53', 'label': 'endpoint [fd00:10:180::1]:53 of service ns1/svc1'}),
    ('mark-for-masquerade', {'owner': 'kube-proxy', 'role': 'mark-for-masquerade',
                             'label': 'kube-proxy mark-for-masquerade'}),
])
def test_kube_proxy_nftables(chain, expected):
    namer = Namer(Snapshot({'nft.ruleset': KUBE_NFT}))
    assert namer.name(_step('kube-proxy', chain, family='ip')) == expected


@pytest.mark.parametrize('table, chain, expected', [
    ('filter', 'cali-INPUT', {'owner': 'calico', 'role': 'INPUT', 'label': 'Calico input hook'}),
    ('filter', 'cali-to-wl-dispatch', {'owner': 'calico', 'role': 'to-wl-dispatch', 'label': 'Calico dispatch to pods'}),
    ('filter', 'cali-from-wl-dispatch-5', {'owner': 'calico', 'role': 'from-wl-dispatch-5',
                                           'label': 'Calico dispatch from pods'}),
    ('filter', 'cali-tw-cali12d4a061371', {'owner': 'calico', 'role': 'to-workload', 'interface': 'cali12d4a061371',
                                           'label': 'Calico to pod interface cali12d4a061371'}),
    ('filter', 'cali-fh-eth0', {'owner': 'calico', 'role': 'from-host-endpoint', 'interface': 'eth0',
                                'label': 'Calico from host endpoint eth0'}),
    ('filter', 'cali-pi-_3jXH69AOUJxPx56j_xf',
     {'owner': 'calico', 'role': 'policy', 'direction': 'inbound', 'hashed': '_3jXH69AOUJxPx56j_xf',
      'label': 'Calico policy (hashed name _3jXH69AOUJxPx56j_xf) (inbound)'}),
    ('filter', 'cali-pi-ns1/knp.default.deny-web',
     {'owner': 'calico', 'role': 'policy', 'direction': 'inbound', 'kind': 'KubernetesNetworkPolicy',
      'namespace': 'ns1', 'name': 'deny-web', 'label': 'Calico policy ns1/deny-web (inbound)'}),
    ('filter', 'cali-po-default/allow-dns',
     {'owner': 'calico', 'role': 'policy', 'direction': 'outbound', 'kind': 'NetworkPolicy', 'namespace': 'default',
      'name': 'allow-dns', 'label': 'Calico policy default/allow-dns (outbound)'}),
    # Felix 3.30 and later: "<short kind>/[<namespace>/]<name>"
    ('filter', 'cali-pi-knp/ns1/deny-web',
     {'owner': 'calico', 'role': 'policy', 'direction': 'inbound', 'kind': 'KubernetesNetworkPolicy',
      'namespace': 'ns1', 'name': 'deny-web', 'label': 'Calico policy ns1/deny-web (inbound)'}),
    ('filter', 'cali-po-gnp/allow-dns',
     {'owner': 'calico', 'role': 'policy', 'direction': 'outbound', 'kind': 'GlobalNetworkPolicy',
      'name': 'allow-dns', 'label': 'Calico global policy allow-dns (outbound)'}),
    ('filter', 'cali-pri-kns.ns1', {'owner': 'calico', 'role': 'profile', 'direction': 'inbound', 'kind': 'Namespace',
                                    'name': 'ns1', 'label': 'Calico profile ns1 (inbound)'}),
    ('filter', 'cali-pro-ksa.ns1.default',
     {'owner': 'calico', 'role': 'profile', 'direction': 'outbound', 'kind': 'ServiceAccount', 'name': 'ns1.default',
      'label': 'Calico profile ns1.default (outbound)'}),
    # Calico's nftables mode: table calico, chains prefixed with their iptables table
    ('calico', 'filter-cali-pi-knp/ns1/deny-web',
     {'owner': 'calico', 'role': 'policy', 'direction': 'inbound', 'kind': 'KubernetesNetworkPolicy',
      'namespace': 'ns1', 'name': 'deny-web', 'label': 'Calico policy ns1/deny-web (inbound)'}),
    ('filter', 'cali-something-new', {'owner': 'calico', 'role': 'other', 'label': 'Calico chain cali-something-new'}),
])
def test_calico_chains_by_their_names(namer, table, chain, expected):
    assert namer.name(_step(table, chain)) == expected


@pytest.mark.parametrize('text, comment', [
    ('-A KUBE-SEP-X -p tcp -m comment --comment ns1/svc1:p80 -m tcp -j DNAT --to-destination 10.180.0.1:80',
     'ns1/svc1:p80'),
    ('-4 -t filter -A KUBE-SERVICES -d 172.30.0.42/32 -m comment --comment "ns2/svc2:p80 has no endpoints" -j REJECT',
     'ns2/svc2:p80 has no endpoints'),
    ('ip daddr 172.30.0.41 tcp dport 80 counter jump x comment "ns1/svc1:p80 cluster IP"', 'ns1/svc1:p80 cluster IP'),
    ('-A INPUT -j ACCEPT', None), ('', None), (None, None),
])
def test_rule_comment_in_either_syntax(text, comment):
    assert rule_comment(text) == comment


def test_the_report_names_the_calico_policy_behind_a_drop(bundle):
    """A recorded capture (fixtures/trace/README.md, mixed/legacy-nft) with Felix-shaped chains: the drop of TCP 81
    in a hashed policy chain is named in the drop, the verdict line and every step of its path, with the raw
    table/chain/rule beside the name."""
    report = build_report(str(bundle('mixed/legacy-nft', hosts=('node2',))))
    (drop,) = [d for d in report['drops'] if d['chain'].startswith('cali-')]
    assert drop['k8s'] == {'owner': 'calico', 'role': 'policy', 'direction': 'inbound',
                           'hashed': '_DNxril3RavGD5MfvJ7N',
                           'label': 'Calico policy (hashed name _DNxril3RavGD5MfvJ7N) (inbound)'}
    assert any(line.startswith('node2 drops TCP 198.18.200.1 -> 198.18.200.2:81 at Calico policy (hashed name '
                               '_DNxril3RavGD5MfvJ7N) (inbound) (filter/cali-pi-_DNxril3RavGD5MfvJ7N rule 1): -A ')
               for line in report['verdicts']), report['verdicts']
    path = next(p for p in report['paths'] if p['steps'] and p['steps'][p['deciding_step']]['chain'] == drop['chain'])
    named = [(s['chain'], (s['k8s'] or {}).get('label')) for s in path['steps']]
    assert ('cali-fh-ndt2', 'Calico from host endpoint ndt2') in named
    assert all(label for chain, label in named if chain.startswith('cali-')), named
    assert all(label is None for chain, label in named if not chain.startswith(('cali-', 'KUBE-'))), named


def test_a_packet_through_a_service_names_service_and_endpoint(bundle):
    """The same recording's TCP to the ClusterIP 198.18.201.2:8080, DNATed by kube-proxy-shaped rules of service
    demo/web:http to 198.18.200.2:8080: its path names the service and the endpoint, and its journey line says
    where the DNAT happened."""
    report = build_report(str(bundle('mixed/legacy-nft', hosts=('node2',))))
    index, packet = next((i, p) for i, p in enumerate(report['packets'])
                         if p['summary'].get('dport') == 8080 and p['summary'].get('proto') == 'tcp')
    steps = report['paths'][packet['path_id']]['steps']
    labels = [s['k8s']['label'] for s in steps if s['k8s']]
    assert 'endpoint 198.18.200.2:8080 of service demo/web:http' in labels, labels
    full_paths = [report['paths'][p['path_id']]['steps'] for p in report['packets']]
    assert journey_services([index], report['packets'], full_paths) == [
        'service demo/web:http -> endpoint 198.18.200.2:8080 (DNAT on node2)']


# Real rulesets from kube-proxy's and Felix's own tests (fixtures/kubernetes/README.md says where each comes from)
KUBE_SERVICES = {  # KUBE-SVC chain -> service, from fixtures/kubernetes/README.md
    'KUBE-SVC-XPGD46QRK7WJZT7O': 'ns1/svc1:p80', 'KUBE-SVC-GNZBNJ2PO5MGZ6GT': 'ns2/svc2:p80',
    'KUBE-SVC-X27LE4BHSL4DOUIK': 'ns3/svc3:p80', 'KUBE-SVC-4SW47YFZTEDKD3PK': 'ns4/svc4:p80',
    'KUBE-SVC-NUKIZ6OKUXPJNT4C': 'ns5/svc5:p80',
}
KUBE_ENDPOINTS = {
    'KUBE-SEP-SXIVWICOYRO3J4NJ': ('ns1/svc1:p80', '10.180.0.1:80'),
    'KUBE-SEP-RS4RBKLTHTF2IUXJ': ('ns2/svc2:p80', '10.180.0.2:80'),
    'KUBE-SEP-OYPFS5VJICHGATKP': ('ns3/svc3:p80', '10.180.0.3:80'),
    'KUBE-SEP-UKSFD7AGPMPPLUHC': ('ns4/svc4:p80', '10.180.0.4:80'),
    'KUBE-SEP-C6EBXVWJJZMIWKLZ': ('ns4/svc4:p80', '10.180.0.5:80'),
    'KUBE-SEP-I77PXRDZVX7PMWMN': ('ns5/svc5:p80', '10.180.0.3:80'),
}


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def _chains(snapshot):
    """(table, chain) of every chain in a snapshot, every backend."""
    for tables in list(snapshot.legacy.values()) + list(snapshot.xtables.values()):
        for table in tables.values():
            for chain in table.chains:
                yield table.name, chain
    for (family, table), found in snapshot.nft.items():
        for chain in found.chains:
            yield table, chain


@pytest.mark.parametrize('fixture, snapshot_name', [
    ('kube-proxy-iptables.save', 'iptables-nft.save'), ('kube-proxy-nftables.ruleset', 'nft.ruleset'),
    ('calico-iptables.save', 'iptables-legacy.save'),
])
def test_every_kube_proxy_and_calico_chain_of_real_rulesets_is_classified(fixture, snapshot_name):
    snapshot = Snapshot({snapshot_name: _fixture(fixture)})
    namer = Namer(snapshot)
    owned = [(table, chain) for table, chain in _chains(snapshot)
             if chain.startswith(('KUBE-', 'cali-')) or table == 'kube-proxy']
    assert len(owned) > 20
    for table, chain in owned:
        name = namer.name(_step(table, chain))
        assert name is not None and name['role'] != 'other' and name['label'], (table, chain, name)
        assert 'no rule names it' not in name['label'], (table, chain, name)


def test_real_kube_proxy_iptables_services_and_endpoints_are_named():
    namer = Namer(Snapshot({'iptables-nft.save': _fixture('kube-proxy-iptables.save')}))
    for chain, service in KUBE_SERVICES.items():
        assert namer.name(_step('nat', chain))['label'] == 'service %s' % service
    for chain, (service, endpoint) in KUBE_ENDPOINTS.items():
        name = namer.name(_step('nat', chain))
        assert (name['endpoint'], name['label']) == (endpoint, 'endpoint %s of service %s' % (endpoint, service))
    assert namer.name(_step('nat', 'KUBE-SVC-XPGD46QRK7WJZT7O'))['cluster_ip'] == '172.30.0.41'
    assert namer.name(_step('nat', 'KUBE-FW-NUKIZ6OKUXPJNT4C'))['label'] == \
        'load-balancer firewall of service ns5/svc5:p80'
    assert namer.name(_step('nat', 'KUBE-EXT-GNZBNJ2PO5MGZ6GT'))['label'] == 'external traffic of service ns2/svc2:p80'


def test_real_kube_proxy_nftables_services_and_endpoints_are_named():
    snapshot = Snapshot({'nft.ruleset': _fixture('kube-proxy-nftables.ruleset')})
    namer = Namer(snapshot)
    names = [namer.name(_step('kube-proxy', chain, family='ip')) for table, chain in _chains(snapshot)]
    services = {n['label'] for n in names if n['role'] == 'service'}
    endpoints = {n['endpoint'] for n in names if n['role'] == 'endpoint'}
    assert services >= {'service %s' % s for s in KUBE_SERVICES.values()}, services
    assert endpoints == {e for _s, e in KUBE_ENDPOINTS.values()}


def test_real_felix_hashed_chains_are_named_from_felixs_comment():
    namer = Namer(Snapshot({'iptables-legacy.save': _fixture('calico-iptables.save')}))
    assert namer.name(_step('filter', 'cali-pi-_PymyFHQQg3808jiz1OJ')) == {
        'owner': 'calico', 'role': 'policy', 'direction': 'inbound', 'hashed': '_PymyFHQQg3808jiz1OJ',
        'kind': 'GlobalNetworkPolicy', 'name': 'long-policy-name-that-gets-hashed',
        'label': 'Calico global policy long-policy-name-that-gets-hashed (inbound)'}
    assert namer.name(_step('filter', 'cali-pro-_ffOMcf6pikpiZ6hgKc'))['label'] == \
        'Calico profile long-policy-name-that-gets-hashed (outbound)'
    assert namer.name(_step('filter', 'cali-tw-cali1234'))['label'] == 'Calico to pod interface cali1234'


@pytest.mark.parametrize('prefix, suffix, chain', [
    # Felix's own expectations (fixtures/kubernetes/calico-iptables.save, from felix/rules tests)
    ('cali-pi-', 'gnp/long-policy-name-that-gets-hashed', 'cali-pi-_PymyFHQQg3808jiz1OJ'),
    ('cali-pri-', 'long-policy-name-that-gets-hashed', 'cali-pri-_ffOMcf6pikpiZ6hgKc'),
    ('cali-pi-', 'gnp/ai', 'cali-pi-gnp/ai'),  # fits: kept as it is
])
def test_felix_chain_names_recomputed(prefix, suffix, chain):
    assert length_limited_id(prefix, suffix) == chain


def test_dual_stack_service_chains_keep_each_familys_cluster_ip():
    """kube-proxy's per-service chain hashes do not include the family: the same KUBE-SVC chain in iptables and
    ip6tables holds each family's cluster IP."""
    v4 = KUBE_SAVE
    v6 = KUBE_SAVE.replace('172.30.0.41/32', 'fd00:172:30::41/128').replace('10.180.0.1', 'fd00:10:180::1')
    namer = Namer(Snapshot({'iptables-nft.save': v4, 'ip6tables-nft.save': v6}))
    chain = 'KUBE-SVC-XPGD46QRK7WJZT7O'
    assert namer.name(_step('nat', chain, family='ip'))['cluster_ip'] == '172.30.0.41'
    assert namer.name(_step('nat', chain, family='ip6'))['cluster_ip'] == 'fd00:172:30::41'
