# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node-side state directory (tmpfs under /run: it vanishes at reboot, like the rules it describes).

    <root>/lock                      flock taken by every netdebug rules operation (modules and reapers)
    <root>/created.json              tables/base chains iptables-nft created for our rules
    <root>/lib/<digest>/             the reaper program
    <root>/runs/<run_id>/run.json    what the run started: rules, monitors, reapers
    <root>/runs/<run_id>/*.trace     trace monitor capture files
    <root>/runs/<run_id>/reaper.log  what the reapers did

Nothing here decides which rules get deleted: removal goes by the tag in the ruleset. A finished run's directory
goes once nothing in it waits to be collected (or at its expiry, or with cleanup), and the rest of the root with
the last run (tidy). Stdlib only.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import program
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError

DEFAULT_ROOT = '/run/netdebug'
# A stopped capture's files wait for its collect step until the run's planned expiry (the window's end plus
# netdebug_ttl_margin: the margin is the collect step's time too), and at least this many seconds after a late stop.
MIN_COLLECT_WAIT = 30
# An expiry that waits for the runs on the node (runs_end) gives up this many seconds after their own expiry, in
# case a reaper could not remove its run.
RUNS_END_SLACK = 10


# A run's own bookkeeping; anything else in its directory (capture files, the recorded rulesets) waits for the
# collect step.
# ready.json: written once the run's rules are in and its monitors read (tracing from max(then, window start)), so
# that a script knows when its traffic is traced.
READY_FILE = 'ready.json'
OWN_FILES = ('run.json', 'reaper.log', READY_FILE)
OWN_SUFFIXES = ('.stderr', '.tmp')
CREATED_FILE = 'created.json'
# The rules' reaper program, installed in the root's lib/ (_rules/install).
REAPER_LAUNCHER = 'reap.py'


def runs_dir(root):
    return os.path.join(root, 'runs')


def run_dir(root, run_id):
    return os.path.join(runs_dir(root), run_id)


def ensure_dir(path):
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def read_json(path, default):
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return default
        raise RulesError('cannot read %s: %s' % (path, exc)) from None
    except ValueError as exc:
        raise RulesError('%s is not valid JSON: %s' % (path, exc)) from None


def write_json(path, data):
    """Atomic: a reader sees the old or the new content, never half of it."""
    ensure_dir(os.path.dirname(path))
    tmp = '%s.%d.tmp' % (path, os.getpid())
    with open(tmp, 'w') as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write('\n')
    os.rename(tmp, path)


def write_file(path, text):
    """Atomic like write_json, mode 0600 whatever the umask lets through (the state dir's own files)."""
    ensure_dir(os.path.dirname(path))
    tmp = '%s.%d.tmp' % (path, os.getpid())
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w', encoding='utf-8') as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    os.rename(tmp, path)


def empty_run(run_id):
    return {'run_id': run_id, 'rules': [], 'monitors': [], 'reapers': [], 'tools': {}}


def load_run(root, run_id):
    return dict(empty_run(run_id), **read_json(run_file(root, run_id), {}))


def save_run(root, run):
    write_json(run_file(root, run['run_id']), run)


def list_runs(root):
    try:
        names = sorted(os.listdir(runs_dir(root)))
    except OSError:
        return []
    return [n for n in names if has_run(root, n)]


def write_ready(root, run, at):
    """The run's readiness record: its rules are in and its monitors read since at (epoch seconds); the kernel
    traces from 'tracing_from' (at, or the window's start when that is later) until 'tracing_until'."""
    window = run.get('window') or {}
    start, end = window.get('start'), window.get('end')
    write_json(os.path.join(run_dir(root, run['run_id']), READY_FILE), {
        'run_id': run['run_id'], 'ready_at': round(at, 3), 'tracing_from': round(max(at, start or at), 3),
        'tracing_until': end})


def clear_ready(root, run_id):
    """The run is not ready (yet, or again: rules are going in)."""
    try:
        os.unlink(os.path.join(run_dir(root, run_id), READY_FILE))
    except FileNotFoundError:
        pass


def run_file(root, run_id):
    return os.path.join(run_dir(root, run_id), 'run.json')


def has_run(root, run_id):
    """Whether the run is on the node (its run.json is there)."""
    return os.path.isfile(run_file(root, run_id))


def finished(run):
    """True when the run has no rule left and every monitor of it was stopped."""
    return not run['rules'] and all(m.get('stopped') for m in run['monitors'])


def planned_end(run):
    """The run's planned expiry (the window's end plus the margin): the latest expiry among its rules, monitors and
    reapers; None for a run without a ttl."""
    times = [item.get('expires_at') for item in run['rules'] + run['monitors'] + run['reapers']]
    times = [t for t in times if t]
    return max(times) if times else None


def runs_end(root, run_ids=None):
    """The latest expiry among the pending reapers of the runs still on the node (of run_ids only, if given): until
    then their rules may need the loggers, or their collect step the kernel-log file. None when no such run is left
    or none has an expiry."""
    ends = []
    for run_id in list_runs(root):
        if run_ids is not None and run_id not in run_ids:
            continue
        try:
            ends += [r['expires_at'] for r in load_run(root, run_id)['reapers'] if r.get('expires_at')]
        except RulesError:
            continue  # unreadable: no expiry to wait for
    return max(ends) if ends else None


def wait_for_runs(root, still_due, say, run_ids=None, clock=time.time, sleep=time.sleep, step=30):
    """An expiry of something the runs on the node need (the loggers, the kernel-log drop-in) waits while they
    last, at most until their own expiry plus RUNS_END_SLACK, and stops waiting when still_due() turns false (its
    own record went or moved). say(text) tells once that it waits."""
    said = False
    while still_due():
        end = runs_end(root, run_ids)
        if end is None or clock() >= end + RUNS_END_SLACK:
            return
        if not said:
            say('waits for run(s) %s, which end at %s at the latest' % (
                ', '.join(r for r in list_runs(root) if run_ids is None or r in run_ids), end))
            said = True
        sleep(max(1, min(step, end + RUNS_END_SLACK - clock())))


def collectable(root, run_id):
    """The names in the run's directory that are not its own bookkeeping (they wait for the collect step)."""
    try:
        names = os.listdir(run_dir(root, run_id))
    except OSError:
        return []
    return sorted(n for n in names if n not in OWN_FILES and not n.endswith(OWN_SUFFIXES))


def remove_run_dir(root, run_id):
    shutil.rmtree(run_dir(root, run_id), ignore_errors=True)


def tidy(root):
    """With no run left, remove the rest of the root: the runs directory, an empty created.json, the installed
    programs and, when nothing else is in it, the lock and the root itself. Callers hold the node lock (whoever
    waits for it notices that its file went, see NodeLock). Returns True when the root is gone."""
    runs = runs_dir(root)
    try:
        if os.listdir(runs):
            return False
        os.rmdir(runs)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        if read_json(os.path.join(root, CREATED_FILE), {}):
            return False  # a table or chain made for our rules could not be dropped yet
    except RulesError:
        return False  # unreadable: left for a person to look at, and the root with it
    for name in (CREATED_FILE, program.LIB):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)
    try:
        if os.listdir(root) != ['lock']:
            return False
        os.unlink(os.path.join(root, 'lock'))
        os.rmdir(root)
    except OSError:
        return False
    return True


def log(root, run_id, message):
    """One line in the run's reaper.log (best effort: never fails a cleanup). A run whose directory is gone is
    not logged: the line would bring the directory back."""
    if not os.path.isdir(run_dir(root, run_id)):
        return
    try:
        with open(os.path.join(run_dir(root, run_id), 'reaper.log'), 'a') as handle:
            handle.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), message))
    except OSError:
        pass


def holds(path, handle):
    """True when the open handle is the file path names now: a lock file may be removed (tidy) while somebody
    waits for its lock, who must then lock the file that is there instead."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


class NodeLock:
    """Exclusive flock on <root>/lock with a bounded wait; serialises modules and reapers on one node."""

    def __init__(self, root, timeout=30.0, create=True):
        self.path = os.path.join(root, 'lock')
        self.timeout = timeout
        self.handle = None
        self.create = create

    def __enter__(self):
        deadline = time.time() + self.timeout
        while True:
            root = os.path.dirname(self.path)
            if not self.create and not os.path.isdir(root):
                return self  # check mode on a node without state: nothing to guard, and nothing may be created
            try:
                ensure_dir(root)
                self.handle = open(self.path, 'a')
            except FileNotFoundError:
                continue  # tidy() removed the root just now
            if self._locked(deadline):
                return self
            # tidy() removed the file while we waited for it: lock the file that is there now (if any)
            self.handle.close()
            self.handle = None

    def _locked(self, deadline):
        """True once this handle holds the lock on the file the path names; False when the file went meanwhile."""
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return holds(self.path, self.handle)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.time() >= deadline:
                    self.handle.close()
                    self.handle = None
                    raise RulesError('another netdebug operation holds %s for more than %s seconds'
                                     % (self.path, self.timeout)) from None
                time.sleep(0.05)

    def __exit__(self, *exc_info):
        if self.handle is None:
            return
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        self.handle = None
