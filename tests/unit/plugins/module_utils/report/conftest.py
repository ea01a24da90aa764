# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the _report unit tests: the recorded fixtures (see tests/unit/fixtures/trace/README.md)."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil

import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'trace'


def fixture_lines(rel):
    """Lines of a fixture file, without line ends."""
    return (FIXTURES / rel).read_text(encoding='utf-8').splitlines()


def make_bundle(root, kind, incident='inc1', hosts=('node1', 'node2'), manifest_extra=None, checksums=True):
    """A capture bundle under root from the recorded node directories of one backend; returns the incident dir."""
    incident_dir = pathlib.Path(root) / incident
    incident_dir.mkdir(parents=True)
    entries = {}
    for host in hosts:
        shutil.copytree(FIXTURES / kind / host, incident_dir / host)
        files = []
        for path in sorted((incident_dir / host).rglob('*')):
            if path.is_file():
                item = {'path': str(path.relative_to(incident_dir / host))}
                if checksums:
                    item['sha256'] = hashlib.sha256(path.read_bytes()).hexdigest()
                files.append(item)
        entries[host] = {'status': 'ok', 'reason': None, 'files': files}
    manifest = {'incident_id': incident, 'hosts': entries}
    manifest.update(manifest_extra or {})
    (incident_dir / 'manifest.json').write_text(json.dumps(manifest, indent=1), encoding='utf-8')
    return incident_dir


@pytest.fixture
def lines():
    """lines(rel) -> the lines of fixtures/trace/<rel>."""
    return fixture_lines


@pytest.fixture
def line_with():
    """line_with(rel, text) -> the first line of fixtures/trace/<rel> that holds text (fails when none does)."""
    def pick(rel, text):
        found = [line for line in fixture_lines(rel) if text in line]
        assert found, 'no line of %s holds %r' % (rel, text)
        return found[0]
    return pick


@pytest.fixture
def fixtures_dir():
    return FIXTURES


@pytest.fixture
def bundle(tmp_path):
    """bundle(kind, **kw) -> incident dir of a bundle made from fixtures/trace/<kind>/node1 and node2."""
    def make(kind, **kwargs):
        return make_bundle(tmp_path / 'bundles', kind, **kwargs)
    return make
