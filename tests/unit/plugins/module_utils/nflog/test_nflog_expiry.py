# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nf_log's ttl: what the on-node reaper puts back at expiry (a value still ours goes back, one changed by someone
else since stays), and how present/absent arm and cancel it. Fake node roots and a fake scheduler only."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import program
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import nflog, nflog_main
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import runstate
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.manage import NfLogManager
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.sysctl import Sysctl
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import state as rules_state
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner
from ansible_collections.netdebug.netfilter.tests.unit.plugins.module_utils.kmod.conftest import host_root

V4 = 'net/netfilter/nf_log/2'
V6 = 'net/netfilter/nf_log/10'
AT = 1795000000


class Module:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode


class FakeExpiry:
    """Records what the manager asks of the scheduler; `pending` is the run's waiting expiry, if any."""

    def __init__(self, now=AT - 60, pending=None):
        self.now = now
        self.waiting = pending
        self.calls = []

    def plan(self, ttl):
        return None if ttl is None else self.now + ttl

    def pending(self, record):
        return self.waiting if record and record.get('expiry') == self.waiting else None

    def arm(self, record, run_id, netns, state_dir, at):
        current = self.pending(record)
        self.calls.append(('arm', run_id, at, bool(current)))
        if current or at is None:
            return current, False
        return {'at': at, 'reaper': {'kind': 'process', 'pid': 4242, 'start': 1, 'expires_at': at}}, True

    def disarm(self, exp):
        self.calls.append(('disarm', exp['at']))
        return exp['reaper']


@pytest.fixture
def node(tmp_path):
    root = host_root(tmp_path / 'root')
    sysdir = tmp_path / 'root' / 'proc' / 'sys' / 'net' / 'netfilter' / 'nf_log'
    sysdir.mkdir(parents=True)
    for family in ('2', '10'):
        (sysdir / family).write_text('NONE\n')
    netns = os.stat(os.path.join(root, 'proc/self/ns/net')).st_ino
    return {'root': root, 'sysctl': Sysctl(os.path.join(root, 'proc/sys')), 'netns': netns,
            'state_dir': str(tmp_path / 'state')}


def manager(node, exp=None, check_mode=False):
    return NfLogManager(Module(check_mode), FakeRunner(tools={}), sysctl=node['sysctl'], root=node['root'], expiry=exp)


def params(**kw):
    base = dict(state='present', run_id='inc1', families=['ipv4', 'ipv6'], logger='syslog', log_target=True,
                trace_target=True, nflog=False, all_netns=False, state_dir=None, ttl=None)
    base.update(kw)
    return base


def store_record(node, run_id, changed, needs=None, at=AT, netns=None):
    store = runstate.StateStore(node['state_dir'])
    os.makedirs(node['state_dir'], exist_ok=True)
    rec = runstate.new_record(run_id, node['netns'] if netns is None else netns, now=100.0)
    runstate.merge(rec, needs or dict((k, v[1]) for k, v in changed.items()), [],
                   dict((k, {'before': v[0], 'after': v[1]}) for k, v in changed.items()), [], now=100.0)
    if at is not None:
        rec['expiry'] = {'at': at, 'reaper': {'kind': 'process', 'pid': 4242, 'start': 1, 'expires_at': at}}
    store.save(rec)
    return rec


BOUND = {V4: ('NONE', 'nf_log_ipv4'), V6: ('NONE', 'nf_log_ipv6')}


# Each case: the run's record (or none), what is in the sysctls at expiry, other runs, the expiry the reaper was
# started for -> what it restores, what it leaves (and why), the sysctls afterwards, whether the record is gone.
CASES = [
    pytest.param(BOUND, {}, [], AT, {'net.netfilter.nf_log.2': 'NONE', 'net.netfilter.nf_log.10': 'NONE'}, {},
                 {V4: 'NONE', V6: 'NONE'}, True, id='still-ours-restored'),
    pytest.param(BOUND, {V4: 'nfnetlink_log'}, [], AT, {'net.netfilter.nf_log.10': 'NONE'},
                 {'net.netfilter.nf_log.2': 'changed by something else'}, {V4: 'nfnetlink_log', V6: 'NONE'}, True,
                 id='changed-by-someone-else-left-alone'),
    pytest.param(BOUND, {}, [('other', {V4: 'nf_log_ipv4'})], AT, {'net.netfilter.nf_log.10': 'NONE'},
                 {'net.netfilter.nf_log.2': 'still needed by run other'}, {V4: 'nf_log_ipv4', V6: 'NONE'}, True,
                 id='still-needed-by-another-run-handed-over'),
    pytest.param(BOUND, {}, [], AT + 30, None, None, {V4: 'nf_log_ipv4', V6: 'nf_log_ipv6'}, False,
                 id='expiry-moved-nothing-done'),
    pytest.param(None, {}, [], AT, None, None, {V4: 'NONE', V6: 'NONE'}, True, id='released-already'),
]


@pytest.mark.parametrize('changed, now, others, at, restored, kept, after, gone', CASES)
def test_release_at_expiry(node, changed, now, others, at, restored, kept, after, gone):
    if changed:
        for key, (_before, value) in changed.items():
            node['sysctl'].write(key, value)
        store_record(node, 'inc1', changed)
    for key, value in now.items():
        node['sysctl'].write(key, value)
    for run_id, needs in others:
        store_record(node, run_id, {}, needs=needs, at=None)
    result = manager(node).release_expired(node['state_dir'], 'inc1', node['netns'], at)
    if restored is None:
        assert result is None
    else:
        assert result['restored'] == restored
        assert sorted(result['kept']) == sorted(kept)
        for key, reason in kept.items():
            assert reason in result['kept'][key]
    assert dict((k, node['sysctl'].read(k)) for k in (V4, V6)) == after
    left = [r['run_id'] for r in runstate.StateStore(node['state_dir']).records()]
    assert ('inc1' not in left) is gone
    if others:
        heir = [r for r in runstate.StateStore(node['state_dir']).records() if r['run_id'] == 'other'][0]
        assert heir['changed']['sysctls'][V4]['before'] == 'NONE'  # the duty to put it back moved with it


def test_release_refuses_another_namespace(node):
    store_record(node, 'inc1', BOUND, netns=node['netns'] + 1)
    with pytest.raises(KmodError, match='network namespace'):
        manager(node).release_expired(node['state_dir'], 'inc1', node['netns'] + 1, AT)


@pytest.mark.parametrize('result, line', [
    (None, 'run r netns 7 expiry 5: nothing to do'),
    ({'restored': {'a': 'NONE'}, 'unloaded': [], 'kept': {}}, 'run r netns 7 expiry 5: restored a=NONE'),
    ({'restored': {}, 'unloaded': ['xt_LOG'], 'kept': {'b': 'changed by something else'}},
     'run r netns 7 expiry 5: restored nothing; unloaded xt_LOG; left b alone: changed by something else'),
])
def test_log_line(result, line):
    assert nflog_main.describe('r', 7, 5, result).startswith(line)


def test_expire_logs_and_retries(node, monkeypatch):
    calls = []

    class Flaky:
        def release_expired(self, *args):
            calls.append(args)
            if len(calls) == 1:
                raise KmodError('busy')
            return {'restored': {'x': 'NONE'}, 'unloaded': [], 'kept': {}}

    os.makedirs(node['state_dir'])
    # another run still has its record: the directory, and the log in it, stay
    runstate.StateStore(node['state_dir']).save(runstate.new_record('other', 7))
    assert nflog_main.expire(Flaky(), node['state_dir'], 'r', 7, 5, pause=0) == 0
    log = open(os.path.join(node['state_dir'], nflog_main.LOG)).read()
    assert 'attempt 1 failed: busy' in log and 'restored x=NONE' in log and len(calls) == 2


def test_expire_of_the_last_run_removes_the_state_directory(tmp_path, monkeypatch):
    """With no record left, the expiry program leaves nothing: its own copy, its log and the lock go, and so does
    the parent when that is the rules' state root holding nothing else."""
    class Done:
        def release_expired(self, *args):  # pylint: disable=unused-argument
            return {'restored': {}, 'unloaded': [], 'kept': {}}

    root = tmp_path / 'netdebug'
    state_dir = root / 'nf_log'
    (state_dir / 'lib' / 'abc').mkdir(parents=True)
    (root / 'lock').write_text('')
    with runstate.StateStore(str(state_dir)).locked():
        pass
    monkeypatch.setattr(runstate, 'RULES_ROOT', str(root))
    assert nflog_main.expire(Done(), str(state_dir), 'r', 7, 5, pause=0) == 0
    assert not root.exists()


# -- present / absent with a ttl --------------------------------------------------------------------------------
def test_present_with_ttl_arms_before_changing_and_records_the_expiry(node):
    exp = FakeExpiry()
    result = manager(node, exp).present(params(state_dir=node['state_dir'], ttl=30))
    assert result['changed'] and result['expires_at'] == exp.now + 30
    assert exp.calls == [('arm', 'inc1', exp.now + 30, False)]
    rec = runstate.StateStore(node['state_dir']).records()[0]
    assert rec['expiry']['at'] == exp.now + 30
    assert 'put back on the node at %d' % (exp.now + 30) in result['diff']['after']
    assert 'net.netfilter.nf_log.2 = NONE' in result['diff']['before']


def test_present_again_keeps_the_pending_expiry_and_is_unchanged(node):
    first = FakeExpiry()
    manager(node, first).present(params(state_dir=node['state_dir'], ttl=30))
    pending = runstate.StateStore(node['state_dir']).records()[0]['expiry']
    again = FakeExpiry(now=first.now + 5, pending=pending)
    result = manager(node, again).present(params(state_dir=node['state_dir'], ttl=30))
    assert not result['changed'] and result['expires_at'] == pending['at']
    assert result['diff'] == {'before': '', 'after': ''}


def test_present_check_mode_plans_the_expiry_and_schedules_nothing(node):
    exp = FakeExpiry()
    result = manager(node, exp, check_mode=True).present(params(state_dir=node['state_dir'], ttl=30))
    assert result['changed'] and result['expires_at'] == exp.now + 30 and exp.calls == []
    assert node['sysctl'].read(V4) == 'NONE' and not os.path.exists(node['state_dir'])


def test_failed_change_cancels_the_reaper_it_scheduled(node, monkeypatch):
    exp = FakeExpiry()
    mgr = manager(node, exp)

    def refuse(key, value):
        raise KmodError('cannot set sysctl')

    monkeypatch.setattr(mgr.sysctl, 'write', refuse)
    with pytest.raises(KmodError):
        mgr.present(params(state_dir=node['state_dir'], ttl=30))
    assert exp.calls == [('arm', 'inc1', exp.now + 30, False), ('disarm', exp.now + 30)]


@pytest.mark.parametrize('check_mode', [False, True])
def test_absent_cancels_the_pending_reaper(node, check_mode):
    manager(node, FakeExpiry()).present(params(state_dir=node['state_dir'], ttl=30))
    pending = runstate.StateStore(node['state_dir']).records()[0]['expiry']
    exp = FakeExpiry(pending=pending)
    result = manager(node, exp, check_mode).absent(params(state='absent', state_dir=node['state_dir']))
    assert result['reapers'] == [dict(pending['reaper'], run_id='inc1')] and result['changed']
    assert exp.calls == ([] if check_mode else [('disarm', pending['at'])])
    assert node['sysctl'].read(V4) == ('nf_log_ipv4' if check_mode else 'NONE')


@pytest.mark.parametrize('state', ['absent', 'query'])
def test_ttl_only_with_present(node, state):
    with pytest.raises(KmodError, match='^ttl: applies to state=present only'):
        manager(node).run(params(state=state, ttl=5, state_dir=node['state_dir']))


# -- the installed program and its clock ------------------------------------------------------------------------
def test_installed_program_runs_from_its_own_copy(tmp_path):
    files = program.module_files(nflog.PROGRAM_MODULES)
    assert 'ansible_collections/netdebug/netfilter/plugins/module_utils/_expiry/nflog_main.py' in files
    assert files['ansible_collections/netdebug/__init__.py'] == ''
    launcher = program.install(str(tmp_path / 'lib'), files, nflog.LAUNCHER, nflog_main.__name__, 'test')
    assert program.install(str(tmp_path / 'lib'), files, nflog.LAUNCHER, nflog_main.__name__, 'test') == launcher
    env = dict(os.environ, PYTHONPATH='')  # the copy alone, not the collection under test
    out = subprocess.run([sys.executable, launcher, '--help'], capture_output=True, text=True, env=env, check=True)
    assert '--state-dir' in out.stdout


def test_sleep_until_wakes_at_the_expiry_in_bounded_steps():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    program.sleep_until(165, clock=lambda: now[0], sleep=sleep)
    assert now[0] == 165 and slept == [30, 30, 5]


def test_unit_name_is_per_run_namespace_and_expiry():
    assert nflog.unit_name('inc-1', 4026531840, AT) == 'netdebug-nflog-inc-1-4026531840-%d' % AT


def _execed(proc, word, timeout=5.0):
    """Wait until proc's command line holds word: right after the fork, /proc shows the parent's until exec."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open('/proc/%d/cmdline' % proc.pid, 'rb') as handle:
            if word.encode() in handle.read():
                return
        time.sleep(0.01)
    raise AssertionError('pid %d never ran %s' % (proc.pid, word))


def test_cleanup_of_every_run_stops_stray_reapers_of_this_namespace_only(tmp_path):
    """A waiting reaper process that no record names (its record was deleted by hand) is stopped by run_id '*'."""
    launcher = str(tmp_path / 'lib' / 'abc' / nflog.LAUNCHER)
    sleeper = 'import time; time.sleep(60)'
    mine = subprocess.Popen([sys.executable, '-c', sleeper, launcher, '--netns', '7', '--detached'])
    other = subprocess.Popen([sys.executable, '-c', sleeper, launcher, '--netns', '8', '--detached'])
    try:
        for proc in (mine, other):
            _execed(proc, launcher)
        exp = nflog.Expiry(FakeRunner(tools={}))
        assert [r['pid'] for r in exp.strays(str(tmp_path), 7, check=True)] == [mine.pid]
        assert mine.poll() is None
        assert [r['pid'] for r in exp.strays(str(tmp_path), 7)] == [mine.pid]
        assert mine.wait(5) is not None and other.poll() is None
    finally:
        for proc in (mine, other):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize('run_id, moved, waits', [('inc-1', False, True), ('inc-1', True, False),
                                                  ('other', False, False)])
def test_the_expiry_waits_while_the_runs_rules_last(tmp_path, run_id, moved, waits):
    """The loggers' ttl counts from the prepare step, the rules' from the later trace start: at the loggers' expiry
    the node waits while the run with the same id lasts (at most until its own expiry), not for other runs, and not
    once a later call moved the loggers' expiry."""
    state_dir = str(tmp_path / 'nf_log')
    os.makedirs(state_dir)
    store = runstate.StateStore(state_dir)
    store.save(dict(runstate.new_record('inc-1', 1), expiry={'at': AT + (300 if moved else 0)}))
    rules_state.save_run(str(tmp_path), dict(rules_state.empty_run(run_id), reapers=[{'expires_at': AT + 100}]))
    now, slept = [AT], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds
        if now[0] >= AT + 100:
            rules_state.remove_run_dir(str(tmp_path), run_id)  # the rules' reaper

    nflog_main.wait_for_rules(state_dir, 'inc-1', 1, AT, clock=lambda: now[0], sleep=sleep)
    assert (now[0] >= AT + 100) is waits and bool(slept) is waits
    if waits:
        with open(os.path.join(state_dir, nflog_main.LOG)) as handle:
            assert 'waits for run(s) inc-1, which end at %d' % (AT + 100) in handle.read()
