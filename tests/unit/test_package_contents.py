# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `ansible-galaxy collection build` puts into the tarball (galaxy.yml build_ignore): what a user needs
(plugins, roles, playbooks, docs, meta, the changelog, README.md, LICENSE) and none of the tests or development
tools. Built here from the collection root this file lives in (the checkout, or tools/collection-tree's copy)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest


def _collection_root():
    for parent in pathlib.Path(__file__).resolve().parents:
        if (parent / 'galaxy.yml').is_file():
            return parent
    raise AssertionError('no galaxy.yml above %s' % __file__)


ROOT = _collection_root()
# Top-level entries a tarball may hold; CHANGELOG.md is made by tools/changelog from the fragments.
TOP_LEVEL = {'LICENSE', 'README.md', 'MANIFEST.json', 'FILES.json', 'CHANGELOG.md', 'requirements.txt', 'bindep.txt',
             'plugins', 'roles', 'playbooks', 'docs', 'meta', 'changelogs'}
REQUIRED = ('LICENSE', 'README.md', 'CHANGELOG.md', 'MANIFEST.json', 'FILES.json', 'requirements.txt', 'bindep.txt',
            'plugins/modules/iptables_trace.py', 'roles/trace/tasks/main.yml', 'playbooks/capture.yml',
            'docs/capture.md', 'meta/runtime.yml', 'meta/execution-environment.yml', 'changelogs/changelog.yaml',
            'changelogs/config.yaml')
DEV_ONLY = ('tests', 'tools', 'benchmarks', '.ci', 'demo', 'extensions', '.venv', '.build', 'changelogs/fragments',
            'constraints.txt', 'requirements-dev.txt', '.ansible-lint', '.gitignore')
USER_DIRS = ('plugins', 'roles', 'playbooks', 'docs', 'meta')


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    ansible_galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    done = subprocess.run([ansible_galaxy, 'collection', 'build', '--output-path', str(out), str(ROOT)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    built = list(out.glob('netdebug-netfilter-*.tar.gz'))
    assert len(built) == 1, built
    with tarfile.open(str(built[0])) as tar:
        names = [name[2:] if name.startswith('./') else name for name in tar.getnames()]
        manifest = json.load(tar.extractfile('MANIFEST.json'))
    return {'names': [name.rstrip('/') for name in names], 'manifest': manifest}


def _source_files(directory):
    for dirpath, dirnames, filenames in os.walk(str(ROOT / directory)):
        dirnames[:] = [name for name in dirnames if name != '__pycache__']
        for name in filenames:
            if not name.endswith('.pyc'):
                yield os.path.relpath(os.path.join(dirpath, name), str(ROOT))


def test_what_a_user_needs_is_in(tarball):
    names = set(tarball['names'])
    assert [name for name in REQUIRED if name not in names] == []
    for directory in USER_DIRS:
        assert [path for path in _source_files(directory) if path not in names] == [], directory


def test_no_development_files(tarball):
    leaked = [name for name in tarball['names']
              if any(name == dev or name.startswith(dev + '/') for dev in DEV_ONLY)
              or name.endswith('.pyc') or '__pycache__' in name.split('/')]
    assert leaked == []
    unexpected = sorted({name.split('/')[0] for name in tarball['names']} - TOP_LEVEL)
    assert unexpected == [], 'new top-level entries: add them to galaxy.yml build_ignore, or here if users need them'


def test_license(tarball):
    info = tarball['manifest']['collection_info']
    assert info['license'] == ['GPL-3.0-or-later'] and not info['license_file']
    assert 'GNU GENERAL PUBLIC LICENSE' in (ROOT / 'LICENSE').read_text().splitlines()[0]
    assert 'Version 3, 29 June 2007' in (ROOT / 'LICENSE').read_text()
