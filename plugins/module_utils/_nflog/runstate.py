# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each run changed and still needs, kept on the node so that a later call can put things back.

One JSON record per (run_id, network namespace) under the state directory (default /run/netdebug/nf_log, so
it never outlives a reboot, which also undoes every change). A record says:
- needs: the sysctl values and modules the run relies on, changed by it or not;
- changed: what the run itself changed, with the value from before ({key: {'before', 'after', 'at'}}), and the
  modules it loaded.
Releasing a run puts back its changes unless another run still needs them; then the duty to put them back is
handed to that run. Sysctls are per network namespace; modules are shared by the whole kernel, so any run on
the node may still need them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import program
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import state as rules_state

# The expiry program's log in the state directory; the program itself is under lib/.
EXPIRY_LOG = 'expiry.log'
LOCK = '.lock'
RULES_ROOT = rules_state.DEFAULT_ROOT  # the default state directory's parent

FORMAT = 1


def new_record(run_id, netns, now=None):
    return {'format': FORMAT, 'run_id': run_id, 'netns': netns, 'created': now or time.time(),
            'needs': {'sysctls': {}, 'modules': []}, 'changed': {'sysctls': {}, 'modules': []}}


def merge(record, needs_sysctls, needs_modules, changed_sysctls, loaded_modules, now=None):
    """Add one call's needs and changes to a run's record; an earlier 'before' value always wins."""
    now = now or time.time()
    record['needs']['sysctls'].update(needs_sysctls)
    for name in needs_modules:
        if name not in record['needs']['modules']:
            record['needs']['modules'].append(name)
    for key, change in changed_sysctls.items():
        if key not in record['changed']['sysctls']:
            record['changed']['sysctls'][key] = {'before': change['before'], 'after': change['after'], 'at': now}
    for name in loaded_modules:
        if name not in record['changed']['modules']:
            record['changed']['modules'].append(name)
    return record


def check_conflicts(run_id, netns, wanted, records):
    """Refuse a run that needs a sysctl value other than one another run in the same namespace relies on."""
    for record in records:
        if record['netns'] != netns or record['run_id'] == run_id:
            continue
        for key, value in sorted(wanted.items()):
            theirs = record['needs']['sysctls'].get(key)
            if theirs is not None and theirs != value:
                raise KmodError('%s must stay %s while run %s is active, and this run (%s) wants %s: use the same '
                                'logger, or release run %s first (state=absent, run_id=%s)'
                                % (key.replace('/', '.'), theirs, record['run_id'], run_id, value, record['run_id'],
                                   record['run_id']))


def plan_release(record, others, current, loaded):
    """What releasing record does (pure).

    others: the other runs' records; current: sysctl key -> value now; loaded: names of loaded modules.
    Returns {'restore': {key: value}, 'handover': [(other_record, kind, key, change)], 'unload': [names],
    'kept': {key or module: reason}}.
    """
    plan = {'restore': {}, 'handover': [], 'unload': [], 'kept': {}}
    same_ns = [o for o in others if o['netns'] == record['netns']]
    for key, change in sorted(record['changed']['sysctls'].items()):
        heir = _first(o for o in same_ns if key in o['needs']['sysctls'])
        if heir is not None:
            plan['handover'].append((heir, 'sysctl', key, change))
            plan['kept'][key] = 'still needed by run %s' % heir['run_id']
        elif current.get(key) == change['after']:
            plan['restore'][key] = change['before']
        else:
            plan['kept'][key] = ('changed by something else since this run set it to %s (now %s): left alone'
                                 % (change['after'], current.get(key)))
    for name in record['changed']['modules']:
        heir = _first(o for o in others if name in o['needs']['modules'])
        if heir is not None:
            plan['handover'].append((heir, 'module', name, None))
            plan['kept'][name] = 'still needed by run %s' % heir['run_id']
        elif name in loaded:
            plan['unload'].append(name)
    return plan


def apply_handover(heir, kind, key, change):
    """Give heir the duty to put back key (sysctl) or unload key (module)."""
    if kind == 'sysctl':
        mine = heir['changed']['sysctls'].get(key)
        if mine is None or change['at'] < mine['at']:
            heir['changed']['sysctls'][key] = dict(change)
    elif key not in heir['changed']['modules']:
        heir['changed']['modules'].append(key)


def _first(iterable):
    for item in iterable:
        return item
    return None


def expiry_due(state_dir, run_id, netns, at):
    """True while the run's record in netns still names the expiry at (not released or moved meanwhile). Read without
    the lock: the expiry checks again under it."""
    try:
        with open(StateStore(state_dir).path(run_id, netns)) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return False
    return (record.get('expiry') or {}).get('at') == at


class StateStore:
    """The records on disk, guarded by an exclusive lock on <state_dir>/.lock for each read-modify-write."""

    def __init__(self, state_dir):
        self.state_dir = state_dir

    def path(self, run_id, netns):
        return os.path.join(self.state_dir, '%s@net%d.json' % (run_id, netns))

    @contextlib.contextmanager
    def locked(self, create=True):
        """Hold the lock; without create, a missing directory means nothing to guard (the block runs unlocked)."""
        handle = self._lock(create)
        try:
            yield
        finally:
            if handle is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()

    def _lock(self, create):
        path = os.path.join(self.state_dir, LOCK)
        while True:
            if not os.path.isdir(self.state_dir):
                if not create:
                    return None
                try:
                    os.makedirs(self.state_dir, 0o700)
                except OSError as exc:
                    if not os.path.isdir(self.state_dir):
                        raise KmodError('state_dir: cannot create %s: %s' % (self.state_dir, exc))
            try:
                handle = open(path, 'a')
            except FileNotFoundError:
                continue  # the directory went just now (tidy)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if rules_state.holds(path, handle):
                return handle
            handle.close()  # tidy() removed the file while we waited: lock the one that is there now

    def tidy(self):
        """With no record left, remove the directory (the expiry program, its log, the lock). Callers hold the
        lock. Returns True when the directory went."""
        if self.records():
            return False
        shutil.rmtree(program.lib_dir(self.state_dir), ignore_errors=True)
        try:
            for name in (EXPIRY_LOG, LOCK):
                if os.path.exists(os.path.join(self.state_dir, name)):
                    os.unlink(os.path.join(self.state_dir, name))
            os.rmdir(self.state_dir)
        except OSError:
            return False
        return True

    def records(self):
        """Every run's record on this node (all network namespaces), oldest first."""
        if not os.path.isdir(self.state_dir):
            return []
        found = []
        for name in sorted(os.listdir(self.state_dir)):
            if not name.endswith('.json'):
                continue
            try:
                with open(os.path.join(self.state_dir, name)) as handle:
                    record = json.load(handle)
            except (IOError, OSError, ValueError) as exc:
                raise KmodError('state_dir: cannot read the run record %s: %s (remove it once you have checked the '
                                'node by hand)' % (os.path.join(self.state_dir, name), exc))
            if record.get('format') == FORMAT:
                found.append(record)
        return sorted(found, key=lambda r: r['created'])

    def save(self, record):
        """Write a record atomically (temporary file and rename in the same directory)."""
        fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=self.state_dir)
        try:
            with os.fdopen(fd, 'w') as handle:
                json.dump(record, handle, sort_keys=True, indent=1)
            os.rename(tmp, self.path(record['run_id'], record['netns']))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def delete(self, record):
        path = self.path(record['run_id'], record['netns'])
        if os.path.exists(path):
            os.unlink(path)


def tidy_parent(state_dir):
    """The default state directory lives in the rules' state root: once it went, the root may go too (when no
    rules run is left there). Best effort: the release it follows is done whatever happens here."""
    parent = os.path.dirname(os.path.abspath(state_dir))
    if parent != RULES_ROOT or not os.path.isdir(parent):
        return False
    try:
        with rules_state.NodeLock(parent):
            return rules_state.tidy(parent)
    except (NetdebugError, OSError):
        return False


def tidy_state(state_dir):
    """What the expiry program does last: the state directory goes with the last record (then maybe the root).
    Best effort: the restore is done; a directory that cannot go stays for cleanup."""
    store = StateStore(state_dir)
    try:
        with store.locked(create=False):
            tidied = os.path.isdir(state_dir) and store.tidy()
    except (NetdebugError, OSError):
        return False
    if tidied:
        tidy_parent(state_dir)
    return tidied
