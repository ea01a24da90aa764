# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backends against a runner that answers with recorded output: the exact commands they send."""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import XtablesLockError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import backends
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import (
    IptablesBackend, dry_run_input, restore_line,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_parse import parse_rules
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nftables_backend import (
    NftablesBackend, chain_decl, priority,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node

IPT = '/usr/sbin/iptables-nft'


def nft_backend(runner):
    runner.lock_wait = 7
    return IptablesBackend(runner, IPT, 'nft', 'ipv4')


def test_list_chain(runner, fixture_text):
    runner.add(('-S', 'PREROUTING'), stdout=fixture_text('legacy-ipv4-raw-PREROUTING.S'))
    rules = nft_backend(runner).list_chain('raw', 'PREROUTING')
    assert runner.calls[0][0] == [IPT, '-w', '7', '-t', 'raw', '-S', 'PREROUTING']
    assert [r.position for r in rules] == [1, 2, 3, 4, 5, 6] and {r.chain for r in rules} == {'PREROUTING'}


def test_unknown_chain_is_a_parameter_error(runner, fixture_text):
    text = fixture_text('nft-unknown-chain.txt')
    runner.add(('-S', 'nochain'), rc=1, stderr=text).add(('-t', 'filter', '-S'), stdout=fixture_text('nft-ipv4-filter.S'))
    with pytest.raises(ParamError) as err:
        nft_backend(runner).list_chain('filter', 'nochain')
    assert err.value.param == 'chain' and 'nochain' in err.value.msg


def test_listing_error_of_an_existing_chain_is_not_blamed_on_the_parameter(runner, fixture_text):
    runner.add(('-S', 'app-guard'), rc=4, stderr='iptables: Resource temporarily unavailable.')
    runner.add(('-t', 'filter', '-S'), stdout=fixture_text('nft-ipv4-filter.S'))
    with pytest.raises(RulesError) as err:
        nft_backend(runner).list_chain('filter', 'app-guard')
    assert not isinstance(err.value, ParamError) and err.value.rc == 4


def test_legacy_never_lists_a_table_it_would_create(runner, tmp_path, monkeypatch):
    names = tmp_path / 'ip_tables_names'
    names.write_text('raw\n')
    monkeypatch.setitem(__import__('ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend',
                                   fromlist=['x']).LEGACY_TABLE_NAMES, 'ipv4', str(names))
    legacy = IptablesBackend(runner, '/usr/sbin/iptables-legacy', 'legacy', 'ipv4')
    assert legacy.list_chain('filter', 'INPUT') == []
    with pytest.raises(ParamError, match='^chain: .*not even in use'):
        legacy.list_chain('filter', 'app-guard')
    assert legacy.present_tables() == ['raw']
    assert runner.calls == []


@pytest.mark.parametrize('position, expected', [(1, ['-I', 'PREROUTING', '1']), (3, ['-I', 'PREROUTING', '3']),
                                                ('bottom', ['-A', 'PREROUTING'])])
def test_insert(runner, position, expected):
    runner.add(('-t', 'raw'))
    nft_backend(runner).insert('raw', 'PREROUTING', position, ['-j', 'TRACE'])
    assert runner.calls[0][0] == [IPT, '-w', '7', '-t', 'raw'] + expected + ['-j', 'TRACE']


def test_delete_by_exact_spec(runner, fixture_text):
    rule = parse_rules(fixture_text('nft-ipv4-raw.S'))[2]
    runner.add(('-D',))
    assert nft_backend(runner).delete('raw', rule)
    assert runner.calls[0][0] == [IPT, '-w', '7', '-t', 'raw', '-D', 'PREROUTING', '-p', 'tcp', '-m', 'tcp', '!',
                                  '--dport', '22', '-m', 'comment', '--comment', 'netdebug:run-1:1790000000', '-j',
                                  'LOG', '--log-prefix', 'x']


def test_delete_of_a_rule_already_gone(runner, fixture_text):
    rule = parse_rules(fixture_text('nft-ipv4-raw.S'))[2]
    runner.add(('-D',), rc=1, stderr='iptables: Bad rule (does a matching rule exist in that chain?).')
    runner.add(('-C',), rc=1)
    assert nft_backend(runner).delete('raw', rule) is False


@pytest.mark.parametrize('rc, expected', [(0, True), (1, False)])
def test_exists(runner, rc, expected):
    runner.add(('-C',), rc=rc)
    assert nft_backend(runner).exists('raw', 'OUTPUT', ['-j', 'TRACE']) is expected


def test_exists_other_failure(runner):
    runner.add(('-C',), rc=2, stderr="iptables v1.8.9 (nf_tables): Couldn't load match `bogus'")
    with pytest.raises(RulesError):
        nft_backend(runner).exists('raw', 'OUTPUT', ['-m', 'bogus'])


def test_find_tagged_over_tables(runner, fixture_text):
    runner.add(('-t', 'raw', '-S'), stdout=fixture_text('nft-ipv4-raw.S'))
    runner.add(('-t', 'filter', '-S'), stdout=fixture_text('nft-ipv4-filter.S'))
    runner.add(lambda argv: '-S' in argv, rc=1, stderr='table does not exist')
    found = nft_backend(runner).find_tagged('run-1')
    assert [(t, r.chain, r.position) for t, r in found] == [
        ('raw', 'PREROUTING', 2), ('raw', 'PREROUTING', 3), ('raw', 'PREROUTING', 4), ('raw', 'OUTPUT', 1),
        ('raw', 'OUTPUT', 2), ('raw', 'OUTPUT', 4), ('filter', 'app-guard', 1)]


def test_restore_line_quoting():
    assert restore_line(['-A', 'X', '--log-prefix', 'nd x', '--comment', 'a "b" \\c', '-j', 'LOG']) == \
        '-A X --log-prefix "nd x" --comment "a \\"b\\" \\\\c" -j LOG'


def test_dry_run_input_declares_user_chains():
    assert dry_run_input('filter', 'app-guard', ['-j', 'LOG'], True) == \
        '*filter\n:app-guard - [0:0]\n-I app-guard 1 -j LOG\nCOMMIT\n'
    assert dry_run_input('raw', 'PREROUTING', ['-j', 'TRACE'], False) == '*raw\n-I PREROUTING 1 -j TRACE\nCOMMIT\n'


# -- nftables ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('table, hook, prio', [('raw', 'PREROUTING', -310), ('raw', 'OUTPUT', -310),
                                               ('mangle', 'FORWARD', -160), ('filter', 'INPUT', -10),
                                               ('nat', 'PREROUTING', -110), ('nat', 'POSTROUTING', 90),
                                               ('security', 'OUTPUT', 40)])
def test_priorities_run_just_before_the_table(table, hook, prio):
    assert priority(table, hook) == prio
    assert chain_decl(table, hook) == ('add chain inet netdebug %s_%s { type filter hook %s priority %d; policy accept; }'
                                       % (table, hook.lower(), hook.lower(), prio))


def test_nft_insert_and_listing(runner, fixture_text):
    runner.add(('--echo', '--handle', 'insert'), stdout=fixture_text('nftables-echo.txt'))
    nft = NftablesBackend(runner, '/usr/sbin/nft')
    assert nft.insert('raw', 'OUTPUT', 1, ['meta', 'nftrace', 'set', '1'], 'netdebug:run.2_x:1790000001') == 8
    assert runner.calls[0][0] == ['/usr/sbin/nft', '--echo', '--handle', 'insert', 'rule', 'inet', 'netdebug',
                                  'raw_output', 'meta nftrace set 1 comment "netdebug:run.2_x:1790000001"']


def test_nft_position_within_own_chain(runner, fixture_text):
    runner.add(('-a', 'list'), stdout=fixture_text('nftables-own-table.txt'))
    runner.add(('--echo',), stdout='add rule x # handle 9\n')
    nft = NftablesBackend(runner, '/usr/sbin/nft')
    nft.insert('raw', 'PREROUTING', 2, ['x'], 't')
    assert runner.commands('--echo')[0][3:9] == ['insert', 'rule', 'inet', 'netdebug', 'raw_prerouting', 'index']
    nft.insert('raw', 'PREROUTING', 3, ['x'], 't')  # beyond the 2 rules: appended
    assert runner.commands('--echo')[1][3] == 'add'


def test_nft_delete_and_drop_table(runner, fixture_text):
    nft = NftablesBackend(runner, '/usr/sbin/nft')
    rules_text = fixture_text('nftables-own-table.txt')
    runner.add(('delete', 'rule'))
    runner.add(('-a', 'list', 'table', 'inet', 'netdebug'), stdout=rules_text)
    found = nft.find_tagged('run.2_x')
    assert [r.handle for r in found] == [8, 7]
    assert nft.delete(found[0])
    expected = ['delete', 'rule', 'inet', 'netdebug', 'raw_output', 'handle', '8']
    assert runner.commands('delete', 'rule')[0][1:] == expected
    runner.add(('list', 'table', 'inet', 'netdebug'), stdout=rules_text)
    assert nft.drop_table_if_empty() is False  # rules left: the table stays


def test_xt_created_tables(runner, fixture_text):
    nft = NftablesBackend(runner, '/usr/sbin/nft')
    runner.add(('-j', 'list', 'table', 'ip', 'raw'), stdout=fixture_text('nft-ip-raw.json'))
    runner.add(('-j', 'list', 'table', 'ip6', 'raw'), rc=1, stderr='Error: No such file or directory')
    assert nft.xt_missing('ipv6', 'raw', 'PREROUTING') == {'table': True, 'chains': ['PREROUTING']}
    assert nft.xt_missing('ipv4', 'raw', 'PREROUTING') == {'table': False, 'chains': []}
    # Chains still holding rules are never deleted, and neither is a table with other chains.
    assert nft.xt_drop_created('ipv4', 'raw', {'table': True, 'chains': ['PREROUTING', 'OUTPUT']}) == []
    assert not runner.commands('-f', '-')


def test_xt_drop_created_empty(runner):
    nft = NftablesBackend(runner, '/usr/sbin/nft')
    empty = ('{"nftables": [{"metainfo": {}}, {"table": {"family": "ip", "name": "raw"}}, {"chain": {"family": "ip", '
             '"table": "raw", "name": "PREROUTING", "hook": "prerouting"}}]}')
    runner.add(('-j', 'list'), stdout=empty).add(('-f', '-'))
    gone = nft.xt_drop_created('ipv4', 'raw', {'table': True, 'chains': ['PREROUTING']})
    assert gone == ['ip raw chain PREROUTING', 'ip table raw']
    assert runner.commands('-f', '-') and runner.calls[-1][1] == 'delete chain ip raw PREROUTING\ndelete table ip raw\n'


def test_xt_drop_keeps_a_table_it_did_not_create(runner):
    nft = NftablesBackend(runner, '/usr/sbin/nft')
    empty = ('{"nftables": [{"table": {"family": "ip", "name": "raw"}}, {"chain": {"family": "ip", "table": "raw", '
             '"name": "PREROUTING", "hook": "prerouting"}}, {"chain": {"family": "ip", "table": "raw", '
             '"name": "OUTPUT", "hook": "output"}}]}')
    runner.add(('-j', 'list'), stdout=empty).add(('-f', '-'))
    assert nft.xt_drop_created('ipv4', 'raw', {'table': False, 'chains': ['PREROUTING']}) == ['ip raw chain PREROUTING']
    assert runner.calls[-1][1] == 'delete chain ip raw PREROUTING\n'


# -- variant detection ---------------------------------------------------------------------------------------------
def _node(runner, tools, detect=None):
    return Node(runner, dict((t, '/usr/sbin/' + t) for t in tools), detect=detect)


def test_choose_follows_the_detected_variant(runner):
    node = _node(runner, ['iptables-legacy', 'iptables-nft'], detect=lambda: ('mixed', 'nf_tables'))
    assert backends.choose(node, 'auto', need_both_on_mixed=True) == (['legacy', 'nft'], 'mixed')
    assert backends.choose(node, 'auto', need_both_on_mixed=False) == (['nft'], 'mixed')
    node.detect = lambda: ('legacy', 'nf_tables')
    assert backends.choose(node, 'auto') == (['legacy'], 'legacy')
    node.detect = lambda: ('nf_tables', 'legacy')
    assert backends.choose(node, 'auto') == (['nft'], 'nf_tables')


def test_trace_adds_nftables_on_a_legacy_node_with_native_chains(runner):
    """Legacy TRACE does not make nf_tables report native chains: our nftables rule and monitor must run too."""
    node = _node(runner, ['iptables-legacy', 'iptables-nft', 'nft'], detect=lambda: ('legacy', 'nf_tables'))
    node.native = lambda: ['inet filter/input']
    assert backends.choose(node, 'auto', need_both_on_mixed=True) == (['legacy', 'nftables'], 'legacy')
    assert backends.choose(node, 'auto', need_both_on_mixed=False) == (['legacy'], 'legacy')  # LOG rules
    node.detect = lambda: ('nf_tables', 'nf_tables')  # the iptables-nft TRACE rule marks packets for them
    assert backends.choose(node, 'auto') == (['nft'], 'nf_tables')
    node.detect = lambda: ('mixed', 'nf_tables')
    assert backends.choose(node, 'auto') == (['legacy', 'nft'], 'mixed')


def test_trace_on_a_legacy_node_with_native_chains_needs_nft(runner):
    node = _node(runner, ['iptables-legacy'], detect=lambda: ('legacy', 'legacy'))
    node.native = lambda: ['inet filter/input']
    with pytest.raises(ParamError, match='^backend: nftables needs nft'):
        backends.choose(node, 'auto')


def test_our_own_rules_do_not_count(fixture_text):
    text = fixture_text('nft-ipv4-mixed.save')
    stripped = backends.without_our_rules(text)
    assert not [r for r in parse_rules(stripped) if r.tag is not None]
    assert len(parse_rules(stripped)) == len(parse_rules(text)) - 8  # ours: 7 in raw (one with two comments), 1 in filter
    assert '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING' in stripped
    assert backends.without_our_rules('*raw\n-A OUTPUT -m comment --comment "netdebug:r:1" -j TRACE\nCOMMIT\n') == \
        '*raw\nCOMMIT\n'


def test_explicit_backend_needs_its_tool(runner):
    node = _node(runner, ['iptables-nft'])
    assert backends.choose(node, 'nft') == (['nft'], 'nft')
    with pytest.raises(ParamError, match='^backend: legacy needs iptables-legacy'):
        backends.choose(node, 'legacy')
    with pytest.raises(ParamError, match='^backend: nftables needs nft'):
        backends.choose(node, 'nftables')


def test_a_lock_timeout_reaches_the_caller_with_its_remedy(runner):
    """The rules modules' xtables commands go through the runner's one xtables path, so a lock held too long is
    an XtablesLockError that says what to do, even for a listing that does not check its exit status. The stderr
    is the one recorded with a private lock file (tests/unit/fixtures/netfilter/errors/legacy-lock-timeout.stderr)."""
    stderr = (pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'netfilter' / 'errors'
              / 'legacy-lock-timeout.stderr').read_text()
    runner.add(('-S', 'PREROUTING'), rc=4, stderr=stderr)
    with pytest.raises(XtablesLockError, match='raise wait if') as err:
        nft_backend(runner).list_chain('raw', 'PREROUTING')
    assert err.value.cmd == [IPT, '-w', '7', '-t', 'raw', '-S', 'PREROUTING'] and err.value.rc == 4
