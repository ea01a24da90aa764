# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""engine.present when an insert goes wrong: the rule is not there afterwards, or a later insert fails.

The node is the real Node and IptablesBackend over a fake runner that keeps chains in memory and answers
iptables -S / -I / -A / -C / -D as iptables does; one insert is made to misbehave. The reaper, the program
installer and the kernel dry run are replaced (they start processes or need namespaces).
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import Result, command_error
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import legacy_tables, loggers, removal
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.desired import check_position
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.engine import Request, present
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import restore_line
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nft_parse import NftRule
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nftables_backend import chain_name, rule_text
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.spec import build_match
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import load_run
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.target import log_target, trace_target
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.window import Window
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner

NOW = 1700000000
TOOLS = {'iptables-legacy': '/sbin/iptables-legacy', 'ip6tables-legacy': '/sbin/ip6tables-legacy',
         'iptables-nft': '/sbin/iptables-nft', 'ip6tables-nft': '/sbin/ip6tables-nft'}
FOREIGN = ['-s', '192.0.2.1/32', '-j', 'ACCEPT']
BUSY = 'iptables: Resource temporarily unavailable.\n'


class FakeIptables:
    """Chains in memory, keyed by (binary, table, chain); insert number `fault_at` (1-based) misbehaves:
    'fails' (rc 4), 'vanishes' (rc 0, nothing added), 'mangled' (rc 0, a tagged rule that -C does not find) or
    'commented' (rc 0, the rule lists with a second comment before our tag). An answer for FakeRunner."""

    def __init__(self, fault=None, fault_at=None):
        self.fault, self.fault_at = fault, fault_at
        self.chains = {}
        self.inserts = 0
        self.calls = []

    def rules(self, binary, table, chain):
        return self.chains.setdefault((os.path.basename(binary), table, chain), [])

    def __call__(self, argv, data):  # pylint: disable=unused-argument
        self.calls.append(argv)
        binary, table, op, chain, args = argv[0], argv[4], argv[5], argv[6] if len(argv) > 6 else None, argv[7:]
        assert argv[1:4] == ['-w', '10', '-t'], argv
        return self._answer(binary, table, op, chain, args)

    def _answer(self, binary, table, op, chain, args):
        if op == '-S':
            lines = ['-P %s ACCEPT' % chain] + [restore_line(['-A', chain] + r) for r in self.rules(binary, table, chain)]
            return 0, '\n'.join(lines) + '\n', ''
        rules = self.rules(binary, table, chain)
        if op in ('-I', '-A'):
            position = int(args.pop(0)) if op == '-I' else len(rules) + 1
            self.inserts += 1
            if self.inserts == self.fault_at:
                if self.fault == 'fails':
                    return 4, '', BUSY
                if self.fault == 'vanishes':
                    return 0, '', ''
                if self.fault == 'commented':  # what a smuggled comment did: our tag beside a second comment
                    args = ['-m', 'comment', '--comment', 'x'] + args
                else:
                    args = args[:-2] + ['-m', 'mark', '--mark', '0x1'] + args[-2:]  # 'mangled'
            rules.insert(position - 1, list(args))
            return 0, '', ''
        if op in ('-C', '-D'):
            if args not in rules:
                return 1, '', 'iptables: Bad rule (does a matching rule exist in that chain?).\n'
            if op == '-D':
                rules.remove(args)
            return 0, '', ''
        raise AssertionError('unexpected command %r' % op)

    def snapshot(self):
        return {key: [list(r) for r in rules] for key, rules in self.chains.items() if rules}


class FakeNftables:
    """Our own nftables table in memory; insert number `fault_at` 'fails' (nft exits 1) or 'vanishes' (nft echoes a
    handle, the rule is not in the table)."""

    def __init__(self, fault, fault_at):
        self.fault, self.fault_at = fault, fault_at
        self.rules = []
        self.inserts = 0
        self.deleted = []

    def ensure_chain(self, table, hook):
        pass

    def insert(self, table, hook, position, words, tag):  # pylint: disable=unused-argument
        self.inserts += 1
        argv = ['/usr/sbin/nft', '--echo', '--handle', 'insert', 'rule', 'inet', 'netdebug', chain_name(table, hook)]
        if self.inserts == self.fault_at and self.fault == 'fails':
            raise command_error(Result(argv, 1, '', 'Error: Could not process rule: No such file or directory\n'))
        handle = 100 + self.inserts
        if not (self.inserts == self.fault_at and self.fault == 'vanishes'):
            self.rules.append(NftRule(chain_name(table, hook), handle, rule_text(words, tag)))
        return handle

    def list_rules(self):
        return list(self.rules)

    def delete(self, rule):
        self.deleted.append(rule.handle)
        self.rules = [r for r in self.rules if r.handle != rule.handle]
        return True

    def drop_table_if_empty(self):
        return not self.rules


def request(kind, backend, ip_version, hooks=('PREROUTING',), table='raw'):
    match = build_match({'protocol': 'udp', 'destination_port': '53'}, ip_version, backend)
    target = trace_target() if kind == 'trace' else log_target(
        jump='LOG', prefix='nd ', level='7', tcp_sequence=False, tcp_options=False, ip_options=False, uid=False,
        nflog_group=None, limit='5/second', limit_burst=10)
    return Request(kind, 'boom', 300, backend, match, target, [(table, hook) for hook in hooks],
                   check_position('top'))


def fill(fake, backend):
    """A foreign rule in every chain the calls touch: it must be exactly where it was afterwards."""
    for binary in ('iptables', 'ip6tables'):
        for chain in ('PREROUTING', 'OUTPUT'):
            fake.rules('%s-%s' % (binary, backend), 'raw', chain).append(list(FOREIGN))


# (kind, backend, ip_version, hooks, fault, number of the insert that misbehaves)
CASES = [
    ('log', 'legacy', 'ipv4', ['PREROUTING'], 'vanishes', 1),
    ('log', 'nft', 'ipv6', ['PREROUTING'], 'vanishes', 1),
    ('trace', 'legacy', 'ipv4', ['PREROUTING', 'OUTPUT'], 'vanishes', 2),
    ('log', 'nft', 'both', ['PREROUTING'], 'mangled', 2),
    ('log', 'legacy', 'both', ['PREROUTING'], 'mangled', 1),
    ('trace', 'legacy', 'ipv6', ['PREROUTING', 'OUTPUT'], 'fails', 2),
    ('log', 'nft', 'both', ['PREROUTING'], 'fails', 2),
    ('trace', 'legacy', 'both', ['PREROUTING', 'OUTPUT'], 'fails', 4),
    ('trace', 'legacy', 'ipv4', ['PREROUTING', 'OUTPUT'], 'commented', 1),
    ('log', 'nft', 'ipv4', ['PREROUTING'], 'commented', 1),
    ('log', 'legacy', 'both', ['PREROUTING'], 'commented', 2),
]


@pytest.mark.parametrize('kind, backend, ip_version, hooks, fault, fault_at', CASES)
def test_failed_insert_leaves_nothing_behind(patched, tmp_path, kind, backend, ip_version, hooks, fault, fault_at):
    fake = FakeIptables(fault, fault_at)
    fill(fake, backend)
    before = fake.snapshot()
    node = Node(FakeRunner(fake), TOOLS, root=str(tmp_path / 'run'), clock=lambda: NOW)
    with pytest.raises(RulesError) as caught:
        present(node, request(kind, backend, ip_version, hooks))
    err = caught.value
    if fault == 'fails':
        assert err.rc == 4 and err.stderr == BUSY and err.stdout == ''
        assert err.cmd[:6] == [err.cmd[0], '-w', '10', '-t', 'raw', '-I'] and 'netdebug:boom:%d' % (NOW + 300) in err.cmd
        assert 'failed with exit code 4: iptables: Resource temporarily unavailable.' in err.msg
    elif fault == 'commented':
        assert 'not as it was asked for (one comment, our tag, target' in err.msg and 'removed at once' in err.msg
    else:
        assert 'accepted the rule for' in err.msg and 'but it is not in the chain afterwards' in err.msg
    assert fake.inserts == fault_at  # nothing was tried after the fault
    assert len([c for c in fake.calls if c[5] == '-D']) >= fault_at - 1  # each earlier insert was deleted again
    assert fake.snapshot() == before  # foreign rules untouched, none of ours left
    assert patched == [(4242, 7)]  # the reaper scheduled before the inserts was cancelled
    run = load_run(node.root, 'boom')
    assert run['rules'] == [] and run['reapers'] == []
    assert not os.path.exists(os.path.join(node.root, 'runs', 'boom', 'ready.json'))  # never said it traced


def test_without_a_fault_the_rules_stay(patched, tmp_path):
    """The same calls succeed when no insert misbehaves (so the failures above come from the faults)."""
    fake = FakeIptables()
    node = Node(FakeRunner(fake), TOOLS, root=str(tmp_path / 'run'), clock=lambda: NOW)
    result, _warnings = present(node, request('trace', 'legacy', 'both', ['PREROUTING', 'OUTPUT']))
    assert result['changed'] and len(result['rules']) == 4 and fake.inserts == 4
    assert patched == []
    with open(os.path.join(node.root, 'runs', 'boom', 'run.json')) as handle:
        assert len(json.load(handle)['rules']) == 4


@pytest.mark.parametrize('start, late', [(NOW + 30, 0), (NOW - 5, 5)])
def test_a_window_sets_the_expiry_from_its_end_and_says_how_late(patched, tmp_path, start, late):
    """With a window the ttl counts from its end; a window that began before the call is reported late."""
    fake = FakeIptables()
    node = Node(FakeRunner(fake), TOOLS, root=str(tmp_path / 'run'), clock=lambda: NOW)
    req = request('trace', 'legacy', 'ipv4')
    req.match.window = Window(start, start + 60)
    result, _warnings = present(node, req)
    assert result['window'] == {'start': start, 'end': start + 60, 'late': late}
    assert result['expires_at'] == start + 60 + 300
    assert all('--datestart' in call for call in fake.calls if '-I' in call), fake.calls
    with open(os.path.join(node.root, 'runs', 'boom', 'run.json')) as handle:
        assert json.load(handle)['window'] == {'start': start, 'end': start + 60}
    # the readiness record: the rules are in since now; the kernel traces from the window's start if that is later
    with open(os.path.join(node.root, 'runs', 'boom', 'ready.json')) as handle:
        assert json.load(handle) == {'run_id': 'boom', 'ready_at': NOW, 'tracing_from': max(NOW, start),
                                     'tracing_until': start + 60}


@pytest.mark.parametrize('fault, fault_at', [('vanishes', 1), ('vanishes', 2), ('fails', 2)])
def test_native_insert_failure_leaves_nothing_behind(patched, tmp_path, fault, fault_at):
    nft = FakeNftables(fault, fault_at)
    node = Node(None, {'nft': '/usr/sbin/nft'}, root=str(tmp_path / 'run'), clock=lambda: NOW)
    node.nftables = lambda: nft
    with pytest.raises(RulesError) as caught:
        present(node, request('log', 'nftables', 'both', ['PREROUTING', 'OUTPUT']))
    if fault == 'fails':
        assert caught.value.rc == 1 and 'No such file or directory' in caught.value.stderr
        assert caught.value.cmd[-1] == 'raw_output'
    else:
        assert 'nft added rule handle %d to ' % (100 + fault_at) in caught.value.msg
        assert 'but it is not in the ruleset' in caught.value.msg
    assert nft.rules == [] and nft.deleted == ([101] if fault_at == 2 else [])  # the first rule, when it went in
    assert patched == [(4242, 7)]
    run = load_run(node.root, 'boom')
    assert run['rules'] == [] and run['reapers'] == []
    assert not os.path.exists(os.path.join(node.root, 'runs', 'boom', 'ready.json'))  # never said it traced


@pytest.mark.parametrize('check_mode', [False, True])
def test_unbound_trace_logger_refused_but_only_warned_in_check_mode(patched, tmp_path, check_mode):
    """A real run refuses legacy TRACE with no logger bound; a check run (the capture's check play, before its
    prepare step binds the logger) warns instead."""
    (tmp_path / 'nf_log').write_text('2 NONE (nf_log_ipv4,nfnetlink_log)\n10 NONE (nf_log_ipv6,nfnetlink_log)\n')
    loggers.NF_LOG = str(tmp_path / 'nf_log')  # the patched fixture restores it
    fake = FakeIptables()
    node = Node(FakeRunner(fake), TOOLS, root=str(tmp_path / 'run'), clock=lambda: NOW)
    if check_mode:
        result, warnings = present(node, request('trace', 'legacy', 'ipv4'), check_mode=True)
        assert result['changed'] and fake.inserts == 0
        assert any(w.startswith('a real run fails unless a logger is bound first: no logger is bound for ipv4')
                   for w in warnings)
    else:
        with pytest.raises(RulesError, match='no logger is bound for ipv4'):
            present(node, request('trace', 'legacy', 'ipv4'))
        assert fake.inserts == 0


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_legacy_table_module_our_insert_loaded_goes_with_the_last_rule(patched, tmp_path, monkeypatch, check_mode):
    """The module list is read before the call touches the kernel: a table module loaded by our insert is noted and
    unloaded once the run's rules are gone; in check mode, the one the dry run loaded goes at once."""
    fake = FakeIptables()
    monkeypatch.setattr(legacy_tables, 'loaded_modules',
                        lambda: {'x_tables', 'iptable_raw'} if fake.inserts else {'x_tables'})
    unloaded, dry = [], []
    monkeypatch.setattr(legacy_tables, 'unload', lambda node, family, table, module: unloaded.append(
        (family, table, module)) or 'gone')
    monkeypatch.setattr(legacy_tables, 'unload_dry_run_leftovers', lambda node, before, placements: dry.append(
        (before, placements)))
    node = Node(FakeRunner(fake), TOOLS, root=str(tmp_path / 'run'), clock=lambda: NOW)
    present(node, request('trace', 'legacy', 'ipv4', ['PREROUTING', 'OUTPUT']), check_mode=check_mode)
    if check_mode:
        assert dry == [({'x_tables'}, [('ipv4', 'raw')])] and fake.inserts == 0
        return
    assert dry == []
    with open(os.path.join(node.root, 'created.json')) as handle:
        noted = json.load(handle)
    assert noted == {'legacy ipv4 raw': {'backend': 'legacy', 'family': 'ipv4', 'table': 'raw', 'module': 'iptable_raw'}}
    monkeypatch.setattr(removal, 'packet_counts', lambda node, ids: [])  # the fake lists no counters
    result = removal.remove_run(node, 'boom')
    assert unloaded == [('ipv4', 'raw', 'iptable_raw')] and 'gone' in result['tables']


def test_a_failed_call_unloads_the_table_module_it_loaded(patched, tmp_path, monkeypatch):
    """The insert fails: the rollback removes the rule, and the table module this call loaded (dry run or insert)
    goes as well, recorded or not."""
    fake = FakeIptables('fails', 1)
    unloaded = []
    monkeypatch.setattr(legacy_tables, 'unload_dry_run_leftovers', lambda node, before, placements: unloaded.append(
        (before, placements)))
    node = Node(FakeRunner(fake), TOOLS, root=str(tmp_path / 'run'), clock=lambda: NOW)
    monkeypatch.setattr(legacy_tables, 'loaded_modules', lambda: {'x_tables'} if not fake.calls else
                        {'x_tables', 'iptable_raw'})
    with pytest.raises(RulesError):
        present(node, request('trace', 'legacy', 'ipv4', ['PREROUTING']))
    assert unloaded == [({'x_tables'}, [('ipv4', 'raw')])]


def test_a_module_another_run_unloaded_while_we_waited_is_ours_when_our_insert_loads_it(monkeypatch):
    monkeypatch.setattr(legacy_tables, 'loaded_modules', lambda: {'x_tables'})
    assert legacy_tables.loaded_throughout({'x_tables', 'iptable_raw'}) == {'x_tables'}
    monkeypatch.setattr(legacy_tables, 'loaded_modules', lambda: None)
    assert legacy_tables.loaded_throughout({'x_tables'}) is None
