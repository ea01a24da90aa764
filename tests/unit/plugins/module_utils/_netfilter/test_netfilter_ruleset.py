# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots read through the runner from a node answering with recorded output."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ToolNotFoundError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import normalise_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import normalise_nft
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.ruleset import read_nft, read_save, snapshot
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import (
    DEBIAN12_TOOLS, FakeModule, OLD_TOOLS, ScenarioNode, fixture,
)


def node(scenario, tools=None):
    module = FakeModule(DEBIAN12_TOOLS if tools is None else tools, ScenarioNode(scenario))
    return module, ToolRunner(module)


def test_read_save_with_counters_and_no_lock_flag():
    module, runner = node('legacy')
    assert read_save(runner, '/usr/sbin/iptables-legacy-save', counters=True) == \
        fixture('legacy', 'iptables-legacy-save-c.txt')
    assert module.argvs() == [['/usr/sbin/iptables-legacy-save', '-c']]


def test_read_nft():
    module, runner = node('native')
    assert read_nft(runner, handles=True) == fixture('native', 'nft-a-list-ruleset.txt')
    assert read_nft(runner) == fixture('native', 'nft-list-ruleset.txt')
    assert module.argvs() == [['/usr/sbin/nft', '-a', 'list', 'ruleset'], ['/usr/sbin/nft', 'list', 'ruleset']]


def test_read_nft_without_nft_names_the_package():
    _module, runner = node('native', tools={})
    with pytest.raises(ToolNotFoundError) as caught:
        read_nft(runner)
    assert 'install the nftables package' in caught.value.msg


@pytest.mark.parametrize('scenario', ['legacy', 'nft', 'mixed', 'empty-loaded', 'native', 'cilium'])
def test_snapshot_of_both_backends_and_nftables(scenario):
    module, runner = node(scenario)
    snap = snapshot(runner, include_nft=True)
    assert snap == {
        'legacy': {'ipv4': normalise_save(fixture(scenario, 'iptables-legacy-save.txt')),
                   'ipv6': normalise_save(fixture(scenario, 'ip6tables-legacy-save.txt'), 'ipv6')},
        'nf_tables': {'ipv4': normalise_save(fixture(scenario, 'iptables-nft-save.txt')),
                      'ipv6': normalise_save(fixture(scenario, 'ip6tables-nft-save.txt'), 'ipv6')},
        'nftables': normalise_nft(fixture(scenario, 'nft-list-ruleset.txt')),
    }
    assert len(module.calls) == 5


def test_snapshots_of_the_same_ruleset_in_either_variant_compare_equal():
    legacy = snapshot(node('legacy')[1])
    nft = snapshot(node('nft')[1])
    assert legacy['legacy'] == nft['nf_tables']
    assert legacy['nf_tables'] == nft['legacy'] == {'ipv4': '', 'ipv6': ''}


def test_snapshot_reuses_outputs_already_read():
    module, runner = node('mixed')
    saves = {('legacy', 'ipv4'): fixture('mixed', 'iptables-legacy-save.txt')}
    snap = snapshot(runner, families=['ipv4'], saves=saves, nft_text=fixture('mixed', 'nft-a-list-ruleset.txt'),
                    include_nft=True)
    assert module.argvs() == [['/usr/sbin/iptables-nft-save']]
    assert sorted(snap) == ['legacy', 'nf_tables', 'nftables']


def test_snapshot_on_iptables_before_1_8():
    module, runner = node('legacy', tools=OLD_TOOLS)
    snap = snapshot(runner, default_variant='legacy')
    assert sorted(snap) == ['legacy']
    assert module.argvs() == [['/sbin/iptables-save'], ['/sbin/ip6tables-save']]
