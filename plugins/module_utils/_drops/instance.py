# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run's own tracefs instance of the skb:kfree_skb event: made at the run's start, read and removed at its stop,
or by the run's reaper at its expiry. Nothing of anyone else's tracing is touched: the instance has the run's name
(and the node's network namespace, since namespaces share one kernel), its settings are its own, and where the
node has no tracefs mount one is made at a directory of our own only for the moment a call needs it, then
unmounted (the instance lives in the kernel, not in the mount). Stdlib only."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import conntrack_counters
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops.errors import DropsError
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops.reasons import (
    EVENT_DIR, FAMILY_OF, event_filter, function_of, hist_trigger, marker_stamps, parse_format, parse_hist, parse_trace,
)

MOUNTS = '/proc/self/mounts'
MOUNT_ROOT = '/run/netdebug-tracefs'  # never inside the state root: a directory tree removal must not enter it
PREFIX = 'netdebug-'
BUFFER_KB = 256  # per CPU: some 5,000 drops per CPU; more are counted as lost, never overwrite the first
# The kernel's local clock: the one the kernel log stamps its lines with, so that a drop joins a kernel-log TRACE
# line by its own stamp. A marker written to the instance at the start and at the stop ties it to the wall clock.
TRACE_CLOCK = 'local'
MARKER = 'netdebug-clock'
BOOT_ID = '/proc/sys/kernel/random/boot_id'
UNAVAILABLE = 'drop reasons not available on this kernel'
_STAT = re.compile(r'^(overrun|dropped events):\s*(\d+)', re.M)


def netns_id():
    return procs.netns_inode()


def instance_name(run_id, netns=None):
    return '%s%s-%d' % (PREFIX, run_id, netns_id() if netns is None else netns)


def _unescape(field):
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def tracefs_mounts(text, own_root=MOUNT_ROOT, ours=False):
    """Mount points of tracefs in a /proc/self/mounts text, except ours (only ours with ours)."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == 'tracefs':
            point = _unescape(parts[1])
            if (point == own_root or point.startswith(own_root + '/')) == ours:
                found.append(point)
    return found


def _read(path):
    with open(path, errors='replace') as handle:  # task names in trace lines are any bytes
        return handle.read()


def _write(path, text):
    with open(path, 'w') as handle:
        handle.write(text)


class Tracefs:
    """Where tracefs is for one call: the node's own mount, or ours for the call (mount and umount run through
    the shared runner; tools: the node's tool paths)."""

    def __init__(self, runner, tools, mounts=None, own_root=None):
        self.runner = runner
        self.tools = tools
        self.mounts = mounts or MOUNTS
        self.own_root = own_root or MOUNT_ROOT

    @contextlib.contextmanager
    def mounted(self, name):
        try:
            found = tracefs_mounts(_read(self.mounts), self.own_root)
        except OSError as exc:
            raise DropsError('cannot read %s: %s' % (self.mounts, exc)) from None
        if found:
            yield found[0]
            return
        mount, umount = self.tools.get('mount'), self.tools.get('umount')
        if not (mount and umount):
            raise DropsError('tracefs is not mounted and mount/umount are not installed')
        point = os.path.join(self.own_root, name)
        if point not in self.ours():  # else one a killed call of this run left: used, then unmounted
            os.makedirs(point, mode=0o700, exist_ok=True)
            result = self.runner.run([mount, '-t', 'tracefs', 'nodev', point], check=False)
            if result.rc != 0:
                _rmdirs(point, self.own_root)
                raise DropsError('cannot mount tracefs: %s' % (result.stderr.strip() or 'rc %d' % result.rc))
        try:
            yield point
        finally:
            self.runner.run([umount, point], check=False)
            _rmdirs(point, self.own_root)

    def ours(self):
        try:
            return tracefs_mounts(_read(self.mounts), self.own_root, ours=True)
        except OSError:
            return []

    def unmount_ours(self):
        """Unmount what killed calls left under our mount root (cleanup); returns the mount points."""
        umount = self.tools.get('umount')
        left = self.ours()
        for point in left if umount else []:
            self.runner.run([umount, '-l', point], check=False)
            _rmdirs(point, self.own_root)
        return left


def _rmdirs(*paths):
    for path in paths:
        try:
            os.rmdir(path)
        except OSError:
            pass  # still mounted (busy), or another run's directory is in it


def _clock_offset(path):
    """Wall-clock seconds minus the trace clock's, now: a marker written to the instance, its stamp read back."""
    before = time.time()
    _write(os.path.join(path, 'trace_marker'), MARKER)
    after = time.time()
    stamps = marker_stamps(_read(os.path.join(path, 'trace')), MARKER)
    if not stamps:
        raise DropsError('the clock marker written to the instance did not show in its trace')
    return round((before + after) / 2 - stamps[-1], 6)


def start(tracefs, run_id, families, netns=None):
    """Make, set and switch on the run's instance; returns its record for the run state: available False with why
    where the kernel has no drop reasons (or tracefs cannot be had), never an error then."""
    name = instance_name(run_id, netns)
    record = {'name': name, 'families': list(families), 'available': False, 'stopped': False}
    try:
        with tracefs.mounted(name) as root:
            event = os.path.join(root, EVENT_DIR)
            if not os.path.isdir(event):
                return dict(record, why='%s: no skb:kfree_skb event in tracefs' % UNAVAILABLE)
            event_format = parse_format(_read(os.path.join(event, 'format')))
            missing = event_format.missing()
            if missing:
                return dict(record, why='%s: %s' % (UNAVAILABLE, missing))
            path = os.path.join(root, 'instances', name)
            try:
                os.mkdir(path)
            except FileExistsError:
                pass  # this run's own, from an earlier call: set again below
            try:
                record.update(_configure(path, event_format, families))
            except (OSError, DropsError):
                _remove(path)
                raise
    except (OSError, DropsError) as exc:
        return dict(record, why='%s: %s' % (UNAVAILABLE, getattr(exc, 'msg', exc)))
    return record


def _configure(path, event_format, families):
    offered = _read(os.path.join(path, 'trace_clock')).replace('[', ' ').replace(']', ' ').split()
    if TRACE_CLOCK not in offered:
        raise DropsError('the trace clock %s is not offered (offered: %s)' % (TRACE_CLOCK, ', '.join(offered)))
    event = os.path.join(path, EVENT_DIR)
    _write(os.path.join(event, 'enable'), '0')
    _write(os.path.join(path, 'trace_clock'), TRACE_CLOCK)
    _write(os.path.join(path, 'buffer_size_kb'), str(BUFFER_KB))
    _write(os.path.join(path, 'options', 'overwrite'), '0')
    expression = event_filter(event_format, families)
    _write(os.path.join(event, 'filter'), expression)
    _write(os.path.join(path, 'trace'), '')  # empty, should an earlier call of the run have left lines
    offset = _clock_offset(path)
    trigger = None
    if not event_format.symbolic_location and os.path.exists(os.path.join(event, 'hist')):
        # The lines show a hashed pointer; the kernel's own histogram names each reason's locations. (Showing the
        # plain pointer instead, hash-ptr off, blanks the reason names on 6.1.)
        trigger = hist_trigger(expression)
        _set_trigger(path, trigger)
    _write(os.path.join(event, 'enable'), '1')
    _write(os.path.join(path, 'tracing_on'), '1')
    return {'available': True, 'clock': TRACE_CLOCK, 'offset': offset,
            'filter': expression, 'reasons': dict((str(k), v) for k, v in sorted(event_format.reasons.items())),
            'symbolic': event_format.symbolic_location, 'hist': trigger, 'buffer_kb': BUFFER_KB,
            'conntrack_start': conntrack_counters.read()}


def _set_trigger(path, trigger, remove=False):
    _write(os.path.join(path, EVENT_DIR, 'trigger'), ('!' if remove else '') + trigger)


# rmdir of an instance directory removes the instance with its files and buffers (tracefs)
_rmdir_instance = os.rmdir


def _clear_triggers(path):
    """Remove the instance's event triggers (our histogram), which may hold the instance."""
    try:
        listed = _read(os.path.join(path, EVENT_DIR, 'trigger'))
    except OSError:
        return
    for line in listed.splitlines():
        if line.strip() and not line.startswith('#'):
            try:
                _set_trigger(path, line.replace(' [active]', '').strip(), remove=True)
            except OSError:
                pass


def _remove(path):
    """Switch the instance off and remove it (its buffers go with it); True when it was there."""
    if not os.path.isdir(path):
        return False
    try:
        _write(os.path.join(path, EVENT_DIR, 'enable'), '0')
    except OSError:
        pass
    _clear_triggers(path)
    try:
        _rmdir_instance(path)
    except OSError as exc:
        raise DropsError('cannot remove the tracefs instance %s: %s' % (path, exc)) from None
    return True


def _lost(path):
    lost = 0
    cpus = os.path.join(path, 'per_cpu')
    for cpu in sorted(os.listdir(cpus)) if os.path.isdir(cpus) else []:
        try:
            lost += sum(int(m.group(2)) for m in _STAT.finditer(_read(os.path.join(cpus, cpu, 'stats'))))
        except OSError:
            continue
    return lost


def _boot_id():
    try:
        return _read(BOOT_ID).strip()
    except OSError:
        return None


def pending(run_id, netns=None):
    """The record saved before the instance is made: a call killed half-way leaves a name the stop and the
    reaper remove."""
    return {'name': instance_name(run_id, netns), 'available': None, 'stopped': False}


def live(record):
    """The record may have an instance in the kernel (started, or pending when its call was killed)."""
    return bool(record) and record.get('available') is not False and not record.get('stopped')


def stop(tracefs, record, out_file=None, window=None):
    """Switch the run's instance off, write what it holds to out_file (when given, for a started one) as the
    bundle's drop-reasons record, and remove it, whatever the reading did. Returns a short summary (events, lost,
    outside the window; gone when someone else removed it), or None when there is nothing to stop. Raises
    DropsError or OSError when the instance could not be removed. window: (start, end) of the node's clock, events
    outside it are counted, not kept."""
    if not live(record):
        return None
    with tracefs.mounted(record['name']) as root:
        path = os.path.join(root, 'instances', record['name'])
        if not os.path.isdir(path):
            return {'gone': True}  # removed by someone else, or never made: nothing to read
        summary = {'events': 0, 'lost': 0}
        try:
            _write(os.path.join(path, EVENT_DIR, 'enable'), '0')
            if out_file and record.get('available'):
                summary = _save(path, record, out_file, window)
        except (OSError, DropsError) as exc:
            summary = {'error': 'reading the drops: %s' % getattr(exc, 'msg', exc)}
        finally:
            _remove(path)
    return summary


def remove(tracefs, record):
    """Remove the run's instance without reading it (a rollback); True when it was there."""
    if not live(record):
        return False
    with tracefs.mounted(record['name']) as root:
        return _remove(os.path.join(root, 'instances', record['name']))


def strays(tracefs, known, netns=None):
    """Remove instances of this network namespace's runs that no run record names (a run whose state was lost);
    returns their names."""
    suffix = '-%d' % (netns_id() if netns is None else netns)
    removed = []
    tracefs.unmount_ours()
    with tracefs.mounted(PREFIX + 'cleanup' + suffix) as root:
        instances = os.path.join(root, 'instances')
        for name in sorted(os.listdir(instances)) if os.path.isdir(instances) else []:
            if name.startswith(PREFIX) and name.endswith(suffix) and name not in known:
                if _remove(os.path.join(instances, name)):
                    removed.append(name)
    return removed


def _locations(path, record, events):
    """[reason, family, function, count] of the whole run: the kernel's histogram where the lines hide the location,
    else counted from the lines."""
    counts = {}
    if record.get('hist'):
        try:
            text = _read(os.path.join(path, EVENT_DIR, 'hist'))
        except OSError:
            text = ''
        reasons = dict((int(k), v) for k, v in record['reasons'].items())
        for reason, protocol, function, count in parse_hist(text, reasons):
            key = (reason, FAMILY_OF.get(protocol, str(protocol)), function)
            counts[key] = counts.get(key, 0) + count  # two call sites in one function: one function
    else:
        for _t, protocol, location, reason in events:
            key = (reason, FAMILY_OF.get(protocol, str(protocol)), function_of(location))
            counts[key] = counts.get(key, 0) + 1
    return sorted([[r, fam, fn, n] for (r, fam, fn), n in counts.items()], key=lambda i: (-i[3], i[0], i[1], i[2]))


def _save(path, record, out_file, window):
    start_offset = record['offset']
    try:  # the stop's marker first, so that the one read below holds it
        stop_offset = _clock_offset(path)
    except (OSError, DropsError):  # a full buffer takes no marker: the start's offset for every drop
        stop_offset = start_offset
    text = _read(os.path.join(path, 'trace'))
    events, unparsed = parse_trace(text)
    marks = marker_stamps(text, MARKER)
    locations = _locations(path, record, events)
    # a line without its location takes the one location of its reason and family, where the histogram shows one
    only = {}
    for reason, family, function, _count in locations:
        only[(reason, family)] = function if only.get((reason, family), function) == function else None
    first, last = (marks[0], marks[-1]) if len(marks) >= 2 else (None, None)
    kept, outside = [], 0
    for seconds, protocol, location, reason in events:
        # the offset drifts with the clocks: from the start marker's to the stop marker's
        share = (seconds - first) / (last - first) if first is not None and last > first else 0.0
        wall = seconds + start_offset + (stop_offset - start_offset) * min(max(share, 0.0), 1.0)
        if window and not window[0] <= wall < window[1] + 1:
            outside += 1
            continue
        family = FAMILY_OF.get(protocol, str(protocol))
        function = function_of(location) if record.get('symbolic') else only.get((reason, family))
        kept.append([round(wall, 6), family, reason, function, seconds])  # seconds: the kernel's own stamp
    data = {
        'instance': record['name'], 'kernel': os.uname().release, 'boot_id': _boot_id(), 'netns': netns_id(),
        'families': record['families'], 'filter': record['filter'], 'trace_clock': record['clock'],
        'clock_offset': [start_offset, stop_offset], 'reasons': record['reasons'], 'window': list(window) if window else None,
        'lost': _lost(path), 'outside_window': outside, 'unparsed': unparsed, 'events': kept, 'locations': locations,
        # conntrack's own counters over the run (its drops carry no address: they show here and as NETFILTER_DROP)
        'conntrack': {'start': record.get('conntrack_start'), 'stop': conntrack_counters.read()},
    }
    tmp = out_file + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(data, handle, separators=(',', ':'))
    os.rename(tmp, out_file)
    return {'events': len(kept), 'lost': data['lost'], 'outside_window': outside}
