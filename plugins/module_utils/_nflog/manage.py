# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nf_log does: report, ensure and put back the kernel's LOG/TRACE support and logger bindings."""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import index as kindex
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.kmod import Kmod
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import catalog, procnet, runstate
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.sysctl import (
    ALL_NETNS, Sysctl, dotted, logger_key,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import check_run_id

NF_LOG = 'net/netfilter/nf_log'
TARGET_FILES = ('net/ip_tables_targets', 'net/ip6_tables_targets')


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


class Snapshot:
    """The node's logging state at one moment."""

    def __init__(self, root='/', release=None):
        proc_root = os.path.join(root, 'proc')
        self.index = kindex.read_index(release, root)
        text = _read(os.path.join(proc_root, NF_LOG))
        if text is None:
            raise KmodError('%s does not exist: this kernel has no netfilter logging (CONFIG_NETFILTER with '
                            'CONFIG_PROC_FS), or /proc is not mounted' % os.path.join(proc_root, NF_LOG))
        self.nf_log = procnet.parse_nf_log(text)
        targets = []  # (path, target names), IPv4 first
        for name in TARGET_FILES:
            text = _read(os.path.join(proc_root, name))
            if text is not None:
                targets.append((os.path.join(proc_root, name), procnet.parse_xt_targets(text)))
        self.proc = {'nf_log': self.nf_log, 'targets': targets}
        self.netns = procs.netns_inode(proc_root)

    def states(self, comps):
        """module name -> (state, evidence)."""
        return dict((c.module, self.index.state(c.module, c.registered(self.proc))) for c in comps)

    def loggers(self):
        """family name -> bound logger (None: NONE), for the families netfilter defines."""
        return dict((procnet.FAMILY_NAMES[f], row['bound']) for f, row in self.nf_log.items() if f in procnet.FAMILY_NAMES)

    def available(self):
        return dict((procnet.FAMILY_NAMES[f], row['available']) for f, row in self.nf_log.items()
                    if f in procnet.FAMILY_NAMES)


class NfLogManager:
    """Runs the module's logic against AnsibleModule `module` (check mode, warnings)."""

    def __init__(self, module, runner, sysctl=None, root='/', expiry=None):
        self.module = module
        self.kmod = Kmod(runner)
        self.sysctl = sysctl or Sysctl()
        self.root = root
        self.expiry = expiry  # expiry.Expiry: schedules and cancels the restore at the ttl (None in that reaper)

    def snapshot(self):
        return Snapshot(self.root)

    def _families(self, params):
        return [procnet.FAMILY_NUMBERS[name] for name in params['families']]

    def _base_result(self, snap, comps):
        states = snap.states(comps)
        return {
            'kernel_release': snap.index.release,
            'netns': snap.netns,
            'loggers': snap.loggers(),
            'available_loggers': snap.available(),
            'modules': dict((name, st[0]) for name, st in states.items()),
            'module_evidence': dict((name, st[1]) for name, st in states.items()),
            'all_netns': self.sysctl.read(ALL_NETNS),
            'module_loading': snap.index.can_load,
        }

    def query(self, params):
        snap = self.snapshot()
        _needed, reported = catalog.components(snap.index.release, nflog=True)
        result = self._base_result(snap, reported)
        store = runstate.StateStore(params['state_dir'])
        result['runs'] = [{'run_id': r['run_id'], 'netns': r['netns']} for r in store.records()]
        return result

    def present(self, params):
        check_run_id(params['run_id'])
        families = self._families(params)
        nflog = params['nflog'] or params['logger'] == 'nflog'
        before = self.snapshot()
        needed, reported = catalog.components(before.index.release, params['log_target'], params['trace_target'],
                                              nflog, families)
        states = before.states(needed)
        for comp in needed:
            if states[comp.module][0] == kindex.MISSING:
                raise KmodError(comp.missing_message(before.index.release) + ' (' + states[comp.module][1] + ')')
        if params['all_netns'] and not self.sysctl.exists(ALL_NETNS):
            raise KmodError('all_netns: net.netfilter.nf_log_all_netns can be set only from the initial network '
                            'namespace, and this node runs in another one; set it on the host that runs it')
        expires_at = self.expiry.plan(params.get('ttl')) if self.expiry else None
        wanted = dict((logger_key(f), catalog.logger_for(f, params['logger'])) for f in families)
        if params['all_netns']:
            wanted[ALL_NETNS] = '1'
        store = runstate.StateStore(params['state_dir'])
        with store.locked(create=False):
            runstate.check_conflicts(params['run_id'], before.netns, wanted, store.records())
        previous = dict((key, self.sysctl.read(key) or procnet.NONE) for key in wanted)
        to_load = [c.module for c in needed if states[c.module][0] == kindex.LOADABLE]
        loaded, changes, armed = [], {}, False
        existing = self._existing(store, params['run_id'], before.netns)
        expiry = self.expiry.pending(existing) if self.expiry and existing else None
        if self.module.check_mode:
            changes = dict((k, {'before': previous[k], 'after': v}) for k, v in wanted.items() if previous[k] != v)
            loaded = to_load
            armed = expires_at is not None and expiry is None
            expiry = expiry or ({'at': expires_at} if armed else None)
        else:
            with store.locked():
                runstate.check_conflicts(params['run_id'], before.netns, wanted, store.records())
                existing = self._existing(store, params['run_id'], before.netns)
                # Scheduled before any change, so that a controller that dies half-way still leaves a node
                # that puts things back.
                if self.expiry:
                    expiry, armed = self.expiry.arm(existing, params['run_id'], before.netns, params['state_dir'],
                                                    expires_at)
                try:
                    loaded = self._load(before, to_load)
                    changes = self._set(wanted, previous)
                    self._record(params['run_id'], before.netns, params['state_dir'], wanted,
                                 [c.module for c in needed], changes, loaded, expiry)
                except Exception:
                    if armed:  # the record does not name it, so it would do nothing: cancel it now
                        self.expiry.disarm(expiry)
                    raise
        after = before if self.module.check_mode else self.snapshot()
        result = self._base_result(after, reported)
        if self.module.check_mode:
            for key, change in changes.items():
                if key != ALL_NETNS:
                    result['loggers'][procnet.family_name(int(key.rsplit('/', 1)[1]))] = change['after']
            for name in loaded:
                result['modules'][name] = kindex.LOADED
        result.update(changed=bool(loaded or changes or armed), loaded=loaded,
                      expires_at=expiry['at'] if expiry else None,
                      set=dict((dotted(k), c['after']) for k, c in changes.items()),
                      diff=_diff(dict((k, (c['before'], c['after'])) for k, c in changes.items()),
                                 loaded, [], expires_at=expiry['at'] if armed else None),
                      previous={'loggers': before.loggers(), 'modules': dict((n, s[0]) for n, s in before.states(reported).items()),
                                'sysctls': dict((dotted(k), v) for k, v in previous.items())},
                      state_file=store.path(params['run_id'], before.netns))
        return result

    def _load(self, before, names):
        """modprobe each name; returns every module that became loaded (dependencies too), in load order."""
        was = set(before.index.loaded or {})
        loaded = []
        for name in names:
            self.kmod.load(name)
            now = set(kindex.read_index(before.index.release, self.root).loaded or {})
            new = sorted(now - was)
            order = [m for m in new if m != name] + ([name] if name in new else [])
            loaded += [m for m in order if m not in loaded]
            was = now
        return loaded

    def _set(self, wanted, previous):
        """Write the sysctls that differ; returns key -> {'before', 'after'} against the values at the start
        (loading nf_log_syslog binds loggers by itself, which counts as this run's change too)."""
        for key, value in wanted.items():
            if self.sysctl.read(key) != value:
                self.sysctl.write(key, value)
        changes = {}
        for key, value in wanted.items():
            now = self.sysctl.read(key)
            if now != value:
                raise KmodError('sysctl %s is %s after setting it to %s' % (dotted(key), now, value))
            if previous[key] != value:
                changes[key] = {'before': previous[key], 'after': value}
        return changes

    @staticmethod
    def _existing(store, run_id, netns):
        found = [r for r in store.records() if r['run_id'] == run_id and r['netns'] == netns]
        return found[0] if found else None

    def _record(self, run_id, netns, state_dir, wanted, modules, changes, loaded, expiry=None):
        store = runstate.StateStore(state_dir)
        record = self._existing(store, run_id, netns) or runstate.new_record(run_id, netns)
        if expiry:
            record['expiry'] = expiry
        store.save(runstate.merge(record, wanted, modules, changes, loaded))

    def absent(self, params):
        check_run_id(params['run_id'], allow_all=True)
        snap = self.snapshot()
        store = runstate.StateStore(params['state_dir'])
        result = {'restored': {}, 'unloaded': [], 'kept': {}, 'released': [], 'reapers': [], '_undone': {}}
        with store.locked(create=False):
            records = store.records()
            mine = [r for r in records if r['netns'] == snap.netns
                    and (params['run_id'] == '*' or r['run_id'] == params['run_id'])]
            for record in reversed(mine):  # newest first, so the oldest "before" is what stays
                records = [r for r in records if r is not record]
                self._release(record, records, store, result)
                self._cancel_expiry(record, result)
            if params['run_id'] == '*' and self.expiry:
                result['reapers'] += self.expiry.strays(params['state_dir'], snap.netns, check=self.module.check_mode,
                                                        skip_pids=[r.get('pid') for r in result['reapers']])
            tidied = not self.module.check_mode and store.tidy()
        if tidied:
            runstate.tidy_parent(params['state_dir'])
        after = self.snapshot() if not self.module.check_mode else snap
        _needed, reported = catalog.components(snap.index.release, nflog=True)
        result.update(self._base_result(after, reported))
        result['changed'] = bool(result['restored'] or result['unloaded'] or result['reapers'])
        result['diff'] = _diff(result.pop('_undone'), [], result['unloaded'])
        return result

    def _cancel_expiry(self, record, result):
        """The released run's restore at the ttl has nothing left to do: cancel it."""
        if not self.expiry or not record.get('expiry'):
            return
        if self.module.check_mode:
            if self.expiry.pending(record):
                result['reapers'].append(dict(record['expiry']['reaper'], run_id=record['run_id']))
            return
        cancelled = self.expiry.disarm(record['expiry'])
        if cancelled:
            result['reapers'].append(dict(cancelled, run_id=record['run_id']))

    def release_expired(self, state_dir, run_id, netns, at):
        """The reaper's part at the ttl: release run_id's record in netns as absent() does, if the record still
        names the expiry at; returns absent()'s result keys, or None when nothing was due."""
        if self.snapshot().netns != netns:
            raise KmodError('the nf_log reaper runs in network namespace %d, not in %d where run %s changed the '
                            'bindings: nothing was put back' % (self.snapshot().netns, netns, run_id))
        store = runstate.StateStore(state_dir)
        result = {'restored': {}, 'unloaded': [], 'kept': {}, 'released': []}
        with store.locked(create=False):
            records = store.records()
            mine = self._existing(store, run_id, netns)
            if mine is None or (mine.get('expiry') or {}).get('at') != at:
                return None
            self._release(mine, [r for r in records if r['run_id'] != run_id or r['netns'] != netns], store, result)
        return result

    def _release(self, record, others, store, result):
        keys = set(record['changed']['sysctls'])
        current = dict((key, self.sysctl.read(key)) for key in keys)
        loaded = set(kindex.read_index(None, self.root).loaded or {})
        plan = runstate.plan_release(record, others, current, loaded)
        result['released'].append(record['run_id'])
        result['kept'].update(dict((dotted(k), v) for k, v in plan['kept'].items()))
        result['restored'].update(dict((dotted(k), v) for k, v in plan['restore'].items()))
        if '_undone' in result:
            result['_undone'].update(dict((k, (current[k], v)) for k, v in plan['restore'].items()))
        result['unloaded'] += plan['unload']
        if self.module.check_mode:
            return
        for key, value in plan['restore'].items():
            self.sysctl.write(key, value)
        for heir, kind, key, change in plan['handover']:
            runstate.apply_handover(heir, kind, key, change)
        for heir in dict((id(h[0]), h[0]) for h in plan['handover']).values():
            store.save(heir)
        self._unload(plan['unload'], result)
        store.delete(record)

    def _unload(self, names, result):
        """rmmod what this run loaded, dependents first; a module still in use stays (reported in 'kept')."""
        pending = list(reversed(names))
        while pending:
            progress = False
            for name in list(pending):
                ok, message = self.kmod.unload(name)
                if ok:
                    pending.remove(name)
                    progress = True
                else:
                    result['kept'][name] = 'not unloaded: %s' % message
            if not progress:
                break
        for name in pending:
            if name in result['unloaded']:
                result['unloaded'].remove(name)
        for name in names:
            if name not in pending:
                result['kept'].pop(name, None)

    def run(self, params):
        if params.get('ttl') is not None and params['state'] != 'present':
            raise KmodError('ttl: applies to state=present only (the expiry of the changes it makes); drop it for '
                            'state=%s' % params['state'])
        if params['state'] == 'query':
            return dict(self.query(params), changed=False)
        if params['state'] == 'absent':
            return self.absent(params)
        return self.present(params)


def _diff(sysctls, loaded, unloaded, expires_at=None):
    """Ansible's diff of one call: {key: (before, after)} sysctls and the modules loaded or unloaded."""
    before = ['%s = %s\n' % (dotted(k), v[0]) for k, v in sorted(sysctls.items())]
    after = ['%s = %s\n' % (dotted(k), v[1]) for k, v in sorted(sysctls.items())]
    before += ['module %s\n' % name for name in unloaded]
    after += ['module %s\n' % name for name in loaded]
    if expires_at is not None:
        after.append('put back on the node at %d\n' % expires_at)
    return {'before': ''.join(before), 'after': ''.join(after)}
