# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bundle's manifest: each host's entry (status ok, partial, failed or unreachable, with every reason) and the
manifest of a run. The collect role calls these through the host_entry and bundle_manifest filters; docs/bundle.md
describes the result. Pure functions over the facts the trace and collect steps set."""

from __future__ import annotations

import os
import time

FORMAT = 1
RULESET_CHANGED = 'the ruleset after the trace differs from the one before (see ruleset/before.json, after.json)'
# The collect role's placeholder for a host whose collect step never ended (set first, replaced at its end).
COLLECT_UNFINISHED = 'the collect step did not finish'
# The collect role's task that runs bundle_publish, named in the reason of a host it failed for.
PUBLISH_STEP = 'Verify, unpack and publish every fetched archive'
CLOCK_NOTE_SECONDS = 1.0  # a node's clock further off than this is named in its entry's warnings


def _problems(trace, pack):
    problems = list(pack.get('problems') or []) + list(pack.get('pack_warnings') or [])
    for dead in trace.get('monitors_died') or []:
        problems.append('the trace monitor of backend %s (pid %s) stopped before the window ended: trace lines after '
                        'that are missing from %s' % (dead['backend'], dead['pid'], os.path.basename(dead['capture_file'])))
    late = (trace.get('window') or {}).get('late')
    if late:
        problems.append('the trace was armed %d s after the window\'s start (the check step\'s estimate was short, or '
                        'netdebug_window_start had passed): the first %d s of the window are missing here'
                        % (late, late))
    for full in trace.get('monitors_truncated') or []:
        problems.append('the capture file %s reached its cap of %s bytes (netdebug_capture_max_bytes): trace lines '
                        'after that are missing' % (os.path.basename(full['capture_file']), full['max_bytes']))
    return problems


def _notes(trace, packets):
    # A monitor that restarted traced on: a few milliseconds may be missing, worth a warning, not a partial host.
    notes = ['the trace monitor of backend %s exited %s time(s) and was restarted on the node (last error: %s): '
             'trace lines of the few milliseconds of each restart may be missing'
             % (again['backend'], again['restarts'], again.get('last_error') or 'none')
             for again in trace.get('monitors_restarted') or []]
    # A node's clock off the controller's: its window was moved by the offset, so a note, not a partial host.
    offset = (trace.get('clock') or {}).get('offset')
    if isinstance(offset, (int, float)) and abs(offset) > CLOCK_NOTE_SECONDS:
        notes.append('the node\'s clock is %+.1f s off the controller\'s: its trace window was moved by that much so '
                     'that it covers the same interval (fix its time sync; the report orders its packets by the '
                     'corrected time)' % offset)
    # What the TRACE rules' rate limit held back (their counters, read at the stop): by design, so a note.
    if packets and packets.get('untraced'):
        notes.append('%s of %s matching packets were not traced: over the rate limit of the TRACE rules '
                     '(netdebug_trace_rate)' % (packets['untraced'], packets['matched']))
    drops = drop_reasons(trace)
    if drops and drops.get('why'):
        notes.append(drops['why'])  # an old kernel: the trace itself is whole, so a note
    elif drops and drops.get('lost'):
        notes.append('%s kernel drops of the window were not recorded: the drop-reason buffer (%s KiB per CPU) was '
                     'full; those recorded are the first' % (drops['lost'], drops.get('buffer_kb')))
    elif drops and drops.get('error'):
        notes.append('the kernel\'s drops could not be read at the stop: %s' % drops['error'])
    elif drops and drops.get('gone'):
        notes.append('the drop-reason instance was gone at the stop (removed by someone else): no drops were read')
    return notes


def drop_reasons(trace):
    """What the host's entry says of its drop-reason capture: None when it was off (or the trace never started),
    else available, why not, and from the stop the drops of the window kept and lost."""
    started = ((trace or {}).get('start') or {}).get('drop_reasons')
    if not started:
        return None
    if not started.get('available'):
        return {'available': False, 'why': started.get('why')}
    stopped = trace.get('drop_reasons') or {}
    return {'available': True, 'why': None, 'events': stopped.get('events'), 'lost': stopped.get('lost'),
            'outside_window': stopped.get('outside_window'), 'error': stopped.get('error'), 'gone': stopped.get('gone'),
            'buffer_kb': started.get('buffer_kb')}


def unfinished(host_dir):
    """The entry a host starts the collect step with: failed until the collect step finishes and replaces it."""
    return {'status': 'failed', 'reason': COLLECT_UNFINISHED, 'dir': host_dir, 'files': [], 'warnings': []}


def host_entry(trace, pack, host_dir):
    """This host's manifest entry from its netdebug_trace fact ({} without a trace) and its capture_pack result: ok,
    or partial with every reason why not; failed or unreachable when the trace failed."""
    trace = trace or {}
    problems = _problems(trace, pack)
    status = 'ok'
    error = trace.get('error')
    if error:
        status = 'unreachable' if error.get('unreachable') else 'failed'
        problems = ['trace: %s: %s' % (error.get('task', ''), error.get('msg', ''))] + problems
    elif trace and trace.get('ruleset_restored') is False:
        problems = [RULESET_CHANGED] + problems
    if status == 'ok' and problems:
        status = 'partial'
    packets = trace.get('packets')
    monitors = (trace.get('removed') or {}).get('monitors') or []
    cpu = [m['cpu_seconds'] for m in monitors if isinstance(m.get('cpu_seconds'), (int, float))]
    return {'status': status, 'reason': '; '.join(problems) if problems else None, 'dir': host_dir,
            'files': pack.get('files'), 'warnings': problems + _notes(trace, packets),
            'archive_sha256': pack.get('sha256'), 'clock': trace.get('clock'), 'window': trace.get('window'),
            'matched_packets': packets['matched'] if packets else None,
            'untraced_packets': packets['untraced'] if packets else None, 'drop_reasons': drop_reasons(trace),
            'monitor_cpu_seconds': round(sum(cpu), 2)}


def publish_failed(published, host, host_dir):
    """The entry of a host whose archive the controller did not publish, or None when it did. published: the
    bundle_publish task's registered result (its hosts, or the module's own failure)."""
    result = (published.get('hosts') or {}).get(host)
    if result is None:
        result = {'ok': False, 'step': PUBLISH_STEP, 'msg': published.get('msg') or 'failed'}
    if result.get('ok'):
        return None
    return {'status': 'failed', 'reason': '%s: %s' % (result.get('step'), result.get('msg')), 'dir': host_dir,
            'files': [], 'warnings': []}


def dropped_out(trace, capture_phase):
    """The entry of a host that has no finished collect entry: it dropped out of the play (unreachable, or a
    failure outside the rescued steps); the reason in the connection's own words where the trace kept them."""
    trace = trace or {}
    phase = trace.get('phase') or capture_phase or 'the start'
    error = trace.get('error') or {}
    if error.get('unreachable'):
        reason = 'unreachable while %s (%s): %s; %s' % (
            phase, error.get('task', ''), error.get('msg', ''),
            'nothing was changed on it' if phase == 'checking'
            else 'what the run left on it goes at the ttl, by the node itself')
    else:
        reason = ('the host dropped out of the run during %s (unreachable, or a failure outside the rescued steps; '
                  'see the play output); what the run left on it goes at the ttl, by the node itself' % phase)
    return {'status': 'unreachable', 'reason': reason, 'dir': None, 'files': [], 'warnings': []}


def manifest(hosts, incident_id, kind='capture', match=None, duration=None, backend='auto', ended_at=None, ran_by=None):
    """The run's manifest. hosts: {host: {'collect': its netdebug_collect fact or None, 'trace': its netdebug_trace
    fact or None, 'phase': the capture's phase fact or None}}, in the order the run started them."""
    entries, starts, counts = {}, [], {}
    for host, facts in hosts.items():
        collect = facts.get('collect')
        if collect and (collect.get('status') != 'failed' or collect.get('reason') != COLLECT_UNFINISHED):
            entries[host] = collect
        else:
            entries[host] = dropped_out(facts.get('trace'), facts.get('phase'))
        started = ((facts.get('trace') or {}).get('start') or {}).get('started_at')
        if started:
            starts.append(int(started))
    for entry in entries.values():
        counts[entry['status']] = counts.get(entry['status'], 0) + 1
    stamp = '%Y-%m-%dT%H:%M:%SZ'
    return {'incident_id': incident_id, 'format': FORMAT,
            'started_at': time.strftime(stamp, time.gmtime(min(starts))) if starts else None,
            'ended_at': ended_at or time.strftime(stamp, time.gmtime()), 'kind': kind,
            'match': match, 'duration': int(duration) if duration is not None else None,
            'backend': backend, 'ran_by': ran_by or None, 'summary': counts, 'hosts': entries}
