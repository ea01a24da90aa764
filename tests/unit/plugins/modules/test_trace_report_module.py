# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trace_report module run as Ansible runs it (a process reading its arguments), on a recorded bundle."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / 'fixtures' / 'trace'
MODULE = 'ansible_collections.netdebug.netfilter.plugins.modules.trace_report'


def _bundle(root):
    incident = root / 'INC-7'
    incident.mkdir(parents=True)
    hosts = {}
    for host in ('node1', 'node2'):
        shutil.copytree(FIXTURES / 'nft' / host, incident / host)
        files = [{'path': str(p.relative_to(incident / host)), 'sha256': hashlib.sha256(p.read_bytes()).hexdigest()}
                 for p in sorted((incident / host).rglob('*')) if p.is_file()]
        hosts[host] = {'status': 'ok', 'files': files}
    (incident / 'manifest.json').write_text(json.dumps({'incident_id': 'INC-7', 'hosts': hosts}))
    return incident


def run_module(tmp_path, args, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    path = tmp_path / 'args.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    proc = subprocess.run([sys.executable, '-m', MODULE, str(path)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), check=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_four_steps(tmp_path):
    incident = _bundle(tmp_path / 'bundles')
    args = {'bundle_dir': str(incident.parent), 'incident_id': 'INC-7'}
    check = run_module(tmp_path, args, check=True)
    assert check['changed'] and not (incident / 'report.json').exists()
    apply = run_module(tmp_path, args)
    assert apply['changed'] and sorted(apply['written']) == ['html', 'json', 'md']
    assert apply['packet_verdicts'] == {'accept': 15, 'drop': 5, 'reject': 2}
    assert any(v.startswith('node2 drops ') and 'filter/app-deep rule 1: -A app-deep' in v for v in apply['verdicts'])
    assert not run_module(tmp_path, args, check=True)['changed']
    assert not run_module(tmp_path, args)['changed']


@pytest.mark.parametrize('args, message', [
    ({'incident_id': 'INC-7'}, 'missing required arguments: bundle_dir'),
    ({'bundle_dir': '{tmp}', 'incident_id': 'nope'}, 'does not exist: bundle_dir must hold a directory named after'),
    ({'bundle_dir': '{tmp}', 'incident_id': 'INC-7', 'window': -1}, 'window must be a positive number'),
    ({'bundle_dir': '{tmp}', 'incident_id': 'INC-7', 'formats': ['pdf']}, 'value of formats must be one or more of'),
    ({'bundle_dir': '{tmp}', 'incident_id': 'INC-7', 'k8s_objects': '{tmp}/none.json'}, 'k8s_objects: cannot read '),
    ({'bundle_dir': '{tmp}', 'incident_id': 'INC-7', 'k8s_objects': '{tmp}/INC-7/manifest.json'},
     'k8s_objects: {tmp}/INC-7/manifest.json has no "items" list'),
])
def test_bad_parameters(tmp_path, args, message):
    incident = _bundle(tmp_path / 'bundles')
    args = {k: (v.format(tmp=incident.parent) if isinstance(v, str) else v) for k, v in args.items()}
    result = run_module(tmp_path, args)
    assert result['failed'] and message.format(tmp=incident.parent) in result['msg']
    assert not (incident / 'report.json').exists()
