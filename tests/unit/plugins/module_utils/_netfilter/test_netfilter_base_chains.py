# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base chains of every backend with numeric priorities, from recorded rulesets (fixtures/netfilter)."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter import base_chains as bc
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import parse_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import parse_nft
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import fixture


@pytest.mark.parametrize('text, family, expected', [
    ('filter', 'ip', 0), ('raw - 10', 'inet', -310), ('mangle + 5', 'ip', -145), ('dstnat', 'ip', -100),
    ('srcnat', 'ip6', 100), ('security', 'inet', 50), ('-500', 'netdev', -500), ('100', 'ip', 100),
    ('filter', 'bridge', -200), ('out', 'bridge', 100), ('srcnat', 'bridge', 300),
    ('bogus', 'ip', None), ('filter * 2', 'ip', None), (None, 'ip', None), (7, 'ip', 7),
])
def test_parse_priority(text, family, expected):
    assert bc.parse_priority(text, family) == expected


def _key(chain):
    return (chain['backend'], chain['family'], chain['table'], chain['chain'], chain['hook'], chain['priority'],
            chain['type'], chain['can_drop'])


def test_native_listing():
    chains = bc.nft_base_chains(parse_nft(fixture('native', 'nft-list-ruleset.txt')))
    keys = set(_key(c) for c in chains)
    assert ('nftables', 'inet', 'ndrec_native', 'input', 'input', 0, 'filter', True) in keys
    assert [(c['hook'], c['priority']) for c in chains if c['family'] == 'netdev'] == [('ingress', -500)]
    # kube-proxy's nftables-mode nat chain: no drop or reject in it or the chains it jumps to
    kube = [c for c in chains if c['table'] == 'kube-proxy' and c['hook'] == 'prerouting']
    assert kube and all(c['type'] == 'nat' and c['backend'] == 'nftables' and not c['can_drop'] for c in kube)
    assert bc.for_packet(chains, 'ip') == [c for c in chains if c['family'] in ('ip', 'inet', 'netdev')]
    assert bc.for_packet(chains, None) == chains  # no address seen: every IP family counts


def test_iptables_nft_tables_are_nf_tables():
    chains = bc.nft_base_chains(parse_nft(fixture('mixed', 'nft-list-ruleset.txt')))
    by_name = {(c['family'], c['table'], c['chain']): c for c in chains}
    assert by_name[('ip', 'nat', 'INPUT')]['priority'] == 100
    assert by_name[('ip', 'nat', 'PREROUTING')]['priority'] == -100
    assert by_name[('ip', 'mangle', 'OUTPUT')]['type'] == 'route'
    assert by_name[('ip', 'filter', 'FORWARD')]['policy'] == 'drop'
    assert {c['backend'] for c in chains} == {'nf_tables'}
    assert not by_name[('ip', 'nat', 'PREROUTING')]['can_drop']


def test_legacy_save():
    chains = bc.iptables_base_chains(parse_save(fixture('mixed', 'iptables-legacy-save.txt'), 'ipv4'), 'ipv4')
    by_name = {(c['table'], c['chain']): c for c in chains}
    assert by_name[('filter', 'INPUT')] == {
        'backend': 'legacy', 'family': 'ip', 'table': 'filter', 'chain': 'INPUT', 'hook': 'input', 'priority': 0,
        'type': 'filter', 'policy': 'ACCEPT', 'can_drop': True}
    assert by_name[('nat', 'POSTROUTING')]['priority'] == 100 and not by_name[('nat', 'POSTROUTING')]['can_drop']
    assert ('filter', 'DOCKER') not in by_name  # a user chain is no base chain


@pytest.mark.parametrize('hook, priority, chain, expected', [
    ('input', -150, {'hook': 'input', 'priority': 0}, True),
    ('input', 0, {'hook': 'input', 'priority': 0}, True),  # equal priorities: order unknown
    ('input', 10, {'hook': 'input', 'priority': 0}, False),
    ('prerouting', 0, {'hook': 'forward', 'priority': -500}, True),
    ('input', 0, {'hook': 'postrouting', 'priority': 0}, False),
    ('output', 0, {'hook': 'postrouting', 'priority': -500}, True),
    ('postrouting', 300, {'hook': 'egress', 'priority': -500}, True),
    ('input', None, {'hook': 'input', 'priority': -500}, True),
])
def test_comes_after(hook, priority, chain, expected):
    assert bc.comes_after(chain, hook, priority) is expected


def test_a_native_nat_chain_can_drop_through_a_jump():
    listed = parse_nft('table ip t {\n\tchain blk {\n\t\ttcp dport 8080 drop\n\t}\n\tchain n {\n'
                       '\t\ttype nat hook input priority srcnat + 10; policy accept;\n\t\tjump blk\n\t}\n'
                       '\tchain m {\n\t\ttype nat hook output priority -100; policy accept;\n'
                       '\t\tip daddr 198.18.0.9 dnat to 198.18.0.10\n\t}\n}\n')
    assert {c['chain']: c['can_drop'] for c in bc.nft_base_chains(listed)} == {'n': True, 'm': False}


def test_describe():
    chain = bc.base_chain('nftables', 'inet', 'filter', 'input', 'input', 0, 'filter', 'accept', True)
    assert bc.describe(chain) == 'native nftables table inet filter, chain input (input, priority 0)'


def test_an_empty_accepting_chain_cannot_drop():
    """Legacy tables stay after a flush (an iptables-legacy-save of such a table): they cannot drop anything."""
    flushed = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'
    chains = bc.iptables_base_chains(parse_save(flushed, 'ipv4'), 'ipv4')
    assert {c['chain']: c['can_drop'] for c in chains} == {'INPUT': False, 'FORWARD': True, 'OUTPUT': False}
    listed = parse_nft('table inet t {\n\tchain i {\n\t\ttype filter hook input priority filter; policy accept;\n'
                       '\t}\n\tchain o {\n\t\ttype filter hook output priority filter; policy accept;\n'
                       '\t\tcounter\n\t}\n}\n')
    assert {c['chain']: c['can_drop'] for c in bc.nft_base_chains(listed)} == {'i': False, 'o': True}
