# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netfilter_info for real: ansible localhost (local connection) inside throwaway network namespaces, against the
real iptables-legacy, iptables-nft and nft of this machine. Only namespaces the tests create are touched."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from ansible_collections.netdebug.netfilter.tests.integration.conftest import AnsibleRun

MODULE = 'netdebug.netfilter.netfilter_info'

# A node with a Calico-style hook and a rule of its own, in iptables-restore format.
RULES = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:cali-PREROUTING - [0:0]
-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING
-A cali-PREROUTING -p udp -m udp --dport 4789 -j CT --notrack
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:app-guard - [0:0]
-A INPUT -i lo -p icmp -m comment --comment "loopback pings" -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8080 -j app-guard
-A app-guard -j RETURN
COMMIT
"""

NATIVE = (
    'table ip kube-proxy {\n'
    '  chain services {\n'
    '    ip daddr 198.18.96.1 tcp dport 443 counter\n'
    '  }\n'
    '  chain nat-prerouting {\n'
    '    type nat hook prerouting priority dstnat; policy accept;\n'
    '    jump services\n'
    '  }\n'
    '}\n'
)


class NetnsRun(AnsibleRun):
    """AnsibleRun on localhost inside a network namespace."""

    def __init__(self, inventory, netns):
        super().__init__(inventory)
        self.netns = netns

    def _run(self, argv, extra_env=None, timeout=600):
        return super()._run(['ip', 'netns', 'exec', self.netns] + argv, extra_env=extra_env, timeout=timeout)


@pytest.fixture(scope='module')
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp('inv') / 'hosts'
    python = shutil.which('python3') or '/usr/bin/python3'
    path.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % python)
    return path


@pytest.fixture
def netns():
    name = 'ndnfi' + uuid.uuid4().hex[:8]
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    try:
        subprocess.run(['ip', '-n', name, 'link', 'set', 'lo', 'up'], check=True)
        yield name
    finally:
        subprocess.run(['ip', 'netns', 'del', name], check=False)


def in_ns(name, *argv, data=None):
    return subprocess.run(['ip', 'netns', 'exec', name] + list(argv), input=data, capture_output=True, text=True,
                          check=True).stdout


def info(inventory, name, args=None, check=False):
    """The module's result (and the status the callback recorded) for one run in namespace name."""
    # ansible -a '{}' is taken for raw parameters, so an empty call states a default instead
    run = NetnsRun(inventory, name).module('localhost', MODULE, args or {'snapshot': False}, check=check)
    assert run.rc == 0, run
    assert len(run.results) == 1, run
    record = run.results[0]
    assert record['status'] == 'ok', run
    result = dict(record['result'])
    assert result.pop('changed') is False
    return result


def host_default_variant():
    out = subprocess.run(['iptables', '-V'], capture_output=True, text=True, check=True).stdout
    return 'nf_tables' if '(nf_tables)' in out else 'legacy'


def test_fresh_namespace_and_check_mode(inventory, netns):
    result = info(inventory, netns)
    assert result['variant'] == host_default_variant()
    assert result['backends_with_rules'] == []
    assert result['foreign_hooks'] == [] and result['foreign_agents'] == []
    assert result['iptables_version'] and result['binaries']['iptables-legacy-save'].endswith('iptables-legacy-save')
    # check mode reads the same and reports the same; a second run too
    assert info(inventory, netns, check=True)['variant'] == result['variant']
    assert info(inventory, netns) == result


def test_variant_follows_the_backends_that_hold_rules(inventory, netns):
    in_ns(netns, 'iptables-legacy-restore', '-w', '5', data=RULES)
    result = info(inventory, netns, {'families': ['ipv4']})
    assert (result['variant'], result['backends_with_rules']) == ('legacy', ['legacy'])
    assert [(h['backend'], h['table'], h['chain'], h['position'], h['agent']) for h in result['foreign_hooks']] == [
        ('legacy', 'raw', 'PREROUTING', 1, 'calico')]

    in_ns(netns, 'iptables-nft', '-A', 'OUTPUT', '-o', 'lo', '-j', 'ACCEPT')
    result = info(inventory, netns, {'families': ['ipv4']})
    assert (result['variant'], result['backends_with_rules']) == ('mixed', ['legacy', 'nf_tables'])

    # emptied legacy tables stay listed by iptables-legacy-save, but hold nothing
    for table in ('raw', 'filter'):
        in_ns(netns, 'iptables-legacy', '-w', '5', '-t', table, '-F')
        in_ns(netns, 'iptables-legacy', '-w', '5', '-t', table, '-X')
    in_ns(netns, 'iptables-legacy', '-w', '5', '-P', 'FORWARD', 'ACCEPT')
    assert '*filter' in in_ns(netns, 'iptables-legacy-save')
    result = info(inventory, netns, {'families': ['ipv4']})
    assert (result['variant'], result['backends_with_rules']) == ('nf_tables', ['nf_tables'])


def test_policy_alone_holds_rules(inventory, netns):
    in_ns(netns, 'ip6tables-legacy', '-w', '5', '-P', 'FORWARD', 'DROP')
    result = info(inventory, netns)
    assert result['backends_with_rules'] == ['legacy']
    assert info(inventory, netns, {'families': ['ipv4']})['backends_with_rules'] == []


def test_snapshot_ignores_counters_but_not_rules(inventory, netns):
    in_ns(netns, 'iptables-nft-restore', '-w', '5', data=RULES)
    args = {'snapshot': True, 'families': ['ipv4'], 'include_nft': True}
    before = info(inventory, netns, args)['snapshot']
    counters_before = in_ns(netns, 'iptables-nft-save', '-c')
    in_ns(netns, 'ping', '-q', '-c', '3', '-i', '0.2', '127.0.0.1')
    assert in_ns(netns, 'iptables-nft-save', '-c') != counters_before  # traffic really moved the counters
    assert info(inventory, netns, args)['snapshot'] == before
    assert '-A INPUT -i lo -p icmp -m comment --comment "loopback pings" -j ACCEPT' in before['nf_tables']['ipv4']
    assert 'counter accept' in before['nftables'] and 'packets' not in before['nftables']

    in_ns(netns, 'iptables-nft', '-A', 'app-guard', '-p', 'tcp', '-j', 'DROP')
    after = info(inventory, netns, args)['snapshot']
    assert after['nf_tables']['ipv4'] != before['nf_tables']['ipv4']
    assert after['nf_tables']['ipv4'].replace('-A app-guard -p tcp -j DROP\n', '') == before['nf_tables']['ipv4']


def test_same_rules_in_both_variants_give_the_same_snapshot(inventory, netns):
    in_ns(netns, 'iptables-legacy-restore', '-w', '5', data=RULES)
    in_ns(netns, 'iptables-nft-restore', '-w', '5', data=RULES)
    result = info(inventory, netns, {'snapshot': True, 'families': ['ipv4']})
    assert result['variant'] == 'mixed'
    assert result['snapshot']['legacy']['ipv4'] == result['snapshot']['nf_tables']['ipv4'] != ''


def test_native_nftables(inventory, netns):
    in_ns(netns, 'nft', '-f', '-', data=NATIVE)
    result = info(inventory, netns, {'include_nft': True})
    assert result['nftables_tables'] == ['ip kube-proxy']
    assert result['variant'] == host_default_variant()  # native tables are not iptables rules
    assert [(h['backend'], h['kind'], h['chain'], h['hook'], h['priority']) for h in result['foreign_hooks']] == [
        ('nftables', 'base_chain', 'nat-prerouting', 'prerouting', 'dstnat')]
