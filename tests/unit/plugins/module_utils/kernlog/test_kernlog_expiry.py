# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rsyslog drop-in's node-side expiry: the record, what the node does at the expiry, arming and cancelling."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import program
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import kernlog, kernlog_main, kernlog_state
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import state as rules_state
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner

NOW = 1796550000
CONF = 'drop-in text\n'
ROTATE = 'logrotate text\n'
RESTART = ['/bin/systemctl', 'try-restart', 'rsyslog.service']


@pytest.fixture
def node(tmp_path):
    paths = {'conf': str(tmp_path / 'etc' / '30-netdebug-kernlog.conf'), 'rotate': str(tmp_path / 'etc' / 'rotate'),
             'log': str(tmp_path / 'log' / 'firewall'), 'state': str(tmp_path / 'run' / 'kernlog')}
    os.makedirs(str(tmp_path / 'etc'))
    os.makedirs(str(tmp_path / 'log'))
    return paths


def write(path, text):
    with open(path, 'w') as handle:
        handle.write(text)


def install_files(node, conf=CONF, rotate=ROTATE, log='lines\n'):
    write(node['conf'], conf)
    write(node['rotate'], rotate)
    write(node['log'], log)


def arm_record(node, at=NOW + 60, log_path=True):
    kernlog_state.save(node['state'], kernlog_state.new_record(
        node['conf'], CONF, node['rotate'], ROTATE, node['log'] if log_path else None, RESTART, at,
        {'kind': 'process', 'pid': 1, 'start': 1, 'expires_at': at}))


# -- at the expiry, on the node ----------------------------------------------------------------------------------
@pytest.mark.parametrize('conf, restart_error, log_path, gone, kept, said', [
    (CONF, None, True, ['conf', 'rotate', 'log'], [], 'rsyslog restarted; removed the log file'),
    (CONF, None, False, ['conf', 'rotate'], ['log'], 'rsyslog restarted'),
    # someone edited the drop-in since: it stays, rsyslog is not touched, the log file stays with it
    ('edited by hand\n', None, True, ['rotate'], ['conf', 'log'], 'left alone (changed since): '),
    # without a restart rsyslog still writes the log file: it stays (removing it would hide where the lines go)
    (CONF, 'rc 1 failed', True, ['conf', 'rotate'], ['log'], 'rsyslog not restarted: rc 1 failed'),
], ids=['ours', 'log-existed-before', 'edited', 'restart-fails'])
def test_expire_removes_what_is_still_ours(node, conf, restart_error, log_path, gone, kept, said):
    install_files(node, conf=conf)
    arm_record(node, log_path=log_path)
    restarted = []
    line = kernlog_state.expire(node['state'], node['conf'], NOW + 60,
                                lambda argv: restarted.append(argv) or restart_error)
    assert said in line, line
    assert [name for name in ('conf', 'rotate', 'log') if not os.path.exists(node[name])] == gone
    assert [name for name in ('conf', 'rotate', 'log') if os.path.exists(node[name])] == kept
    assert restarted == ([RESTART] if 'conf' in gone else [])
    assert kernlog_state.load(node['state'], node['conf']) is None
    assert kernlog_state.tidy(node['state']) and not os.path.exists(node['state'])


def test_expire_of_a_moved_or_released_expiry_does_nothing(node):
    install_files(node)
    arm_record(node, at=NOW + 120)  # a later call moved it
    line = kernlog_state.expire(node['state'], node['conf'], NOW + 60, lambda argv: pytest.fail('restarted'))
    assert 'nothing to do' in line
    assert os.path.exists(node['conf']) and kernlog_state.load(node['state'], node['conf'])


def _run_on_node(node, run_id, expires_at):
    """A run of the rules engine on the node, with its pending reaper (its rules' expiry, or its files')."""
    root = os.path.dirname(node['state'])
    rules_state.save_run(root, dict(rules_state.empty_run(run_id), reapers=[{'kind': 'process', 'pid': 1,
                                                                             'expires_at': expires_at}]))
    return rules_state.run_dir(root, run_id)


@pytest.mark.parametrize('moved', [False, True])
def test_the_expiry_waits_while_a_run_lasts(node, moved):
    """A run's rules may still log, or its collect step read the log file: the expiry waits until no run is left
    (or its own record moved)."""
    install_files(node)
    arm_record(node)
    runs = _run_on_node(node, 'inc-1', NOW + 500)
    now, slept = [NOW + 60], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds
        if moved:
            arm_record(node, at=NOW + 600)
        elif len(slept) == 3:
            shutil.rmtree(runs)  # collected

    kernlog_main.wait_for_collect(node['state'], node['conf'], NOW + 60, clock=lambda: now[0], sleep=sleep)
    assert len(slept) == (1 if moved else 3)
    with open(os.path.join(node['state'], kernlog_state.LOG)) as handle:
        assert 'waits for run(s) inc-1, which end at %d' % (NOW + 500) in handle.read()


def test_the_expiry_waits_no_longer_than_the_runs_own_expiry(node):
    """A run whose reaper could not remove it holds the drop-in until its expiry plus RUNS_END_SLACK, no longer;
    a run without an expiry (no ttl) is not waited for."""
    install_files(node)
    arm_record(node)
    _run_on_node(node, 'stuck', NOW + 300)
    rules_state.save_run(os.path.dirname(node['state']), rules_state.empty_run('no-ttl'))
    now = [NOW + 60]
    kernlog_main.wait_for_collect(node['state'], node['conf'], NOW + 60, clock=lambda: now[0],
                                  sleep=lambda seconds: now.__setitem__(0, now[0] + seconds))
    assert NOW + 300 + rules_state.RUNS_END_SLACK <= now[0] < NOW + 300 + rules_state.RUNS_END_SLACK + 2


def test_the_expiry_does_not_wait_without_a_run(node):
    install_files(node)
    arm_record(node)
    kernlog_main.wait_for_collect(node['state'], node['conf'], NOW + 60, clock=lambda: NOW + 60,
                                  sleep=lambda seconds: pytest.fail('waited without a run'))


def test_installed_program_runs_from_its_own_copy(tmp_path):
    files = program.module_files(kernlog.PROGRAM_MODULES)
    assert 'ansible_collections/netdebug/netfilter/plugins/module_utils/_expiry/kernlog_main.py' in files
    launcher = program.install(str(tmp_path / 'lib'), files, kernlog.LAUNCHER, kernlog_main.__name__, 'test')
    env = dict(os.environ, PYTHONPATH='')  # the copy alone, not the collection under test
    out = subprocess.run([sys.executable, launcher, '--help'], capture_output=True, text=True, env=env, check=True)
    assert '--conf-path' in out.stdout


def test_the_program_expires_the_drop_in_under_its_lock(node, monkeypatch):
    install_files(node)
    arm_record(node)
    monkeypatch.setattr(kernlog_main, 'restart', lambda argv: None)
    assert kernlog_main.run(node['state'], node['conf'], NOW + 60) == 0
    assert not os.path.exists(node['conf']) and not os.path.exists(node['state'])


# -- arming, moving and cancelling, in the module -----------------------------------------------------------------
class Scheduler:
    """reaper.start/active/cancel stand-ins: records what was scheduled and cancelled."""

    def __init__(self, monkeypatch):
        self.started, self.cancelled, self.live, self.order = [], [], set(), []
        monkeypatch.setattr(kernlog.schedule, 'start', self.start)
        monkeypatch.setattr(kernlog.schedule, 'active', lambda node, record: record['pid'] in self.live)
        monkeypatch.setattr(kernlog.schedule, 'cancel', self.cancel)
        monkeypatch.setattr(kernlog.program, 'install', lambda *args: '/lib/kernlog_expire.py')

    def start(self, node, argv, unit, description, at, use_systemd=None):
        self.order.append('start')
        pid = 1000 + len(self.started)
        self.started.append((argv[argv.index('--at') + 1], unit))
        self.live.add(pid)
        return {'kind': 'process', 'pid': pid, 'start': 1, 'expires_at': at}

    def cancel(self, node, record):
        self.order.append('cancel')
        self.cancelled.append(record['pid'])
        self.live.discard(record['pid'])
        return True


def dropin_expiry(node, now=NOW):
    return kernlog.DropinExpiry(FakeRunner(tools={}), node['state'], clock=lambda: now)


def update(node, ttl, created, now=NOW, log=True):
    """One rsyslog_kernlog call's expiry step, then the drop-in written as the module does; log: the call's drop-in
    brings its own log file (it did not exist before)."""
    at = dropin_expiry(node, now).update(node['conf'], ttl, created, (CONF, node['rotate'], ROTATE), node['log'],
                                         not log)
    write(node['conf'], CONF)
    return at


def test_a_created_drop_in_is_put_under_an_expiry(node, monkeypatch):
    sched = Scheduler(monkeypatch)
    assert update(node, 300, created=True) == NOW + 300
    record = kernlog_state.load(node['state'], node['conf'])
    assert record['expiry']['at'] == NOW + 300 and record['log_path'] == node['log']
    assert record['files'] == {node['conf']: kernlog_state.digest(CONF), node['rotate']: kernlog_state.digest(ROTATE)}
    assert sched.started == [(str(NOW + 300), kernlog.unit_name(node['conf'], NOW + 300))]


def test_a_drop_in_that_was_there_without_an_expiry_is_never_put_under_one(node, monkeypatch):
    sched = Scheduler(monkeypatch)
    assert update(node, 300, created=False) is None
    assert sched.started == [] and not os.path.exists(node['state'])


@pytest.mark.parametrize('later_ttl, at, started, cancelled', [
    (600, NOW + 10 + 600, 2, [1000]),   # a later capture moves the expiry later
    (100, NOW + 300, 1, []),            # never earlier
])
def test_a_second_call_moves_the_expiry_only_later(node, monkeypatch, later_ttl, at, started, cancelled):
    sched = Scheduler(monkeypatch)
    update(node, 300, created=True)
    assert update(node, later_ttl, created=False, now=NOW + 10, log=False) == at
    record = kernlog_state.load(node['state'], node['conf'])
    assert record['expiry']['at'] == at and record['log_path'] == node['log']  # the first call's log file
    assert len(sched.started) == started and sched.cancelled == cancelled
    if cancelled:  # the old expiry is cancelled only once the new one is armed and recorded
        assert sched.order[-2:] == ['start', 'cancel']


def test_a_call_when_the_expiry_is_due_but_still_waits_moves_it(node, monkeypatch):
    """An expiry whose time has come may still wait for the lock or for a run: a second capture's prepare then
    moves it (the old one finds its record moved) instead of dropping the record, which would keep the drop-in."""
    sched = Scheduler(monkeypatch)
    update(node, 300, created=True)
    assert update(node, 300, created=False, now=NOW + 400, log=False) == NOW + 700
    record = kernlog_state.load(node['state'], node['conf'])
    assert record['expiry']['at'] == NOW + 700 and record['log_path'] == node['log']
    assert sched.cancelled == [1000] and sched.order[-2:] == ['start', 'cancel']


def test_a_drop_in_the_expiry_removed_since_the_call_read_it_is_created_again_under_an_expiry(node, monkeypatch):
    """The call read the drop-in (created false), then the old expiry removed it, its log file and its record
    before the call took the lock: the call now creates it, so it arms a new expiry with the log file."""
    sched = Scheduler(monkeypatch)
    os.makedirs(node['state'])
    assert not os.path.exists(node['conf'])
    assert update(node, 300, created=False, log=False) == NOW + 300
    record = kernlog_state.load(node['state'], node['conf'])
    assert record['log_path'] == node['log'] and len(sched.started) == 1


def test_a_call_without_ttl_keeps_the_drop_in_for_good(node, monkeypatch):
    sched = Scheduler(monkeypatch)
    update(node, 300, created=True)
    assert update(node, None, created=False) is None
    assert sched.cancelled == [1000] and not os.path.exists(node['state'])


def test_absent_cancels_the_expiry(node, monkeypatch):
    sched = Scheduler(monkeypatch)
    update(node, 300, created=True)
    assert dropin_expiry(node).release(node['conf'], check_mode=True) is True
    assert sched.cancelled == [] and os.path.exists(node['state'])
    assert dropin_expiry(node).release(node['conf']) is True
    assert sched.cancelled == [1000] and not os.path.exists(node['state'])
    assert dropin_expiry(node).release(node['conf']) is False


def test_check_mode_plans_without_scheduling(node, monkeypatch):
    sched = Scheduler(monkeypatch)
    exp = dropin_expiry(node)
    assert exp.planned(node['conf'], 300, created=True) == NOW + 300
    assert exp.planned(node['conf'], 300, created=False) is None
    assert exp.planned(node['conf'], None, created=True) is None
    assert sched.started == [] and not os.path.exists(node['state'])


@pytest.mark.parametrize('systemctl, systemd, init_script, expected', [
    ('/bin/systemctl', True, True, ['/bin/systemctl', 'try-restart', 'rsyslog.service']),
    ('/bin/systemctl', False, True, ['/etc/init.d/rsyslog', 'restart']),
    (None, True, False, None),
])
def test_restart_command_follows_the_service_manager(systemctl, systemd, init_script, expected):
    assert kernlog.restart_command(systemctl, systemd, init_script) == expected
