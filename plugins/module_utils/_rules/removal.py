# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find and remove a run's rules (by tag only), stop its monitors and its drop-reason instance, cancel its reapers.

Shared by ``state: absent`` and the reaper. Callers hold the node lock. Stdlib only.
"""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.layout import DROP_REASONS_JSON
from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import instance as drops_instance
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops.errors import DropsError
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import legacy_tables, monitor
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import legacy_table_names
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_parse import tagged
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import (
    CREATED_FILE, REAPER_LAUNCHER, collectable, finished, list_runs, load_run, log, read_json, remove_run_dir, run_dir,
    runs_dir, save_run, tidy, write_json,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import ALL_RUNS


class Found:
    """One tagged rule in the ruleset: where it is and how to delete it."""

    def __init__(self, backend, table, rule):
        self.backend = backend  # IptablesBackend or NftablesBackend
        self.table = table
        self.rule = rule

    @property
    def native(self):
        return self.table is None

    def describe(self):
        if self.native:
            return {'backend': 'nftables', 'family': 'inet', 'table': 'netdebug', 'chain': self.rule.chain,
                    'rule': self.rule.text, 'handle': self.rule.handle, 'run_id': self.rule.tag.run_id,
                    'expires_at': self.rule.tag.expires_at, 'verified': self.rule.verified}
        return {'backend': self.backend.variant, 'family': self.backend.family, 'table': self.table,
                'chain': self.rule.chain, 'rule': self.rule.line, 'run_id': self.rule.tag.run_id,
                'expires_at': self.rule.tag.expires_at, 'verified': self.rule.verified}

    def remove(self):
        if self.native:
            return self.backend.delete(self.rule)
        return self.backend.delete(self.table, self.rule)


def find_rules(node, run_id, expired_before=None):
    """Every rule tagged for run_id ('*': any run), optionally only those expiring before a time."""
    found = []
    for backend in node.iptables_all():
        found += [Found(backend, table, rule) for table, rule in backend.find_tagged(run_id)]
    nft = node.nftables()
    if nft:
        found += [Found(nft, None, rule) for rule in nft.find_tagged(run_id)]
    if expired_before is not None:
        found = [f for f in found if f.rule.tag.expires_at <= expired_before]
    return found


def run_ids(node, run_id):
    return list_runs(node.root) if run_id == ALL_RUNS else [run_id]


# -- tables that iptables-nft created for our rules -----------------------------------------------------------
def note_created(node, family, table, missing):
    """Remember (before inserting) what an iptables-nft insert is about to create."""
    if not missing['table'] and not missing['chains']:
        return
    path = os.path.join(node.root, CREATED_FILE)
    created = read_json(path, {})
    key = '%s %s' % (family, table)
    entry = created.setdefault(key, {'family': family, 'table': table, 'table_created': False, 'chains': []})
    entry['table_created'] = entry['table_created'] or missing['table']
    entry['chains'] = sorted(set(entry['chains']) | set(missing['chains']))
    write_json(path, created)


def note_legacy_table(node, family, table, module):
    """Remember a legacy table module our insert loaded: it goes with the last rule (see legacy_tables)."""
    path = os.path.join(node.root, CREATED_FILE)
    created = read_json(path, {})
    created['legacy %s %s' % (family, table)] = {'backend': 'legacy', 'family': family, 'table': table,
                                                 'module': module}
    write_json(path, created)


def drop_created(node):
    """Delete created tables/chains that no netdebug rule uses any more; returns descriptions."""
    path = os.path.join(node.root, CREATED_FILE)
    created = read_json(path, {})
    if not created:
        return []
    nft = node.nftables()
    gone = []
    for key in sorted(created):
        entry = created[key]
        if entry.get('backend') == 'legacy':
            backend = node.iptables('legacy', entry['family'])
            present = entry['table'] in (legacy_table_names(entry['family']) or '').split()  # listing would make it
            if present and backend is not None and backend.find_tagged(ALL_RUNS, tables=[entry['table']]):
                continue  # still in use by a run
            said = legacy_tables.unload(node, entry['family'], entry['table'], entry['module']) if present else None
            gone += [said] if said else []
            del created[key]  # gone, or kept for good (in doubt): no more ours to look after
            continue
        if nft is None:
            continue
        backend = node.iptables('nft', entry['family'])
        if backend is not None and backend.find_tagged(ALL_RUNS, tables=[entry['table']]):
            continue  # still in use by a run
        gone += nft.xt_drop_created(entry['family'], entry['table'],
                                    {'table': entry['table_created'], 'chains': entry['chains']})
        snap = nft.xt_snapshot(entry['family'], entry['table'])
        left = [c for c in entry['chains'] if snap is not None and c in snap['chains']]
        if snap is None or not left:
            del created[key]
        else:
            entry['chains'] = left
    write_json(path, created)
    return gone


# -- drop-reason instances ---------------------------------------------------------------------------------------
def tracefs(node):
    return drops_instance.Tracefs(node.runner, node.tools)


def stop_drops(node, ids, expired_before=None, read=True):
    """Switch off and remove the runs' drop-reason instances; a stop (read: not an expiry, not cleanup) first writes
    what each holds to the run's directory for the collect step. Returns {run_id: summary}; an instance that could
    not be removed stays in the record (the reaper tries again at the expiry) and its summary has the error."""
    summaries = {}
    for run_id in ids:
        run = load_run(node.root, run_id)
        record = run.get('drops')
        if not drops_instance.live(record):
            continue
        if expired_before is not None and record.get('expires_at', 0) > expired_before:
            continue
        window = run.get('window')
        out_file = os.path.join(run_dir(node.root, run_id), DROP_REASONS_JSON) if read else None
        try:
            summary = drops_instance.stop(tracefs(node), record, out_file,
                                          (window['start'], window['end']) if window else None)
            record['stopped'] = True
        except (OSError, DropsError) as exc:
            summary = {'error': 'removing it: %s' % getattr(exc, 'msg', exc)}
        if summary.get('error'):
            log(node.root, run_id, 'drop-reason instance %s: %s' % (record['name'], summary['error']))
        record['summary'] = summary
        save_run(node.root, run)
        summaries[run_id] = dict(summary, instance=record['name'], removed=record['stopped'] and not summary.get('gone'))
    return summaries


def stray_drops(node, ids):
    """Instances of this namespace's runs that no run of ids names any more (cleanup)."""
    known = set()
    for run_id in ids:
        record = load_run(node.root, run_id).get('drops')
        if drops_instance.live(record):
            known.add(record['name'])
    try:
        return drops_instance.strays(tracefs(node), known)
    except (OSError, DropsError):
        return []  # no tracefs here: nothing of ours can be in it


# -- monitors and reapers ----------------------------------------------------------------------------------------
def stop_monitors(node, ids, expired_before=None):
    """Returns (stopped, died, restarted): died are the monitors whose restart loop had ended before their expiry
    (their capture file lacks everything after that), restarted those whose monitor process was run again (a
    few milliseconds without it each time)."""
    stopped, died, restarted = [], [], []
    now = node.now()
    for run_id in ids:
        run = load_run(node.root, run_id)
        changed = False
        for record in run['monitors']:
            if record.get('stopped') or (expired_before is not None and record['expires_at'] > expired_before):
                continue
            which = {'run_id': run_id, 'backend': record['backend'], 'pid': record['pid']}
            cpu = monitor.cpu_seconds(record)
            was_running = monitor.stop(record)
            size, truncated = monitor.settle_capture(record)
            if truncated:
                log(node.root, run_id, 'monitor %s (pid %s) reached the cap of its capture file (%s bytes)'
                    % (record['backend'], record['pid'], record.get('max_bytes')))
            capture = {'capture_file': record['capture_file'], 'bytes': size, 'max_bytes': record.get('max_bytes'),
                       'truncated': truncated}
            if was_running:
                stopped.append(dict(which, cpu_seconds=cpu, **capture))
            elif record['expires_at'] > now:
                died.append(dict(which, **capture))
                log(node.root, run_id, 'monitor %s (pid %s) had ended before its expiry'
                    % (record['backend'], record['pid']))
            count, last_error = monitor.restarts(record)
            if count:
                restarted.append(dict(which, capture_file=record['capture_file'], restarts=count,
                                      last_error=last_error))
                log(node.root, run_id, 'monitor %s (pid %s) was restarted %d time(s)'
                    % (record['backend'], record['pid'], count))
            record['stopped'] = True
            changed = True
        if changed:
            save_run(node.root, run)
    return stopped, died, restarted


def stray_monitors(node):
    """Monitor processes writing into our runs directory that no run state lists (for run_id '*')."""
    prefix = runs_dir(node.root) + os.sep
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            target = os.readlink('/proc/%s/fd/1' % name)
        except OSError:
            continue
        if target.startswith(prefix) and target.endswith('.trace'):
            pid = int(name)
            found.append({'pid': pid, 'start': procs.start_time(pid)})
    return found


def cancel_reapers(node, ids, keep_pid=None):
    """Stop the runs' waiting reapers (not keep_pid)."""
    cancelled = []
    for run_id in ids:
        run = load_run(node.root, run_id)
        if not run['reapers']:
            continue
        for record in run['reapers']:
            if record['kind'] == 'systemd':
                if schedule.stop_unit(node, record['unit']):
                    cancelled.append({'run_id': run_id, 'unit': record['unit']})
            elif record.get('pid') != keep_pid and procs.stop_process(record['pid'], record['start']):
                cancelled.append({'run_id': run_id, 'pid': record['pid']})
        run['reapers'] = [r for r in run['reapers'] if r['kind'] == 'process' and r.get('pid') == keep_pid]
        save_run(node.root, run)
    return cancelled


# -- the whole run -------------------------------------------------------------------------------------------------
def find_recorded(node, ids, expired_before=None):
    """Tagged rules in the chains the runs' state names: a quick first pass, so the reaper removes the rules
    within a command or two of waking up instead of after scanning every table (the full scan follows)."""
    found = []
    seen = set()
    for run_id in ids:
        for rec in load_run(node.root, run_id)['rules']:
            where = (rec['backend'], rec['family'], rec['table'], rec['chain'])
            if where in seen:
                continue
            seen.add(where)
            if rec['backend'] == 'nftables':
                nft = node.nftables()
                rules = [Found(nft, None, r) for r in nft.find_tagged(run_id)] if nft else []
            else:
                backend = node.iptables(rec['backend'], rec['family'])
                if backend is None:
                    continue
                try:
                    listed = backend.list_chain(rec['table'], rec['chain'])
                except RulesError:
                    continue  # the chain is gone; the full scan decides
                rules = [Found(backend, rec['table'], r) for r in tagged(listed, run_id)]
            found += [f for f in rules if expired_before is None or f.rule.tag.expires_at <= expired_before]
    return found


def _removed(rules):
    return {'rules': rules, 'monitors': [], 'reapers': [], 'tables': [], 'monitors_died': [], 'monitors_restarted': [],
            'counts': [], 'drop_reasons': {}, 'drop_instances': []}


def packet_counts(node, ids):
    """Packets each rate-limited TRACE rule of the runs matched and traced, read from the rules' counters before they
    go: the count rule beside an iptables TRACE rule (desired.COUNT), the counters before and after an nftables
    rule's limit. One entry per run, backend, family, table and chain."""
    counts = []
    for run_id in ids:
        seen = set()
        for rec in load_run(node.root, run_id)['rules']:
            where = (rec['backend'], rec['family'], rec['table'], rec['chain'])
            if rec.get('kind') != 'trace' or where in seen:
                continue
            seen.add(where)
            try:
                numbers = _counted(node, run_id, rec)
            except RulesError:
                numbers = None  # the chain is gone: nothing to count
            if numbers:
                counts.append(dict(zip(('run_id', 'backend', 'family', 'table', 'chain', 'matched', 'traced'),
                                       (run_id,) + where + numbers)))
    return counts


def _counted(node, run_id, rec):
    """(matched, traced) for one chain's rules of the run, or None when it has no counted rule."""
    if rec['backend'] == 'nftables':
        nft = node.nftables()
        rules = [r for r in nft.find_tagged(run_id) if r.chain == rec['chain']] if nft else []
        pairs = [r.packets for r in rules if len(r.packets) == 2]
        return (pairs[0][0], pairs[0][1]) if pairs else None
    backend = node.iptables(rec['backend'], rec['family'])
    listed = tagged(backend.list_chain(rec['table'], rec['chain'], counters=True), run_id) if backend else []
    matched = [r.packets for r in listed if r.jump is None and r.packets is not None]
    traced = [r.packets for r in listed if r.jump == 'TRACE' and r.packets is not None]
    return (matched[0], traced[0]) if matched and traced else None


def remove_run(node, run_id, expired_before=None, keep_pid=None, check=False):
    """Remove run_id's rules (those expired before `expired_before` if given), then, when the run has no rule
    left, its monitors and reapers. Returns what was (or, in check mode, would be) removed."""
    ids = run_ids(node, run_id)
    if check:
        found = find_rules(node, run_id, expired_before)
        return _removed([f.describe() for f in found])
    counts = packet_counts(node, ids) if expired_before is None else []
    removed = []
    for finder in (lambda: find_recorded(node, ids, expired_before), lambda: find_rules(node, run_id, expired_before)):
        for item in finder():  # the full scan runs after the quick pass has removed what it found
            if item.remove():
                described = item.describe()
                removed.append(described)
                log(node.root, described['run_id'], 'removed %s %s %s: %s' % (
                    described['backend'], described['table'], described['chain'], described['rule']))
    result = _removed(removed)
    result['counts'] = counts
    nft = node.nftables()
    if nft is not None and nft.drop_table_if_empty():
        result['tables'].append('inet table netdebug')
    result['tables'] += drop_created(node)
    stopped = stop_monitors(node, ids, expired_before)
    result['monitors'], result['monitors_died'], result['monitors_restarted'] = stopped
    result['drop_reasons'] = stop_drops(node, ids, expired_before, read=expired_before is None and run_id != ALL_RUNS)
    result['drop_instances'] = sorted(s['instance'] for s in result['drop_reasons'].values() if s['removed'])
    if run_id == ALL_RUNS and expired_before is None:
        result['drop_instances'] += stray_drops(node, ids)
    if run_id == ALL_RUNS and expired_before is None:
        for record in stray_monitors(node):
            if procs.stop_process(record['pid'], record['start']):
                result['monitors'].append({'run_id': None, 'pid': record['pid']})
    if expired_before is None:
        result['reapers'] = cancel_reapers(node, ids, keep_pid)
        if run_id == ALL_RUNS:
            result['reapers'] += _stop_strays(node, keep_pid)
    _forget_rules(node, ids, removed)
    return result


def settle(node, ids, force=False, keep_pid=None):
    """Remove the directories of the finished runs among ids, with what is left of their reapers, and then the
    rest of the state root if no run is left (state.tidy). A run whose directory still holds files for the
    collect step stays unless force (its expiry has come, or cleanup runs). Callers hold the node lock.
    Returns the run ids whose directories went."""
    gone = []
    for run_id in ids:
        if (not force and collectable(node.root, run_id)) or not finished(load_run(node.root, run_id)):
            continue
        cancel_reapers(node, [run_id], keep_pid)
        remove_run_dir(node.root, run_id)
        gone.append(run_id)
    tidy(node.root)
    return gone


def _stop_strays(node, keep_pid):
    stopped = []
    for record in schedule.stray_reapers(node.root, REAPER_LAUNCHER):
        if record['pid'] != keep_pid and procs.stop_process(record['pid'], record['start']):
            stopped.append({'run_id': None, 'pid': record['pid']})
    for unit in schedule.stray_units(node):
        if schedule.stop_unit(node, unit):
            stopped.append({'run_id': None, 'unit': unit})
    return stopped


def _forget_rules(node, ids, removed):
    gone = set((r['backend'], r['family'], r['table'], r['chain'], r['rule']) for r in removed)
    for run_id in ids:
        run = load_run(node.root, run_id)
        keep = [r for r in run['rules'] if (r['backend'], r['family'], r['table'], r['chain'], r['line']) not in gone]
        if len(keep) != len(run['rules']):
            run['rules'] = keep
            save_run(node.root, run)
