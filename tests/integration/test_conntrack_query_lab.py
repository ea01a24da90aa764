# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""conntrack_query through Ansible against real conntrack tables in throwaway namespaces.

The node is a network namespace with flows made on purpose (conntrack_flows.FlowLab: established and TIME_WAIT
TCP, unreplied and replied UDP, ICMP/ICMPv6, a DNAT'ed port, marked packets, zones). Every result is checked
against conntrack(8) run in the same namespace. The checks are written against two callables - `run_module(args,
check=False) -> result` and `node_exec(argv) -> CompletedProcess` - so that they can run against a lab node over
SSH as well.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

import conntrack_flows as F
from conftest import AnsibleRun

MODULE = 'netdebug.netfilter.conntrack_query'
PREFIX = 'ndcti'


# -- the node: namespaces and an Ansible that reaches them ----------------------------------------------------

@pytest.fixture(scope='module')
def flowlab():
    lab = F.FlowLab(PREFIX)
    lab.down()  # leftovers of a crashed run
    lab.up()
    try:
        lab.standard_flows()
        time.sleep(1.0)  # TIME_WAIT and the echoed UDP settle
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope='module')
def ansible(tmp_path_factory):
    """Ansible on this machine; the module runs under the test's Python, which has pyroute2."""
    inventory = tmp_path_factory.mktemp('ct-inventory') / 'hosts.yml'
    inventory.write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}))
    return AnsibleRun(inventory)


@pytest.fixture(scope='module')
def run_module(ansible, flowlab):
    def run(args, check=False, netns=flowlab.node.name):
        params = dict(args)
        if netns is not None:
            params.setdefault('netns', netns)
        return _result(ansible.module('localhost', MODULE, params, check=check))
    return run


def _result(res):
    """The localhost result, with failed set from the task status (2.19 results do not always carry it)."""
    assert res.results, res
    result = dict(res.by_host()['localhost'])
    result['failed'] = res.statuses()['localhost'] == 'failed'
    return result


def run_cases(ansible, netns, cases, tmp_path):
    """All filter cases as one playbook (one loop) -> {case name: result}."""
    playbook = tmp_path / 'cases.yml'
    options = sorted(set(key for _n, params, _a, _t in cases for key in params))
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'gather_facts': False,
        'tasks': [{'name': 'cases', 'loop': [dict(name=name, **params) for name, params, _a, _t in cases],
                   MODULE: dict([('netns', netns), ('limit', 0)] +
                                [(key, '{{ item.%s | default(omit) }}' % key) for key in options])}]}]))
    res = ansible.playbook(playbook)
    assert res.rc == 0, res
    return dict((item['item']['name'], item) for item in res.by_host('cases')['localhost']['results'])


# -- checks (reusable with another run_module / node_exec) ----------------------------------------------------

def check_filters(results, node_exec, cases):
    for case in cases:
        name = case[0]
        got = set(entry['id'] for entry in results[name]['entries'])
        assert got == F.expected_ids(node_exec, case), name
        assert results[name]['matched'] == len(got), name


def check_delete(run_module, node_exec):
    """Check, apply, check again, apply again: only the matches go, once."""
    args = {'operation': 'delete', 'protocol': 'udp', 'destination_port': F.UDP_CLOSED_PORT}
    victims = F.conntrack_ids(node_exec, ['-p', 'udp', '--dport', str(F.UDP_CLOSED_PORT)])
    before = F.conntrack_ids(node_exec)
    assert len(victims) >= 3 and victims < before

    checked = run_module(args, check=True)
    assert checked['changed'] is True and checked['deleted'] == 0
    assert set(e['id'] for e in checked['entries']) == victims and checked['matched'] == len(victims)
    assert F.conntrack_ids(node_exec) == before, 'check mode deleted something'

    applied = run_module(args)
    assert applied['changed'] is True and applied['deleted'] == len(victims) and applied['vanished'] == 0
    assert F.conntrack_ids(node_exec) == before - victims

    for check in (True, False):
        again = run_module(args, check=check)
        assert again['changed'] is False and again['matched'] == 0 and again['deleted'] == 0
    assert F.conntrack_ids(node_exec) == before - victims


def check_watch(run_module, make_flow):
    """watch sees new flows made while it listens, and only the ones its filters ask for."""
    port = 6001
    box = {}
    watcher = threading.Thread(target=lambda: box.update(result=run_module(
        {'operation': 'watch', 'duration': 10, 'events': ['new'], 'protocol': 'udp', 'destination_port': port})))
    watcher.start()
    sent = []
    sport = 43000
    while watcher.is_alive():
        make_flow(sport, port)       # wanted
        make_flow(sport, port + 1)   # filtered out
        sent.append(sport)
        sport += 1
        time.sleep(0.5)
    watcher.join()
    result = box['result']
    assert result['events'], result
    for event in result['events']:
        assert event['event'] == 'new' and event['protocol'] == 'udp'
        assert event['original']['destination_port'] == port
        assert event['original']['source_port'] in sent
    assert result['seen'] >= 2 * len(result['events']) - 1  # the other port's events came and were dropped
    assert result['elapsed'] >= 9


# -- tests ----------------------------------------------------------------------------------------------------

def test_every_filter_gives_exactly_what_conntrack_lists(ansible, flowlab, tmp_path):
    results = run_cases(ansible, flowlab.node.name, F.FILTER_CASES, tmp_path)
    check_filters(results, flowlab.node_exec, F.FILTER_CASES)
    assert 'tuple' not in results['all']['kernel_filtered']
    assert results['destination6']['kernel_filtered'] == ['family']  # IPv6 addresses stay in Python


def test_results_are_the_same_without_kernel_filters(flowlab):
    """The Python matcher alone (as on a kernel older than 5.8) gives what the kernel-filtered dumps give."""
    code = '''
import json, sys
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import netns, query
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.filters import FilterSpec
netns.enter(sys.argv[1])
out = {}
for release in ('4.19.0', '6.18.0'):
    ct = query.Conntrack(release=release)
    for name, params in json.loads(sys.argv[2]):
        entries, matched = ct.listing(FilterSpec(params), 0)
        out.setdefault(name, []).append(sorted(e['id'] for e in entries))
print(json.dumps(out))
'''
    cases = [(name, params) for name, params, _a, _t in F.FILTER_CASES]
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(F.__file__).resolve().parents[5]))
    proc = subprocess.run([sys.executable, '-c', code, flowlab.node.name, json.dumps(cases)], env=env,
                          capture_output=True, text=True, check=True, timeout=120)
    for name, (old_kernel, new_kernel) in json.loads(proc.stdout).items():
        assert old_kernel == new_kernel, name
        assert set(new_kernel) == F.expected_ids(flowlab.node_exec, [c for c in F.FILTER_CASES if c[0] == name][0])


def test_list_limit_still_counts_everything(run_module, flowlab):
    result = run_module({'limit': 2})
    total = len(F.conntrack_ids(flowlab.node_exec))
    assert result['matched'] == total >= 10 and len(result['entries']) == 2 and result['truncated'] is True
    assert result['changed'] is False


def test_count_and_stats(run_module, flowlab):
    total = F.conntrack_count(flowlab.node_exec)
    assert run_module({'operation': 'count'})['count'] == total
    assert run_module({'operation': 'count', 'protocol': 'tcp', 'state': ['ESTABLISHED']})['count'] == \
        len(F.conntrack_ids(flowlab.node_exec, ['-p', 'tcp', '--state', 'ESTABLISHED']))
    stats = run_module({'operation': 'stats'})
    assert stats['count'] == total and stats['table_full'] is False and stats['table_full_reasons'] == []
    assert stats['max'] == int(pathlib.Path('/proc/sys/net/netfilter/nf_conntrack_max').read_text())
    assert stats['buckets'] > 0 and stats['source'] == 'proc'
    assert stats['counters']['insert'] == sum(cpu['insert'] for cpu in stats['per_cpu'])


def test_get_one_exact_tuple(run_module, flowlab):
    args = {'operation': 'get', 'protocol': 'tcp', 'source': F.CLIENT4, 'destination': F.NODE4,
            'source_port': 40001, 'destination_port': F.TCP_PORT}
    result = run_module(args)
    assert result['found'] is True and result['entries'][0]['state'] == 'ESTABLISHED'
    ids = F.conntrack_ids(flowlab.node_exec, ['-p', 'tcp', '--sport', '40001', '--dport', str(F.TCP_PORT)])
    assert set([result['entries'][0]['id']]) == ids
    missing = run_module(dict(args, source_port=40999))
    assert missing['found'] is False and missing['entries'] == [] and missing['failed'] is False


def test_netns_reads_that_namespace_own_table(run_module, flowlab):
    """By name, by path and by PID: the node's table; the client's own table is a different one."""
    node_ids = F.conntrack_ids(flowlab.node_exec)
    inode = os.stat(flowlab.node.path).st_ino
    pid = flowlab.node.procs[0].pid
    for netns in (flowlab.node.name, flowlab.node.path, str(pid)):
        result = run_module({'limit': 0}, netns=netns)
        assert set(e['id'] for e in result['entries']) == node_ids, netns
        assert result['netns']['inode'] == inode
    # the client tracks too once it has a conntrack rule; its entries are its own
    flowlab.client.run(['iptables', '-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'ACCEPT'])
    flowlab.udp(41500, F.UDP_CLOSED_PORT)
    client = run_module({'limit': 0}, netns=flowlab.client.name)
    client_ids = F.conntrack_ids(flowlab.client.run)
    assert set(e['id'] for e in client['entries']) == client_ids and len(client_ids) >= 1
    assert not client_ids & F.conntrack_ids(flowlab.node_exec)


def test_delete_removes_only_the_matches(run_module, flowlab):
    check_delete(run_module, flowlab.node_exec)


def test_watch_sees_a_new_flow(run_module, flowlab):
    check_watch(run_module, flowlab.udp)


@pytest.mark.parametrize('args,param,text', [
    ({'source': '198.18.210.300'}, 'source', 'is not an IP address'),
    ({'destination_port': 70000}, 'destination_port', 'out of range'),
    ({'state': ['ESTABLISHD']}, 'state', 'not a TCP conntrack state'),
    ({'status': ['ASURED']}, 'status', 'not a conntrack status flag'),
    ({'netns': 'ndcti-missing'}, 'netns', "no network namespace named 'ndcti-missing'"),
    ({'operation': 'delete'}, 'operation', 'needs at least one filter'),
])
def test_bad_input_fails_naming_the_parameter(run_module, flowlab, args, param, text):
    before = F.conntrack_ids(flowlab.node_exec)
    result = run_module(args)
    assert result['failed'] is True and result['param'] == param and text in result['msg']
    assert F.conntrack_ids(flowlab.node_exec) == before


def test_missing_pyroute2_is_reported_with_the_package_names(tmp_path):
    venv = tmp_path / 'bare'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=120)
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': str(venv / 'bin' / 'python')}}}}))
    result = _result(AnsibleRun(inventory).module('localhost', MODULE, {'operation': 'count'}))
    assert result['failed'] is True
    assert 'Failed to import the required Python library (pyroute2)' in result['msg']
    assert 'python3-pyroute2' in result['msg']
