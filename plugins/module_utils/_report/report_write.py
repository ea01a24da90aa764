# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing the reports: each file appears complete or not at all, and is left alone when unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import build_report
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.k8s_objects import load as load_objects
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.digest import sha256_file
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.reader import BundleError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.gcpause import gc_paused
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_html import render_html
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_md import render_md

FORMATS = ('json', 'md', 'html')
HOST_KEYS = ('status', 'reason', 'events', 'packets', 'unparsed', 'verdicts', 'errors')
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(',', ':')).encode


def json_chunks(report):
    """report.json in pieces, one packet per line: never the whole document in memory at once.

    A packet refers to its path by path_id (paths holds each distinct path once, with every step); its own copy of
    the steps stays out of the file. Packets decided by the same rule share its dict (_analysis/build), so that is
    encoded once.
    """
    yield '{'
    for key, value in report.items():
        if key != 'packets':
            yield '%s:%s,\n' % (_ENCODE(key), _ENCODE(value))
    yield '"packets":['
    shared = {}
    for index, record in enumerate(report['packets']):
        rule = record['verdict_rule']
        encoded = shared.get(id(rule))
        if encoded is None:
            encoded = shared[id(rule)] = ',"verdict_rule":%s}' % _ENCODE(rule)
        head = _ENCODE({key: value for key, value in record.items() if key not in _LEFT_OUT})
        yield (',\n' if index else '\n') + head[:-1] + encoded
    yield '\n]}\n'


_LEFT_OUT = ('path', 'verdict_rule')  # the path: by path_id; the rule: encoded once per rule


RENDERERS = {
    'json': json_chunks,
    'md': lambda report: [render_md(report)],
    'html': lambda report: [render_html(report)],
}


def sync_file(path, chunks, check_mode=False):
    """Write the chunks to path through a temp file and a rename, unless path already holds exactly that.
    Returns whether the file changed (or, in check mode, would change)."""
    digest = hashlib.sha256()
    fh = tmp = None
    if not check_mode:
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp',
                                   dir=os.path.dirname(os.path.abspath(path)))
        fh = os.fdopen(fd, 'wb')
    try:
        for chunk in chunks:
            data = chunk.encode('utf-8')
            digest.update(data)
            if fh is not None:
                fh.write(data)
        same = os.path.isfile(path) and sha256_file(path) == digest.hexdigest()
        if fh is None:
            return not same
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        fh = None
        if same:
            os.unlink(tmp)
            return False
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return True
    except BaseException:
        if fh is not None:
            fh.close()
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise


def incident_path(bundle_dir, incident_id):
    if not incident_id or incident_id in ('.', '..') or '/' in incident_id or '\\' in incident_id:
        raise BundleError('incident_id %r is not a single directory name under bundle_dir' % (incident_id,))
    path = os.path.join(bundle_dir, incident_id)
    if not os.path.isdir(path):
        raise BundleError('%s does not exist: bundle_dir must hold a directory named after incident_id' % path)
    return path


def run_report(bundle_dir, incident_id, output_dir=None, formats=FORMATS, window=2.0, correlation_window=10.0,
               check_mode=False, k8s_objects=None):
    """Build the report and write the requested formats; returns the module result fields. k8s_objects: a file of
    `kubectl get ... -o json` output that names pods, services and hashed policy chains, or None."""
    incident_dir = incident_path(bundle_dir, incident_id)
    output_dir = output_dir or incident_dir
    if not os.path.isdir(output_dir):
        raise BundleError('output_dir %s does not exist' % output_dir)
    objects = load_objects(k8s_objects) if k8s_objects else None
    report = build_report(incident_dir, incident_id, window=window, correlation_window=correlation_window,
                          objects=objects)
    files = {}
    changed = []
    with gc_paused():
        for fmt in formats:
            path = os.path.join(output_dir, 'report.%s' % fmt)
            files[fmt] = path
            if sync_file(path, RENDERERS[fmt](report), check_mode):
                changed.append(fmt)
    counts = {}
    for record in report['packets']:
        counts[record['verdict']] = counts.get(record['verdict'], 0) + 1
    return {
        'changed': bool(changed),
        'incident_id': report['incident_id'],
        'reports': files,
        'written': changed,
        'verdicts': report['verdicts'],
        'drops': report['drops'][:50],
        'packets': len(report['packets']),
        'packet_verdicts': counts,
        'journeys': len(report['journeys']),
        'hosts': {name: {key: host[key] for key in HOST_KEYS} for name, host in report['hosts'].items()},
    }
