# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Other agents' hooks, found in the recorded rulesets."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.hooks import (
    agents, chain_agent, foreign_hooks,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import parse_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import parse_nft
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import fixture


@pytest.mark.parametrize('name, agent', [
    ('cali-from-host-endpoint', 'calico'),
    ('cali-PREROUTING', 'calico'),
    ('KUBE-SERVICES', 'kube-proxy'),
    ('KUBE-SVC-NPX46M4PTMTKRN6Y', 'kube-proxy'),
    ('DOCKER', 'docker'),
    ('DOCKER-USER', 'docker'),
    ('DOCKER-ISOLATION-STAGE-1', 'docker'),
    ('CILIUM_PRE_raw', 'cilium'),
    ('INPUT', None),
    ('app-guard', None),
    ('DOCKERISH', None),
    ('calico-x', None),
    ('kube-services', None),
])
def test_chain_agent(name, agent):
    assert chain_agent(name) == agent


def summary(hooks):
    return [(h['table'], h['chain'], h['position'], h['agent'], h['target']) for h in hooks]


K8S_V4_HOOKS = [
    ('raw', 'PREROUTING', 1, 'calico', 'cali-PREROUTING'),
    ('raw', 'OUTPUT', 1, 'calico', 'cali-OUTPUT'),
    ('nat', 'PREROUTING', 1, 'kube-proxy', 'KUBE-SERVICES'),
    ('nat', 'OUTPUT', 1, 'kube-proxy', 'KUBE-SERVICES'),
    ('nat', 'POSTROUTING', 1, 'calico', 'cali-POSTROUTING'),
    ('nat', 'POSTROUTING', 2, 'kube-proxy', 'KUBE-POSTROUTING'),
    ('filter', 'INPUT', 2, 'calico', 'cali-INPUT'),
    ('filter', 'INPUT', 3, 'kube-proxy', 'KUBE-SERVICES'),
    ('filter', 'INPUT', 4, 'kube-proxy', 'KUBE-FIREWALL'),
    ('filter', 'FORWARD', 1, 'kube-proxy', 'KUBE-FORWARD'),
    ('filter', 'FORWARD', 2, 'calico', 'cali-FORWARD'),
    ('filter', 'OUTPUT', 1, 'kube-proxy', 'KUBE-FIREWALL'),
]


@pytest.mark.parametrize('scenario, tool, backend', [
    ('legacy', 'iptables-legacy-save', 'legacy'),
    ('nft', 'iptables-nft-save', 'nf_tables'),
    ('mixed', 'iptables-nft-save', 'nf_tables'),
])
def test_kubernetes_hooks_in_both_variants(scenario, tool, backend):
    ruleset = parse_save(fixture(scenario, tool + '.txt'))
    hooks = foreign_hooks(ruleset, backend)
    # listed in the save's table order; compare as sets of hooks, positions included
    assert sorted(summary(hooks)) == sorted(K8S_V4_HOOKS)
    # jumps inside an agent's own chains (KUBE-SERVICES -> KUBE-SVC-..., cali-INPUT -> cali-from-...) are no hooks,
    # and neither is the jump to our own app-guard chain
    assert all(h['chain'] in ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING') for h in hooks)
    assert all(h['backend'] == backend and h['family'] == 'ipv4' and h['kind'] == 'jump' for h in hooks)
    assert agents(hooks) == ['calico', 'kube-proxy']


def test_hook_entry():
    hooks = foreign_hooks(parse_save(fixture('legacy', 'iptables-legacy-save.txt')), 'legacy', 'filter', 'INPUT')
    assert hooks[0] == {
        'backend': 'legacy', 'family': 'ipv4', 'table': 'filter', 'chain': 'INPUT', 'agent': 'calico',
        'kind': 'jump', 'position': 2, 'handle': None, 'target': 'cali-INPUT',
        'rule': '-m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT', 'hook': 'input', 'priority': None,
    }
    assert [h['position'] for h in hooks] == [2, 3, 4]


def test_filter_by_table_and_chain():
    ruleset = parse_save(fixture('legacy', 'iptables-legacy-save.txt'))
    assert summary(foreign_hooks(ruleset, 'legacy', table='raw', chain='PREROUTING')) == [
        ('raw', 'PREROUTING', 1, 'calico', 'cali-PREROUTING')]
    assert foreign_hooks(ruleset, 'legacy', table='mangle') == []
    assert foreign_hooks(ruleset, 'legacy', chain='app-guard') == []


def test_docker_hooks_in_the_legacy_half_of_a_mixed_node():
    hooks = foreign_hooks(parse_save(fixture('mixed', 'iptables-legacy-save.txt')), 'legacy')
    assert sorted(summary(hooks)) == sorted([
        ('nat', 'PREROUTING', 1, 'docker', 'DOCKER'),
        ('nat', 'OUTPUT', 1, 'docker', 'DOCKER'),
        ('filter', 'FORWARD', 1, 'docker', 'DOCKER-USER'),
        ('filter', 'FORWARD', 2, 'docker', 'DOCKER-ISOLATION-STAGE-1'),
        ('filter', 'FORWARD', 4, 'docker', 'DOCKER'),
    ])


def test_cilium_hooks():
    hooks = foreign_hooks(parse_save(fixture('cilium', 'iptables-nft-save.txt')), 'nf_tables')
    assert sorted(summary(hooks)) == sorted([
        ('raw', 'PREROUTING', 1, 'cilium', 'CILIUM_PRE_raw'),
        ('raw', 'OUTPUT', 1, 'cilium', 'CILIUM_OUTPUT_raw'),
        ('filter', 'INPUT', 1, 'cilium', 'CILIUM_INPUT'),
        ('filter', 'FORWARD', 1, 'cilium', 'CILIUM_FORWARD'),
    ])


def test_ipv6_hooks():
    hooks = foreign_hooks(parse_save(fixture('nft', 'ip6tables-nft-save.txt'), 'ipv6'), 'nf_tables')
    assert sorted(summary(hooks)) == sorted([
        ('raw', 'PREROUTING', 1, 'calico', 'cali-PREROUTING'),
        ('filter', 'INPUT', 2, 'calico', 'cali-INPUT'),
        ('filter', 'INPUT', 3, 'kube-proxy', 'KUBE-FIREWALL'),
    ])
    assert {h['family'] for h in hooks} == {'ipv6'}


def test_nftables_kube_proxy_table_is_a_base_chain_hook():
    ruleset = parse_nft(fixture('native', 'nft-a-list-ruleset.txt'))
    hooks = foreign_hooks(ruleset, 'nftables')
    assert hooks == [{
        'backend': 'nftables', 'family': 'ip', 'table': 'kube-proxy', 'chain': 'nat-prerouting', 'agent': 'kube-proxy',
        'kind': 'base_chain', 'position': None, 'handle': 3, 'target': None, 'rule': None, 'hook': 'prerouting',
        'priority': 'dstnat',
    }]


def test_iptables_nft_rules_seen_through_nft_have_the_same_hooks():
    ruleset = parse_nft(fixture('nft', 'nft-a-list-ruleset.txt'))
    ip_only = [h for h in foreign_hooks(ruleset, 'nftables') if h['family'] == 'ip']
    assert sorted(summary(ip_only)) == sorted(K8S_V4_HOOKS)
    assert all(isinstance(h['handle'], int) for h in ip_only)
