# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes objects the user gives: pods and services by address, hashed Calico policy chains by policy."""

from __future__ import annotations

import json

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis import k8s_objects
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.kubernetes import Namer
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.resolve import Snapshot
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError

LONG_POLICY = 'deny-web-from-everything-but-the-frontend'
OBJECTS = {'apiVersion': 'v1', 'kind': 'List', 'items': [
    {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'namespace': 'demo', 'name': 'web-0'},
     'spec': {'nodeName': 'node2'}, 'status': {'podIP': '198.18.200.2', 'podIPs': [{'ip': '198.18.200.2'}]}},
    {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'namespace': 'kube-system', 'name': 'kube-proxy-x'},
     'spec': {'hostNetwork': True}, 'status': {'podIP': '198.18.200.1'}},  # the node's address: not named
    # a finished Job's pod keeps the address a running pod has again: not named by it
    {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'namespace': 'demo', 'name': 'zz-job-abc'},
     'status': {'phase': 'Succeeded', 'podIP': '198.18.200.2'}},
    {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'namespace': 'demo', 'name': 'web'},
     'spec': {'clusterIP': '198.18.201.2', 'clusterIPs': ['198.18.201.2']}},
    {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy',
     'metadata': {'namespace': 'ns1', 'name': LONG_POLICY}, 'spec': {}},
    {'apiVersion': 'projectcalico.org/v3', 'kind': 'GlobalNetworkPolicy', 'metadata': {'name': 'allow-dns'}},
]}


def _objects():
    return k8s_objects.parse(json.dumps(OBJECTS), 'objects.json')


def test_pods_services_and_policies_by_what_names_them():
    objects = _objects()
    assert objects.counts == {'pods': 2, 'services': 1, 'policies': 2}  # not the host-network pod
    assert objects.pod('198.18.200.2:8080') == {'namespace': 'demo', 'name': 'web-0', 'node': 'node2'}
    assert objects.pod('198.18.200.1') is None and objects.service('198.18.201.2')['name'] == 'web'
    # every chain name Felix versions give the policy, hashed where too long
    chain = k8s_objects.length_limited_id('cali-pi-', 'knp/ns1/%s' % LONG_POLICY)
    assert chain.startswith('cali-pi-_') and len(chain) == 28
    assert objects.policy(chain) == {'kind': 'KubernetesNetworkPolicy', 'namespace': 'ns1', 'name': LONG_POLICY}
    assert objects.policy(k8s_objects.length_limited_id('cali-po-', 'ns1/knp.default.%s' % LONG_POLICY))


def test_a_hashed_policy_chain_is_named_by_the_objects():
    chain = k8s_objects.length_limited_id('cali-pi-', 'knp/ns1/%s' % LONG_POLICY)
    namer = Namer(Snapshot({}), _objects())
    name = namer.name({'table': 'filter', 'chain': chain, 'rule': None})
    assert name['label'] == 'Calico policy ns1/%s (inbound)' % LONG_POLICY
    assert (name['kind'], name['hashed']) == ('KubernetesNetworkPolicy', chain[len('cali-pi-'):])
    assert Namer(Snapshot({})).name({'table': 'filter', 'chain': chain, 'rule': None})['label'].startswith(
        'Calico policy (hashed name ')


def test_the_report_names_pods_and_services_by_address(bundle):
    """The recorded mixed/legacy-nft capture (fixtures/trace/README.md) with objects that name its addresses: the
    ClusterIP packet's destination is the service, the endpoint its pod, and the drop's destination the pod."""
    report = build_report(str(bundle('mixed/legacy-nft', hosts=('node2',))), objects=_objects())
    assert report['kubernetes_objects'] == {'file': 'objects.json', 'pods': 2, 'services': 1, 'policies': 2}
    to_service = next(p for p in report['packets'] if p['summary'].get('dst') == '198.18.201.2')
    assert to_service['summary']['dst_k8s'] == 'service demo/web'
    labels = [s['k8s']['label'] for s in report['paths'][to_service['path_id']]['steps'] if s['k8s']]
    assert 'endpoint 198.18.200.2:8080 (pod demo/web-0) of service demo/web:http' in labels, labels
    assert any(' -> pod demo/web-0 (198.18.200.2:81) at Calico policy ' in line for line in report['verdicts']), \
        report['verdicts']


@pytest.mark.parametrize('text, problem', [
    ('not json', 'is not JSON'),
    ('{"kind": "Pod"}', 'has no "items" list'),
    ('"a string"', 'has no "items" list'),
])
def test_bad_objects_are_refused_naming_the_option(text, problem):
    with pytest.raises(ParameterError) as err:
        k8s_objects.parse(text, 'objects.json')
    assert str(err.value).startswith('k8s_objects: objects.json ') and problem in str(err.value)
    assert 'kubectl get pods,services,networkpolicies -A -o json' in str(err.value)


def test_a_missing_file_is_refused_naming_the_variable(tmp_path):
    with pytest.raises(ParameterError) as err:
        k8s_objects.load(str(tmp_path / 'none.json'), param='netdebug_k8s_objects')
    assert str(err.value).startswith('netdebug_k8s_objects: cannot read ')
    listed = tmp_path / 'list.json'
    listed.write_text(json.dumps(OBJECTS['items']))
    assert k8s_objects.load(str(listed)).counts['pods'] == 2


def test_a_pods_calico_interface_is_named_by_the_objects():
    interface = k8s_objects.workload_interface('demo', 'web-0')
    assert interface.startswith('cali') and len(interface) == 15
    name = Namer(Snapshot({}), _objects()).name({'table': 'filter', 'chain': 'cali-tw-' + interface, 'rule': None})
    assert (name['pod'], name['label']) == ('demo/web-0', 'Calico to pod interface %s (pod demo/web-0)' % interface)
    assert 'pod' not in Namer(Snapshot({})).name({'table': 'filter', 'chain': 'cali-tw-' + interface, 'rule': None})
