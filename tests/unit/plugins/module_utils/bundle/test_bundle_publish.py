# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of the collect step (bundle_publish): verify, unpack and publish every host's archive."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.publish import publish_all

MODULE = 'ansible_collections.netdebug.netfilter.plugins.modules.bundle_publish'


def make_archive(path, files, extra=None):
    with tarfile.open(str(path), 'w:gz') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(spec, check_mode=False):
    return publish_all(spec['hosts'], spec['incoming'], spec['incident_dir'], check_mode)


def test_publishes_good_hosts_and_reports_each_bad_one(tmp_path):
    incoming, incident = tmp_path / 'INC' / '.incoming', tmp_path / 'INC'
    incoming.mkdir(parents=True)
    good = make_archive(incoming / 'node1.tar.gz', {'trace/nft.trace': b'trace\n', 'facts.json': b'{}\n'})
    make_archive(incoming / 'node2.tar.gz', {'facts.json': b'{}\n'})
    link = tarfile.TarInfo('trace/evil')
    link.type, link.linkname = tarfile.SYMTYPE, '/etc/passwd'
    evil = make_archive(incoming / 'node3.tar.gz', {}, extra=[link])
    escape = make_archive(incoming / 'node4.tar.gz', {'../outside': b'x'})
    (incident / 'node1').mkdir()
    (incident / 'node1' / 'stale').write_text('from the last run')

    result = run({'incoming': str(incoming), 'incident_dir': str(incident), 'hosts': {
        'node1': {'dir': 'node1', 'sha256': good},
        'node2': {'dir': 'node2', 'sha256': '0' * 64},
        'node3': {'dir': 'node3', 'sha256': evil},
        'node4': {'dir': 'node4', 'sha256': escape},
        'node5': {'dir': 'node5', 'sha256': good},
    }})

    assert result['node1'] == {'ok': True}
    assert (incident / 'node1' / 'trace' / 'nft.trace').read_bytes() == b'trace\n'
    assert not (incident / 'node1' / 'stale').exists()  # replaced as a whole
    assert not (incoming / 'node1.tar.gz').exists()
    assert result['node2']['ok'] is False and 'arrived damaged' in result['node2']['msg']
    assert result['node3']['ok'] is False and 'unsafe member' in result['node3']['msg']
    assert result['node4']['ok'] is False and 'unsafe member' in result['node4']['msg']
    assert result['node5']['ok'] is False and result['node5']['step'] == 'Checksum the archive on the controller'
    for name in ('node2', 'node3', 'node4', 'node5'):
        assert not (incident / name).exists()
    assert not (tmp_path / 'outside').exists() and not (incident / 'outside').exists()


def test_inline_archives_are_written_then_checked_like_fetched_ones(tmp_path):
    incoming, incident = tmp_path / 'INC' / '.incoming', tmp_path / 'INC'
    incident.mkdir()
    source = tmp_path / 'made.tar.gz'
    digest = make_archive(source, {'facts.json': b'{"kernel": "6.1"}\n'})
    content = base64.b64encode(source.read_bytes()).decode('ascii')

    result = run({'incoming': str(incoming), 'incident_dir': str(incident), 'hosts': {
        'node1': {'dir': 'node1', 'sha256': digest, 'content': content},
        'node2': {'dir': 'node2', 'sha256': '0' * 64, 'content': content},
        'node3': {'dir': 'node3', 'sha256': digest, 'content': 'not base64!'},
    }})

    assert result['node1'] == {'ok': True}
    assert (incident / 'node1' / 'facts.json').read_bytes() == b'{"kernel": "6.1"}\n'
    assert result['node2']['ok'] is False and 'arrived damaged' in result['node2']['msg']
    assert result['node3'] == {'ok': False, 'step': 'Write the inline archive on the controller',
                               'msg': result['node3']['msg']}
    assert not (incident / 'node3').exists()


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob('*'))


def test_check_mode_checks_every_archive_and_writes_nothing(tmp_path):
    incoming, incident = tmp_path / 'INC' / '.incoming', tmp_path / 'INC'
    incoming.mkdir(parents=True)
    good = make_archive(incoming / 'node1.tar.gz', {'facts.json': b'{}\n'})
    source = tmp_path / 'made.tar.gz'
    inline = make_archive(source, {'facts.json': b'{}\n'})
    content = base64.b64encode(source.read_bytes()).decode('ascii')
    escape = make_archive(incoming / 'node3.tar.gz', {'../outside': b'x'})
    before = _tree(tmp_path)

    result = run({'incoming': str(incoming), 'incident_dir': str(incident), 'hosts': {
        'node1': {'dir': 'node1', 'sha256': good},
        'node2': {'dir': 'node2', 'sha256': inline, 'content': content},
        'node3': {'dir': 'node3', 'sha256': escape},
        'node4': {'dir': 'node4', 'sha256': '0' * 64, 'content': content},
    }}, check_mode=True)

    assert result['node1'] == result['node2'] == {'ok': True}
    assert result['node3']['ok'] is False and 'unsafe member' in result['node3']['msg']
    assert result['node4']['ok'] is False and 'arrived damaged' in result['node4']['msg']
    assert _tree(tmp_path) == before


def _module(tmp_path, args, check=False):
    path = tmp_path / 'args.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check)}))
    proc = subprocess.run([sys.executable, '-m', MODULE, str(path)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), check=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('check', [True, False])
def test_the_module_as_ansible_runs_it(tmp_path, check):
    """Check mode says ok and changes nothing; a real run publishes and reports changed."""
    incoming, incident = tmp_path / 'INC' / '.incoming', tmp_path / 'INC'
    incoming.mkdir(parents=True)
    good = make_archive(incoming / 'node1.tar.gz', {'facts.json': b'{}\n'})
    result = _module(tmp_path, {'incoming': str(incoming), 'incident_dir': str(incident),
                                'hosts': {'node1': {'dir': 'node1', 'sha256': good, 'content': None}}}, check)
    assert result['hosts'] == {'node1': {'ok': True}} and result['changed'] is True
    assert (incident / 'node1' / 'facts.json').exists() is not check
