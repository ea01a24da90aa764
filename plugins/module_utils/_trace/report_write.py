# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing the reports: each file appears complete or not at all, and is left alone when unchanged."""

from __future__ import annotations

import json
import os
import tempfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._trace.report_build import build_report
from ansible_collections.netdebug.netfilter.plugins.module_utils._trace.report_bundle import BundleError
from ansible_collections.netdebug.netfilter.plugins.module_utils._trace.report_html import render_html
from ansible_collections.netdebug.netfilter.plugins.module_utils._trace.report_md import render_md

FORMATS = ('json', 'md', 'html')
HOST_KEYS = ('status', 'reason', 'events', 'packets', 'unparsed', 'verdicts', 'errors')
RENDERERS = {
    'json': lambda report: json.dumps(report, indent=1, sort_keys=False, ensure_ascii=False) + '\n',
    'md': render_md,
    'html': render_html,
}


def atomic_write(path, data):
    """Write bytes to path through a temp file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _same(path, data):
    try:
        if os.path.getsize(path) != len(data):
            return False
        with open(path, 'rb') as fh:
            return fh.read() == data
    except OSError:
        return False


def incident_path(bundle_dir, incident_id):
    if not incident_id or incident_id in ('.', '..') or '/' in incident_id or '\\' in incident_id:
        raise BundleError('incident_id %r is not a single directory name under bundle_dir' % (incident_id,))
    path = os.path.join(bundle_dir, incident_id)
    if not os.path.isdir(path):
        raise BundleError('%s does not exist: bundle_dir must hold a directory named after incident_id' % path)
    return path


def run_report(bundle_dir, incident_id, output_dir=None, formats=FORMATS, window=2.0, correlation_window=10.0,
               check_mode=False):
    """Build the report and write the requested formats; returns the module result fields."""
    incident_dir = incident_path(bundle_dir, incident_id)
    output_dir = output_dir or incident_dir
    if not os.path.isdir(output_dir):
        raise BundleError('output_dir %s does not exist' % output_dir)
    report = build_report(incident_dir, incident_id, window=window, correlation_window=correlation_window)
    files = {}
    changed = []
    for fmt in formats:
        data = RENDERERS[fmt](report).encode('utf-8')
        path = os.path.join(output_dir, 'report.%s' % fmt)
        files[fmt] = path
        if _same(path, data):
            continue
        changed.append(fmt)
        if not check_mode:
            atomic_write(path, data)
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
