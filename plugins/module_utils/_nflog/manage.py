# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nf_log does: report, ensure and put back the kernel's LOG/TRACE support and logger bindings."""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import index as kindex
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.kmod import Kmod
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import catalog, procnet, runstate
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.sysctl import ALL_NETNS, Sysctl, dotted, logger_key

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
        try:
            self.netns = os.stat(os.path.join(proc_root, 'self/ns/net')).st_ino
        except OSError:
            self.netns = 0

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

    def __init__(self, module, runner, sysctl=None, root='/'):
        self.module = module
        self.kmod = Kmod(runner)
        self.sysctl = sysctl or Sysctl()
        self.root = root

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
        runstate.check_run_id(params['run_id'])
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
        wanted = dict((logger_key(f), catalog.logger_for(f, params['logger'])) for f in families)
        if params['all_netns']:
            wanted[ALL_NETNS] = '1'
        store = runstate.StateStore(params['state_dir'])
        with store.locked(create=False):
            runstate.check_conflicts(params['run_id'], before.netns, wanted, store.records())
        previous = dict((key, self.sysctl.read(key) or procnet.NONE) for key in wanted)
        to_load = [c.module for c in needed if states[c.module][0] == kindex.LOADABLE]
        loaded, changes = [], {}
        if self.module.check_mode:
            changes = dict((k, {'before': previous[k], 'after': v}) for k, v in wanted.items() if previous[k] != v)
            loaded = to_load
        else:
            with store.locked():
                runstate.check_conflicts(params['run_id'], before.netns, wanted, store.records())
                loaded = self._load(before, to_load)
                changes = self._set(wanted, previous)
                self._record(params['run_id'], before.netns, params['state_dir'], wanted,
                             [c.module for c in needed], changes, loaded)
        after = before if self.module.check_mode else self.snapshot()
        result = self._base_result(after, reported)
        if self.module.check_mode:
            for key, change in changes.items():
                if key != ALL_NETNS:
                    result['loggers'][procnet.family_name(int(key.rsplit('/', 1)[1]))] = change['after']
            for name in loaded:
                result['modules'][name] = kindex.LOADED
        result.update(changed=bool(loaded or changes), loaded=loaded,
                      set=dict((dotted(k), c['after']) for k, c in changes.items()),
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
    def _record(run_id, netns, state_dir, wanted, modules, changes, loaded):
        store = runstate.StateStore(state_dir)
        existing = [r for r in store.records() if r['run_id'] == run_id and r['netns'] == netns]
        record = existing[0] if existing else runstate.new_record(run_id, netns)
        store.save(runstate.merge(record, wanted, modules, changes, loaded))

    def absent(self, params):
        runstate.check_run_id(params['run_id'], allow_all=True)
        snap = self.snapshot()
        store = runstate.StateStore(params['state_dir'])
        result = {'restored': {}, 'unloaded': [], 'kept': {}, 'released': []}
        with store.locked(create=False):
            records = store.records()
            mine = [r for r in records if r['netns'] == snap.netns
                    and (params['run_id'] == '*' or r['run_id'] == params['run_id'])]
            for record in reversed(mine):  # newest first, so the oldest "before" is what stays
                records = [r for r in records if r is not record]
                self._release(record, records, store, result)
        after = self.snapshot() if not self.module.check_mode else snap
        _needed, reported = catalog.components(snap.index.release, nflog=True)
        result.update(self._base_result(after, reported))
        result['changed'] = bool(result['restored'] or result['unloaded'])
        return result

    def _release(self, record, others, store, result):
        keys = set(record['changed']['sysctls'])
        current = dict((key, self.sysctl.read(key)) for key in keys)
        loaded = set(kindex.read_index(None, self.root).loaded or {})
        plan = runstate.plan_release(record, others, current, loaded)
        result['released'].append(record['run_id'])
        result['kept'].update(dict((dotted(k), v) for k, v in plan['kept'].items()))
        result['restored'].update(dict((dotted(k), v) for k, v in plan['restore'].items()))
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
        if params['state'] == 'query':
            return dict(self.query(params), changed=False)
        if params['state'] == 'absent':
            return self.absent(params)
        return self.present(params)
