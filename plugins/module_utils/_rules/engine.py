# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""present / absent for both modules.

Order of a present call: validate everything (parameters, chains, positions, loggers, the kernel dry run)
before any change; then under the node lock: install the reaper program, schedule the reaper (before anything
else of the run, so that a module killed at any later point still leaves a node that cleans up at the expiry),
record the rulesets before, start the trace monitor (before the rule, so the first packet is seen), insert each
rule and check it is there. A failure half-way removes what this call added.
"""

from __future__ import annotations

import os
import sys
from collections import namedtuple

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.layout import DROP_REASONS_JSON
from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import instance as drops_instance
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.hooks import chain_agent
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import (
    dryrun, install, legacy_tables, loggers, monitor, record,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.backends import choose
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.desired import build
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import restore_line
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_parse import parse_rules
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nft_parse import NftRule
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.removal import (
    Found, cancel_reapers, drop_created, note_created, note_legacy_table, remove_run, run_ids, settle, tracefs,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.spec import families
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import (
    MIN_COLLECT_WAIT, NodeLock, clear_ready, collectable, empty_run, finished, load_run, planned_end, remove_run_dir,
    run_dir, save_run, write_ready,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import ALL_RUNS, make_tag

MONITOR_BACKENDS = ('nft', 'nftables')


_REQUEST_FIELDS = ('kind run_id ttl backend match target placements position lock_timeout record capture_max_bytes '
                   'drop_reasons')


class Request(namedtuple('Request', _REQUEST_FIELDS, defaults=(30, False, monitor.CAPTURE_MAX_BYTES, False))):
    """A validated module call (built by module_api.run); record: write the rulesets (record_rulesets);
    capture_max_bytes: the cap of each trace monitor's capture file; drop_reasons: the kernel's drops too (a
    tracefs instance of the run). A window (match.window, a window.Window) makes the ttl count from its end."""

    __slots__ = ()


def _describe(rec):
    return {'backend': rec['backend'], 'family': rec['family'], 'table': rec['table'], 'chain': rec['chain'],
            'rule': rec['line'], 'expires_at': rec['expires_at']}


def _diff_text(items):
    return ''.join('%s %s %s: %s\n' % (i['backend'], i['family'], i['table'], i['rule']) for i in items)


# -- checks against the node (reads only) ----------------------------------------------------------------------
def _check_tools(node, req, backends):
    if req.kind != 'trace':
        return
    needed = {'nft': 'xtables-monitor', 'nftables': 'nft'}
    for backend in backends:
        if backend in needed and not node.tool(needed[backend]):
            raise RulesError('TRACE with backend %s needs the trace monitor %s, which is not installed on this node '
                             '(package iptables 1.8 or later / nftables)' % (backend, needed[backend]))
        if backend in needed and not node.tool('timeout'):
            raise RulesError('the trace monitor runs under timeout (coreutils), which is not installed on this node')


def _check_node(node, req, rules, backends, warnings, check_mode=False):
    _check_tools(node, req, backends)
    seen_chains = set()
    for rule in rules:
        if rule.native:
            continue
        backend = node.iptables(rule.backend, rule.family)
        if backend is None:
            raise ParamError('ip_version' if rule.family == 'ipv6' else 'backend',
                             '%s is not installed on this node' % ('ip6tables-' if rule.family == 'ipv6' else
                                                                   'iptables-') + rule.backend)
        listed = [r for r in backend.list_chain(rule.table, rule.chain) if r.chain == rule.chain]
        if isinstance(rule.position, int) and rule.position > len(listed) + 1:
            raise ParamError('position', '%d is beyond the end of %s, which has %d rule(s): use at most %d or bottom'
                             % (rule.position, rule.where(), len(listed), len(listed) + 1))
        where = (rule.backend, rule.family, rule.table, rule.chain)
        if where in seen_chains:
            continue
        seen_chains.add(where)
        owners = sorted(set(filter(None, (chain_agent(r.jump or '') for r in listed))))
        if owners:
            warnings.append('%s already holds jumps of %s: such agents may re-insert their hooks above ours, and a '
                            'verdict in their chains can hide packets from this rule' % (rule.where(), ', '.join(owners)))
    if req.kind == 'trace' and 'legacy' in backends:
        try:
            with open(loggers.NF_LOG) as handle:
                text = handle.read()
        except OSError as exc:
            raise RulesError('cannot read %s to check the TRACE logger: %s' % (loggers.NF_LOG, exc)) from None
        families = sorted(set(r.family for r in rules if r.backend == 'legacy'))
        problems = loggers.trace_logger_problems(text, families)
        if problems and check_mode:
            # A check run precedes the step that binds the logger (the capture's prepare play, or an nf_log task
            # that check mode did not really run): say what a real run needs instead of refusing.
            warnings.append('a real run fails unless a logger is bound first: ' + '; '.join(problems))
        elif problems:
            raise RulesError('; '.join(problems))
    logs_to_kernel = (req.kind == 'trace' and 'legacy' in backends) or (req.kind == 'log' and req.target.jump == 'LOG')
    if logs_to_kernel and not procs.in_initial_netns():
        warnings.append(loggers.NETNS_WARNING)


# -- idempotency ------------------------------------------------------------------------------------------------
def _still_there(node, rec, rule, now):
    if rec['expires_at'] <= now:
        return False  # about to be reaped: a new rule is due
    if rule.native:
        nft = node.nftables()
        return any(r.handle == rec['handle'] and r.tag and r.tag.text() == rec['tag'] for r in nft.list_rules())
    return node.iptables(rule.backend, rule.family).exists(rule.table, rule.chain, rule.args(rec['tag']))


def _existing(node, run, rule, now):
    for rec in run['rules']:
        if rec['key'] == rule.key() and _still_there(node, rec, rule, now):
            return rec
    return None


# -- changes ----------------------------------------------------------------------------------------------------
def _insert(node, rule, tag, expires_at, modules_before=None):
    rec = {'key': rule.key(), 'kind': rule.kind, 'backend': rule.backend, 'family': rule.family,
           'table': rule.table, 'chain': rule.nft_chain if rule.native else rule.chain, 'tag': tag,
           'expires_at': expires_at}
    if rule.native:
        nft = node.nftables()
        nft.ensure_chain(rule.table, rule.hook)
        handle = nft.insert(rule.table, rule.hook, rule.position, rule.body, tag)
        found = [r for r in nft.list_rules() if r.handle == handle and r.tag and r.tag.text() == tag]
        if not found:
            raise RulesError('nft added rule handle %d to %s but it is not in the ruleset' % (handle, rule.where()))
        if not rule.listed_as_asked(found[0]):
            nft.delete(found[0])
            raise RulesError('nft listed the rule for %s as %r, with a comment besides our tag: it was removed at '
                             'once' % (rule.where(), found[0].text))
        rec.update(handle=handle, line=found[0].text, table='netdebug')
        return rec
    backend = node.iptables(rule.backend, rule.family)
    nft = node.nftables()
    if rule.backend == 'nft' and nft is not None:
        note_created(node, rule.family, rule.table, nft.xt_missing(rule.family, rule.table, rule.chain))
    before = [r.line for r in backend.list_chain(rule.table, rule.chain) if r.tag and r.tag.text() == tag]
    backend.insert(rule.table, rule.chain, rule.position, rule.args(tag))
    if rule.backend == 'legacy':
        module = legacy_tables.loaded_by_us(rule.family, rule.table, modules_before, legacy_tables.loaded_modules())
        if module:
            note_legacy_table(node, rule.family, rule.table, module)
    new = [r for r in backend.list_chain(rule.table, rule.chain) if r.tag and r.tag.text() == tag]
    for line in before:
        same = [r for r in new if r.line == line]
        if same:
            new.remove(same[0])
    unverified = [r for r in new if not rule.listed_as_asked(r)]
    if not new or unverified or not backend.exists(rule.table, rule.chain, rule.args(tag)):
        for stray in new:  # our tag in another form: the rollback cancels the reaper, so it goes now
            try:
                backend.delete(rule.table, stray)
            except RulesError:
                pass
        if unverified:
            raise RulesError('%s listed the rule for %s as %r, not as it was asked for (one comment, our tag, target '
                             '%s): it was removed at once' % (backend.name, rule.where(), unverified[0].line,
                                                              rule.target_jump))
        raise RulesError('%s accepted the rule for %s, but it is not in the chain afterwards'
                         % (backend.name, rule.where()))
    rec['line'] = new[0].line
    return rec


def _rollback(node, run, added, monitors, reapers, drops=None):
    for rec in added:
        if rec['backend'] == 'nftables':
            item = Found(node.nftables(), None, NftRule(rec['chain'], rec['handle'], rec['line']))
        else:
            item = Found(node.iptables(rec['backend'], rec['family']), rec['table'], parse_rules(rec['line'])[0])
        try:
            item.remove()
        except RulesError:
            pass  # the reaper, already scheduled, removes it at expiry
    nft = node.nftables()
    if nft is not None:
        nft.drop_table_if_empty()
    drop_created(node)
    for record in monitors:
        monitor.stop(record)
        record['stopped'] = True
    if drops:
        try:
            drops_instance.remove(tracefs(node), drops)
            drops['stopped'] = True
        except (OSError, RulesError):
            pass  # left in the record: cleanup, or the reaper of a later call of the run, removes it
    for record in reapers:
        if record['kind'] == 'process':
            procs.stop_process(record['pid'], record['start'])
        else:
            schedule.stop_unit(node, record['unit'])
    run['reapers'] = [r for r in run['reapers'] if r not in reapers]
    run['rules'] = [r for r in run['rules'] if r not in added]
    save_run(node.root, run)


def _ensure_monitors(node, run, backends, program, expires_at, max_bytes):
    started = []
    for backend in backends:
        live = [m for m in run['monitors'] if m['backend'] == backend and not m.get('stopped') and monitor.running(m)]
        if live and max(m['expires_at'] for m in live) >= expires_at:
            continue
        for record in live:  # too short for the new rules: replace (a short gap beats duplicated lines)
            monitor.stop(record)
            record['stopped'] = True
        record, _proc = monitor.start(run_dir(node.root, run['run_id']), backend, node.tools,
                                      install.stamper(program, sys.executable), expires_at, node.now(), max_bytes)
        run['monitors'].append(record)
        save_run(node.root, run)
        started.append(record)
    return started


def _ensure_reaper(node, run, program, expires_at):
    for record in run['reapers']:
        if record['expires_at'] == expires_at and schedule.active(node, record):
            return []
    record = schedule.schedule(node, program, sys.executable, run['run_id'], expires_at)
    run['reapers'].append(record)
    save_run(node.root, run)
    return [record]


def _ensure_drops(node, run, families_, expires_at):
    """The run's drop-reason instance, started unless it runs already; returns its record when this call started
    it (a rollback removes it)."""
    record = run.get('drops')
    if record and record.get('available') and not record.get('stopped'):
        record['expires_at'] = max(record['expires_at'], expires_at)
        save_run(node.root, run)
        return None
    # the name first: a call killed while it makes the instance leaves a record the stop and the reaper act on
    run['drops'] = dict(drops_instance.pending(run['run_id']), expires_at=expires_at)
    save_run(node.root, run)
    record = drops_instance.start(tracefs(node), run['run_id'], families_)
    record['expires_at'] = expires_at
    run['drops'] = record
    save_run(node.root, run)
    return record if record['available'] else None


def _drops_result(node, run):
    """What the result says of the run's drop-reason capture (None without one)."""
    record = run.get('drops')
    if not record:
        return None
    if not record.get('available'):
        return {'available': False, 'why': record.get('why'), 'instance': None, 'file': None}
    return {'available': True, 'why': None, 'instance': record['name'], 'trace_clock': record['clock'],
            'filter': record['filter'], 'buffer_kb': record['buffer_kb'],
            'file': os.path.join(run_dir(node.root, run['run_id']), DROP_REASONS_JSON)}


def _summary(node, run, kind, recs, backends, variant):
    monitors = [m for m in run['monitors'] if not m.get('stopped') and m['backend'] in backends]
    return {
        'run_id': run['run_id'],
        'backend': '+'.join(backends),
        'backends': backends,
        'variant': variant,
        'rules': [_describe(r) for r in recs],
        'capture_files': sorted(set(m['capture_file'] for m in monitors)),
        'kernel_log': kind == 'trace' and 'legacy' in backends,
        'state_dir': run_dir(node.root, run['run_id']),
        'started_at': run.get('started_at'),
        'expires_at': max([r['expires_at'] for r in recs]) if recs else None,
        'reapers': list(run['reapers']),
        'drop_reasons': _drops_result(node, run),
    }


def _fresh(node, run):
    """An earlier run of this id that is over (stopped, its files maybe never collected) gives way: the new run has
    its own window, files and reapers."""
    if not (run.get('started_at') and finished(run)):
        return run
    cancel_reapers(node, [run['run_id']])
    remove_run_dir(node.root, run['run_id'])
    return empty_run(run['run_id'])


def present(node, req, check_mode=False):
    """Returns (result dict, warnings)."""
    warnings = []
    # Before anything of this call touches the kernel: a legacy table module loaded from here on is ours to unload.
    modules_before = legacy_tables.loaded_modules()
    for table, _chain in req.placements:
        warnings += req.match.warnings(table)
    backends, variant = choose(node, req.backend, need_both_on_mixed=req.kind == 'trace')
    rules = build(req.kind, backends, req.match, req.target, req.placements, req.position)
    _check_node(node, req, rules, backends, warnings, check_mode)
    legacy = sorted(set((r.family, r.table) for r in rules if r.backend == 'legacy'))
    try:
        dryrun.check(node, rules, bool(req.match.extra))
        if check_mode:  # the dry run's throwaway namespace is gone; a table module it loaded goes too
            legacy_tables.unload_dry_run_leftovers(node, modules_before, legacy)
        return _present_locked(node, req, check_mode, rules, (backends, variant), warnings, modules_before)
    except Exception:
        # a table module this call loaded (its dry run, or an insert rolled back) and left unrecorded goes too
        legacy_tables.unload_dry_run_leftovers(node, modules_before, legacy)
        raise


def _present_locked(node, req, check_mode, rules, chosen, warnings, modules_before):
    """present() once the rules are built and the kernel accepted them: under the node lock, the changes."""
    backends, variant = chosen
    with NodeLock(node.root, req.lock_timeout, create=not check_mode):
        # another run's removal may have unloaded a table module while this call waited for the lock: one our
        # insert loads again is ours too
        modules_before = legacy_tables.loaded_throughout(modules_before)
        run = load_run(node.root, req.run_id)
        now = node.now()
        recs, to_add = [], []
        for rule in rules:
            rec = _existing(node, run, rule, now)
            if rec:
                recs.append(rec)
            else:
                to_add.append(rule)
        window = req.match.window
        expires_at = (window.end if window else now) + req.ttl
        described = window.describe(now) if window else None
        tag = make_tag(req.run_id, expires_at)
        if check_mode or not to_add:
            planned = [{'backend': r.backend, 'family': r.family, 'table': r.table,
                        'chain': r.nft_chain if r.native else r.chain,
                        'rule': r.nft_text(tag) if r.native else restore_line(['-A', r.chain] + r.args(tag)),
                        'expires_at': expires_at} for r in to_add]
            result = _summary(node, run, req.kind, recs, backends, variant)
            result['window'] = described
            result['rules'] += planned
            result.update(changed=bool(to_add), diff={'before': '', 'after': _diff_text(planned)})
            if req.kind == 'trace':
                recorded = _record_listings(node, req, warnings) if req.record and not check_mode else []
                result.update(_record_keys(node, req.run_id, req.record, recorded))
            return result, warnings
        run = _fresh(node, run)
        clear_ready(node.root, req.run_id)  # a script waiting for the run must not take an older record for this one
        program = install.install(node.root)
        run['tools'] = node.tools
        run['lock_wait'] = node.lock_wait
        run.setdefault('started_at', now)
        if window:
            run['window'] = dict(window._asdict())  # when the kernel traces (tests and the demo wait for it)
        save_run(node.root, run)
        added, monitors, reapers, drops = [], [], [], None
        try:
            # The reaper first: a module killed at any later point (its controller interrupted) leaves a node that
            # still removes the run's rules, monitors and files at the expiry.
            reapers = _ensure_reaper(node, run, program, expires_at)
            # The snapshot before comes before any change to the ruleset: it must not see anything of this call.
            recorded = record.record_before(node, req.run_id) if req.record else []
            if req.kind == 'trace':
                monitors = _ensure_monitors(node, run, [b for b in backends if b in MONITOR_BACKENDS], program,
                                            expires_at, req.capture_max_bytes)
                if req.drop_reasons:
                    drops = _ensure_drops(node, run, families(req.match.ip_version), expires_at)
            for rule in to_add:
                rec = _insert(node, rule, tag, expires_at, modules_before)
                added.append(rec)
                run['rules'].append(rec)
                save_run(node.root, run)
        except Exception:
            _rollback(node, run, added, monitors, reapers, drops)
            raise
        # Every rule is in and every monitor reads (each started only once it listened): tracing now, or from the
        # window's start.
        write_ready(node.root, run, node.clock())
        result = _summary(node, run, req.kind, recs + added, backends, variant)
        result.update(changed=True, diff={'before': '', 'after': _diff_text([_describe(r) for r in added])},
                      window=described)
        if req.kind == 'trace':
            recorded += _record_listings(node, req, warnings) if req.record else []
            result.update(_record_keys(node, req.run_id, req.record, recorded))
    return result, warnings


def _record_keys(node, run_id, enabled, recorded):
    return {'record_dir': record.record_dir(node.root, run_id) if enabled else None, 'recorded': sorted(recorded)}


def _record_listings(node, req, warnings):
    # The rules are in by now: a listing that cannot be written is no reason to fail the trace.
    try:
        return record.record_listings(node, req.run_id)
    except RulesError as exc:
        warnings.append(exc.msg)
        return []


def absent(node, run_id, check_mode=False, lock_timeout=30, kind='trace', record_rulesets=False):
    """Returns (result dict, warnings); the record and monitor keys only for kind trace."""
    recorded, restored, warnings = [], None, []
    with NodeLock(node.root, lock_timeout, create=not check_mode):
        planned = planned_end(load_run(node.root, run_id)) if record_rulesets and run_id != ALL_RUNS else None
        removed = remove_run(node, run_id, check=check_mode)
        if record_rulesets and not check_mode:
            try:
                recorded, restored = record.record_after(node, run_id)
            except RulesError as exc:  # the removal is done: say what is missing rather than fail it
                warnings.append(exc.msg)
            _keep_for_collection(node, run_id, planned)
        if not check_mode:
            # cleanup ('*') takes everything; one run's directory stays while it holds files to collect
            settle(node, run_ids(node, run_id), force=run_id == ALL_RUNS)
    if check_mode:
        removed['monitors'], removed['reapers'] = _live(node, run_id)
    died, restarted, counts = removed.pop('monitors_died'), removed.pop('monitors_restarted'), removed.pop('counts')
    drops = removed.pop('drop_reasons')
    truncated = [m for m in removed['monitors'] + died if m.get('truncated')]
    warnings += ['removed a rule carrying a netdebug tag that was not as netdebug inserts them (%s %s %s %s: %s); '
                 'it was ours by its tag' % (r['backend'], r['family'], r['table'], r['chain'], r['rule'])
                 for r in removed['rules'] if not r.get('verified', True)]
    changed = bool(removed['rules'] or removed['monitors'] or removed['reapers'] or removed['tables']
                   or removed['drop_instances'])
    result = {'run_id': run_id, 'changed': changed, 'removed': removed,
              'rules': [], 'diff': {'before': _diff_text(removed['rules']), 'after': ''}}
    if kind == 'trace':
        result.update(_record_keys(node, run_id, record_rulesets, recorded), ruleset_restored=restored,
                      monitors_died=died, monitors_restarted=restarted, monitors_truncated=truncated,
                      packets=packets_summary(counts), drop_reasons=drops if run_id == ALL_RUNS else drops.get(run_id))
    return result, ([_died_warning(m) for m in died] + [_restarted_warning(m) for m in restarted]
                    + [_truncated_warning(m) for m in truncated] + warnings)


def packets_summary(counts):
    """What the rate limit held back, from packet_counts: each backend sees every matching packet, so the node's
    figures are those of the backend that counted most (a mixed node counts the same packets twice)."""
    if not counts:
        return None
    totals = {}
    for item in counts:
        total = totals.setdefault(item['backend'], [0, 0])
        total[0] += item['matched']
        total[1] += item['traced']
    return {'matched': max(m for m, _t in totals.values()), 'traced': max(t for _m, t in totals.values()),
            'untraced': max(max(0, m - t) for m, t in totals.values()), 'rules': counts}


def _truncated_warning(full):
    return ('the capture file of the trace monitor of backend %s reached its cap of %d bytes (capture_max_bytes): '
            'trace lines after that are missing from %s' % (full['backend'], full['max_bytes'], full['capture_file']))


def _keep_for_collection(node, run_id, planned):
    """The capture's stop leaves files for its collect step, which removes them: should nobody come (the controller
    died), a reaper removes them at the run's planned expiry, the window's end plus the margin (at least
    MIN_COLLECT_WAIT seconds from now). A run without a ttl keeps them until cleanup."""
    if planned is None or not collectable(node.root, run_id):
        return
    run = load_run(node.root, run_id)
    _ensure_reaper(node, run, install.install(node.root), max(planned, node.now() + MIN_COLLECT_WAIT))


def _restarted_warning(again):
    return ('the trace monitor of backend %s (pid %s) exited and was restarted %d time(s)%s: trace lines in the '
            'gaps (a few milliseconds each) may be missing from %s' % (
                again['backend'], again['pid'], again['restarts'],
                ' (last it said: %s)' % again['last_error'] if again['last_error'] else '', again['capture_file']))


def _died_warning(dead):
    try:
        with open(dead['capture_file'][:-len('.trace')] + '.stderr', errors='replace') as handle:
            said = handle.read().strip().splitlines()[-1:]
    except OSError:
        said = []
    return ('the trace monitor of backend %s (pid %s) had ended before the stop although its expiry had not come%s: '
            'trace lines after it ended are missing from %s' % (
                dead['backend'], dead['pid'], ' (it said: %s)' % said[0] if said else '', dead['capture_file']))


def _live(node, run_id):
    monitors, reapers = [], []
    for rid in run_ids(node, run_id):
        run = load_run(node.root, rid)
        monitors += [{'run_id': rid, 'backend': m['backend'], 'pid': m['pid']} for m in run['monitors']
                     if not m.get('stopped') and monitor.running(m)]
        reapers += [dict(r, run_id=rid) for r in run['reapers'] if schedule.active(node, r)]
    return monitors, reapers
