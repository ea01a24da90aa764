# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifest parts of job slices: which entry wins for a host in several parts, and the report lock."""

from __future__ import annotations

import fcntl
import json
import threading
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.reader import bundle_lock, load_manifest


def _write(incident, name, ended_at, hosts):
    (incident / name).write_text(json.dumps({'incident_id': 'inc1', 'ended_at': ended_at, 'hosts': hosts}))


def test_a_host_in_several_parts_comes_from_the_part_that_ended_last(tmp_path):
    _write(tmp_path, 'manifest.json', '2026-11-24T20:00:00Z',
           {'node1': {'status': 'ok', 'dir': 'old'}, 'node2': {'status': 'ok'}})
    _write(tmp_path, 'manifest.awx-7.json', '2026-11-24T21:00:00Z', {'node1': {'status': 'partial', 'dir': 'new'}})
    _write(tmp_path, 'manifest.awx-3.json', '2026-11-24T19:00:00Z',
           {'node1': {'status': 'failed'}, 'node3': {'status': 'ok'}})
    merged = load_manifest(str(tmp_path))
    assert merged['hosts']['node1'] == {'status': 'partial', 'dir': 'new'}
    assert set(merged['hosts']) == {'node1', 'node2', 'node3'}
    assert sorted(merged['notes']) == [
        'host node1 appears in more than one manifest; manifest.awx-3.json (older) ignored',
        'host node1 appears in more than one manifest; manifest.json (older) ignored']


def test_parts_without_a_main_manifest(tmp_path):
    _write(tmp_path, 'manifest.limit-a.json', '2026-11-24T20:00:00Z', {'node1': {'status': 'ok'}})
    _write(tmp_path, 'manifest.limit-b.json', '2026-11-24T20:00:01Z', {'node2': {'status': 'ok'}})
    merged = load_manifest(str(tmp_path))
    assert list(merged['hosts']) == ['node1', 'node2'] and merged['notes'] == []


def test_bundle_lock_serialises_reports(tmp_path):
    order = []

    def second():
        with bundle_lock(str(tmp_path)):
            order.append('second')

    with bundle_lock(str(tmp_path)):
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.2)
        order.append('first')  # the other report waits while this one holds the lock
    worker.join(5)
    assert order == ['first', 'second']
    with open(tmp_path / '.report.lock') as handle:  # released: a non-blocking lock is granted
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
