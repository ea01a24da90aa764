# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's state directory goes with the last run: finished runs settle, the root tidies itself, and a lock
whose file was removed while somebody waited for it is taken again on the new file."""

from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import engine, removal, state
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner

STOPPED = {'backend': 'nft', 'pid': 1, 'start': 1, 'capture_file': 'x', 'expires_at': 10, 'stopped': True}
RUNNING = dict(STOPPED, stopped=False)
RULE = {'backend': 'nft', 'family': 'ipv4', 'table': 'raw', 'chain': 'PREROUTING', 'line': 'x', 'expires_at': 10}
TIMER = {'kind': 'systemd', 'unit': 'netdebug-reap-r1-10', 'expires_at': 10}


def systemctl():
    """A runner on which every systemctl stop succeeds."""
    return FakeRunner([('systemctl', (0, '', ''))])


def _node(root, runner=None):
    return Node(runner or systemctl(), {'systemctl': '/usr/bin/systemctl'}, root=str(root))


def _run(root, run_id, rules=(), monitors=(), reapers=(), files=()):
    run = state.empty_run(run_id)
    run.update(rules=list(rules), monitors=list(monitors), reapers=list(reapers))
    state.save_run(str(root), run)
    state.log(str(root), run_id, 'started')
    for name in files:
        path = os.path.join(state.run_dir(str(root), run_id), name)
        if name.endswith('/'):
            os.makedirs(path)
        else:
            with open(path, 'w') as handle:
                handle.write('x\n')


def _installed(root):
    lib = root / 'lib' / 'abc'
    lib.mkdir(parents=True)
    (lib / 'reap.py').write_text('# program\n')
    (root / 'created.json').write_text('{}\n')
    (root / 'lock').write_text('')


@pytest.mark.parametrize('monitors, files, force, settled', [
    ([STOPPED], [], False, True),
    ([STOPPED], ['nft.stderr', 'run.json.1.tmp'], False, True),  # its own bookkeeping only
    ([STOPPED], ['nft.trace'], False, False),  # waits for the collect step
    ([STOPPED], ['ruleset/'], False, False),
    ([STOPPED], ['nft.trace', 'ruleset/'], True, True),  # expiry or cleanup: nobody collects them any more
    ([RUNNING], [], True, False),  # a monitor still runs: not finished
])
def test_settle_removes_finished_runs_only(tmp_path, monitors, files, force, settled):
    _installed(tmp_path)
    _run(tmp_path, 'r1', monitors=monitors, reapers=[TIMER], files=files)
    runner = systemctl()
    gone = removal.settle(_node(tmp_path, runner), ['r1'], force=force)
    assert gone == (['r1'] if settled else [])
    assert os.path.isdir(state.run_dir(str(tmp_path), 'r1')) is not settled
    # the run's waiting reaper goes with it
    assert runner.argvs() == ([['/usr/bin/systemctl', 'stop', TIMER['unit'] + '.timer', TIMER['unit'] + '.service']]
                              if settled else [])
    # with the last run gone, so is the whole root
    assert tmp_path.exists() is not settled


def test_a_run_with_rules_left_stays(tmp_path):
    _run(tmp_path, 'r1', rules=[RULE])
    assert removal.settle(_node(tmp_path), ['r1'], force=True) == []
    assert state.list_runs(str(tmp_path)) == ['r1']


@pytest.mark.parametrize('extra, kept', [
    ({}, []),
    ({'created.json': '{"ipv4 raw": {"family": "ipv4", "table": "raw", "table_created": true, "chains": []}}\n'},
     ['created.json', 'lib', 'lock']),  # a table made for our rules is still there: the root stays as it is
    ({'nf_log/r2@net1.json': '{}\n'}, ['lock', 'nf_log']),  # nf_log's own directory is not the rules' to remove
])
def test_tidy_leaves_the_root_only_when_nothing_else_is_there(tmp_path, extra, kept):
    _installed(tmp_path)
    (tmp_path / 'runs').mkdir()
    for name, text in extra.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with state.NodeLock(str(tmp_path)):
        gone = state.tidy(str(tmp_path))
    assert gone is (kept == [])
    assert (sorted(os.listdir(tmp_path)) if tmp_path.exists() else []) == kept


def test_tidy_keeps_a_root_with_a_run(tmp_path):
    _installed(tmp_path)
    _run(tmp_path, 'r1')
    assert state.tidy(str(tmp_path)) is False
    assert sorted(os.listdir(tmp_path)) == ['created.json', 'lib', 'lock', 'runs']


@pytest.mark.parametrize('planned, due', [(1200, 1200), (1010, 1000 + state.MIN_COLLECT_WAIT)])
def test_the_stop_leaves_the_files_one_reaper_for_their_collection(tmp_path, monkeypatch, planned, due):
    """The capture's stop keeps the run's files for the collect step and schedules their removal at the run's
    planned expiry (the window's end plus the margin; at least MIN_COLLECT_WAIT after a late stop), should nobody
    collect them; a run without such files gets none, nor does a run without a ttl."""
    scheduled = []
    monkeypatch.setattr(engine.schedule, 'schedule',
                        lambda node, program, python, run_id, at: scheduled.append((run_id, at)) or dict(TIMER, expires_at=at))
    node = _node(tmp_path)
    node.clock = lambda: 1000
    _run(tmp_path, 'r1', monitors=[STOPPED], files=['nft.trace', 'ruleset/'])
    _run(tmp_path, 'r2', monitors=[STOPPED], files=['nft.stderr'])
    _run(tmp_path, 'r3', monitors=[STOPPED], files=['nft.trace'])
    for run_id in ('r1', 'r2'):
        engine._keep_for_collection(node, run_id, planned)  # pylint: disable=protected-access
    engine._keep_for_collection(node, 'r3', None)  # pylint: disable=protected-access
    assert scheduled == [('r1', due)]
    assert state.load_run(str(tmp_path), 'r1')['reapers'][0]['expires_at'] == due


def test_planned_end_is_the_runs_latest_expiry():
    run = dict(state.empty_run('r1'), rules=[{'expires_at': 1100}], monitors=[{'expires_at': 1150, 'stopped': True}],
               reapers=[{'expires_at': 1120}])
    assert state.planned_end(run) == 1150
    assert state.planned_end(state.empty_run('r1')) is None


def test_runs_end_reads_the_pending_reapers(tmp_path):
    _run(tmp_path, 'r1', reapers=[dict(TIMER, expires_at=1300)])
    _run(tmp_path, 'r2', reapers=[dict(TIMER, expires_at=1200)])
    _run(tmp_path, 'r3')
    assert state.runs_end(str(tmp_path)) == 1300
    assert state.runs_end(str(tmp_path), ['r2', 'r3']) == 1200
    assert state.runs_end(str(tmp_path), ['r3']) is None
    assert state.runs_end(str(tmp_path / 'none')) is None


def test_a_rerun_of_an_id_that_is_over_starts_afresh(tmp_path):
    """Issue 15: the same incident id again must not reuse the first run's start, files or reapers."""
    _run(tmp_path, 'r1', monitors=[STOPPED], reapers=[TIMER], files=['nft.trace'])
    old = state.load_run(str(tmp_path), 'r1')
    old['started_at'] = 500
    state.save_run(str(tmp_path), old)
    runner = systemctl()
    run = engine._fresh(_node(tmp_path, runner), state.load_run(str(tmp_path), 'r1'))  # pylint: disable=protected-access
    assert run == state.empty_run('r1') and not os.path.exists(state.run_dir(str(tmp_path), 'r1'))
    assert runner.argvs() == [['/usr/bin/systemctl', 'stop', TIMER['unit'] + '.timer', TIMER['unit'] + '.service']]
    # a run still going is the same run
    _run(tmp_path, 'r2', rules=[RULE])
    going = dict(state.load_run(str(tmp_path), 'r2'), started_at=500)
    assert engine._fresh(_node(tmp_path), going) is going  # pylint: disable=protected-access


def test_a_lock_whose_file_went_is_taken_on_the_new_file(tmp_path):
    """tidy() removes the lock file while holding it; a waiter must not keep the old, unlinked file's lock
    while a third process locks the new file."""
    root = str(tmp_path / 'netdebug')
    got = []
    with state.NodeLock(root):
        waiter = threading.Thread(target=lambda: got.append(_hold(root)))
        waiter.start()
        time.sleep(0.2)
        os.unlink(os.path.join(root, 'lock'))  # what tidy does
        os.rmdir(root)
    waiter.join(10)
    assert got == [True]


def _hold(root):
    with state.NodeLock(root, timeout=5) as lock:
        named = os.stat(lock.path)
        held = os.fstat(lock.handle.fileno())
        # and nobody else can take the file that is there now
        with open(lock.path, 'a') as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                free = True
            except OSError:
                free = False
        return (named.st_ino == held.st_ino) and not free


def test_check_mode_lock_creates_nothing(tmp_path):
    root = tmp_path / 'netdebug'
    with state.NodeLock(str(root), create=False):
        pass
    assert not root.exists()
    root.mkdir()
    with state.NodeLock(str(root), create=False) as lock:
        assert lock.handle is not None  # an existing root is locked as usual
