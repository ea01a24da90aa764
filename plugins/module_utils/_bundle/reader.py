# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a capture bundle (layout in docs/bundle.md): manifest, per-host trace files, snapshots, conntrack."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import json
import os
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis import kernel_drops
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.correlate import (
    parse_conntrack_json, parse_conntrack_text,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import layout
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.digest import sha256_file
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError

STATUSES = ('ok', 'partial', 'unreachable', 'failed')
RULESET_FILES = layout.RULESET_FILES
_SAFE_DIR = re.compile(r'^[A-Za-z0-9._-]+$')


class BundleError(NetdebugError):
    """The bundle cannot be read at all (the message says what to fix)."""


def _read_json(path):
    try:
        with open(path, 'rb') as fh:
            return json.loads(fh.read().decode('utf-8'))
    except (OSError, ValueError) as exc:
        raise BundleError('cannot read %s: %s' % (path, exc))


def load_manifest(incident_dir):
    """manifest.json plus any manifest.<part>.json (one per job slice), merged; hosts in order of appearance.

    A host in several parts is taken from the part that ended last (by `ended_at`): a later run replaced its
    directory, so only that part's checksums match."""
    main = os.path.join(incident_dir, layout.MANIFEST)
    parts = sorted(name for name in os.listdir(incident_dir)
                   if name.startswith(layout.MANIFEST_PREFIX) and name.endswith('.json') and name != layout.MANIFEST)
    if not os.path.isfile(main) and not parts:
        raise BundleError('no manifest.json in %s: is this the <bundle_dir>/<incident_id> directory of a capture?'
                          % incident_dir)
    merged = {'incident_id': None, 'hosts': {}, 'notes': []}
    taken = {}  # host -> (ended_at, part name) of the entry kept
    for name in ([layout.MANIFEST] if os.path.isfile(main) else []) + parts:
        data = _read_json(os.path.join(incident_dir, name))
        if not isinstance(data, dict) or not isinstance(data.get('hosts', {}), dict):
            raise BundleError('%s: expected an object with a "hosts" object' % name)
        for key, value in data.items():
            if key != 'hosts' and merged.get(key) is None:
                merged[key] = value
        ended = str(data.get('ended_at') or '')
        for host, entry in data.get('hosts', {}).items():
            if host in taken:
                if ended <= taken[host][0]:
                    merged['notes'].append('host %s appears in more than one manifest; %s (older) ignored'
                                           % (host, name))
                    continue
                merged['notes'].append('host %s appears in more than one manifest; %s (older) ignored'
                                       % (host, taken[host][1]))
            taken[host] = (ended, name)
            merged['hosts'][host] = entry if isinstance(entry, dict) else {}
    return merged


@contextlib.contextmanager
def bundle_lock(incident_dir):
    """Serialise report runs on one incident: job slices finishing together each merge every part written before
    their turn, so the report written last holds all slices."""
    with open(os.path.join(incident_dir, '.report.lock'), 'a') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def host_dir_name(host, entry):
    """The host's directory in the bundle: the manifest's `dir`, else the host name; never a path that escapes."""
    name = entry.get('dir') or host
    if not isinstance(name, str) or not _SAFE_DIR.match(name) or name in ('.', '..'):
        return None
    return name


def _safe_rel(rel):
    parts = rel.replace('\\', '/').split('/')
    return rel and not rel.startswith('/') and '..' not in parts


class HostInput:
    """What the bundle holds for one host, after checksum checks."""

    def __init__(self, name, entry, incident_dir):
        self.name = name
        status = entry.get('status', 'ok')
        self.status = status if status in STATUSES else 'failed'
        self.reason = entry.get('reason')
        # matching packets the TRACE rules' rate limit let pass untraced (None: not counted, as before this field)
        untraced = entry.get('untraced_packets')
        self.untraced = untraced if isinstance(untraced, int) and not isinstance(untraced, bool) else None
        self.errors = []
        if status not in STATUSES:
            self.errors.append('unknown status %r in the manifest' % (status,))
        self.trace_files = []
        self.rulesets = {}
        self.rulesets_before = {}
        self.rulesets_after = {}
        self.conntrack = []
        self.drops = None  # kernel_drops.HostDrops of its drop-reasons.json
        self.dir = None
        dir_name = host_dir_name(name, entry)
        if dir_name is None:
            self.errors.append('unsafe or missing directory name for host %r; its files are ignored' % name)
            return
        path = os.path.join(incident_dir, dir_name)
        if not os.path.isdir(path):
            if self.status in ('ok', 'partial'):
                self.errors.append('directory %s is missing' % dir_name)
            return
        self.dir = path
        self._bad = self._check_files(entry.get('files') or [])
        self._collect()
        self._collect_drops()

    def _check_files(self, files):
        bad = set()
        for item in files:
            if not isinstance(item, dict):
                continue
            rel = item.get('path')
            if not isinstance(rel, str) or not _safe_rel(rel):
                self.errors.append('unsafe file path %r in the manifest' % (rel,))
                continue
            full = os.path.join(self.dir, rel)
            if not os.path.isfile(full):
                self.errors.append('file %s listed in the manifest is missing' % rel)
                continue
            expected = item.get('sha256')
            if expected and sha256_file(full) != expected.lower():
                self.errors.append('checksum mismatch for %s; the file is ignored' % rel)
                bad.add(os.path.normpath(full))
        return bad

    def _ok(self, path):
        return os.path.normpath(path) not in self._bad

    def _collect(self):
        trace_dir = os.path.join(self.dir, layout.TRACE_DIR)
        if os.path.isdir(trace_dir):
            for name in sorted(os.listdir(trace_dir)):
                full = os.path.join(trace_dir, name)
                if os.path.isfile(full) and self._ok(full):
                    self.trace_files.append(full)
        ruleset_dir = os.path.join(self.dir, layout.RULESET_DIR)
        for sub, target in (('', self.rulesets), ('before', self.rulesets_before), ('after', self.rulesets_after)):
            base = os.path.join(ruleset_dir, sub)
            for name in RULESET_FILES:
                full = os.path.join(base, name)
                if os.path.isfile(full) and self._ok(full):
                    target[name] = read_text(full)
        for name, parser in ((layout.CONNTRACK_JSON, parse_conntrack_json), (layout.CONNTRACK_TEXT, parse_conntrack_text)):
            full = os.path.join(self.dir, name)
            if os.path.isfile(full) and self._ok(full):
                try:
                    self.conntrack = parser(read_text(full))
                except ValueError as exc:
                    self.errors.append('cannot parse %s: %s' % (name, exc))
                break

    def _collect_drops(self):
        full = os.path.join(self.dir, layout.DROP_REASONS_JSON)
        if os.path.isfile(full) and self._ok(full):
            try:
                self.drops = kernel_drops.load(read_text(full))
            except ValueError as exc:
                self.errors.append('cannot parse %s: %s' % (layout.DROP_REASONS_JSON, exc))

    def snapshot_files(self):
        """The snapshot used for resolution: taken during the capture, else after, else before."""
        for candidate, label in ((self.rulesets, None), (self.rulesets_after, 'after'),
                                 (self.rulesets_before, 'before')):
            if candidate:
                if label:
                    self.errors.append('no ruleset snapshot from the capture itself; resolved against the %s '
                                       'snapshot (rule numbers in chains that held netdebug rules may be off)'
                                       % label)
                return candidate
        return {}


def read_text(path):
    with open_lines(path) as fh:
        return fh.read()


def open_lines(path):
    """A text stream of a trace or snapshot file; .gz files are decompressed on the fly."""
    raw = gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')
    return io.TextIOWrapper(raw, encoding='utf-8', errors='replace', newline='')
