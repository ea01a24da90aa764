# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.json and manifest.json as the versioned JSON Schemas in docs/schemas/ describe them: every recorded report,
and manifests of every host state the collect role writes."""

from __future__ import annotations

import json

import jsonschema
import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.build import FORMAT as REPORT_FORMAT
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import manifest

from conftest import FIXTURES

SCHEMAS = FIXTURES.parents[3] / 'docs' / 'schemas'
GOLDEN = FIXTURES.parent / 'report-golden'
PACK = {'files': [{'path': 'trace.json', 'sha256': '0' * 64, 'size': 2}], 'sha256': '1' * 64, 'problems': []}


def schema(name):
    loaded = json.loads((SCHEMAS / ('%s.schema.json' % name)).read_text(encoding='utf-8'))
    jsonschema.Draft202012Validator.check_schema(loaded)
    return jsonschema.Draft202012Validator(loaded)


def errors(validator, document):
    return ['%s: %s' % ('/'.join(str(p) for p in e.absolute_path), e.message) for e in validator.iter_errors(document)]


@pytest.mark.parametrize('name', sorted(p.name for p in GOLDEN.iterdir()))
def test_every_recorded_report_follows_the_schema(name):
    report = json.loads((GOLDEN / name / 'report.json').read_text(encoding='utf-8'))
    assert report['format'] == REPORT_FORMAT
    assert errors(schema('report'), report) == []


def test_the_report_schema_refuses_what_a_reader_could_not_use():
    report = json.loads((GOLDEN / 'nft' / 'report.json').read_text(encoding='utf-8'))
    del report['paths']
    report['packets'][0]['verdict'] = 'maybe'
    report['format'] = 2
    found = errors(schema('report'), report)
    assert any("'paths' is a required property" in e for e in found), found
    assert any(e.startswith('packets/0/verdict:') for e in found), found
    assert any(e.startswith('format:') for e in found), found


def _manifest(hosts):
    return manifest.manifest(hosts, 'INC-1', match={'protocol': 'icmp'}, duration=30, ended_at='2026-12-07T12:00:00Z')


@pytest.mark.parametrize('facts', [
    {'collect': manifest.host_entry({'start': {'started_at': 1796630930}}, PACK, 'node1')},  # ok
    {'collect': manifest.unfinished('node1')},  # the collect step did not finish
    {'collect': None, 'trace': {'error': {'unreachable': True, 'task': 'Start', 'msg': 'ssh: timeout'}},
     'phase': 'tracing'},  # dropped out
    {'collect': manifest.publish_failed({'hosts': {'node1': {'ok': False, 'step': 'sha256', 'msg': 'differs'}}},
                                        'node1', 'node1')},
])
def test_manifests_of_every_host_state_follow_the_schema(facts):
    document = _manifest({'node1': dict({'trace': None, 'phase': None}, **facts)})
    assert errors(schema('manifest'), document) == []


def test_a_recorded_manifest_follows_the_schema():
    recorded = json.loads((FIXTURES / 'kernel-drops' / 'kdrops-1' / 'manifest.json').read_text(encoding='utf-8'))
    assert errors(schema('manifest'), recorded) == []


def test_the_collect_roles_manifest_has_every_key_and_a_minimal_one_is_enough():
    full = _manifest({'node1': {'collect': manifest.unfinished('node1'), 'trace': None, 'phase': None}})
    assert set(full) == {'incident_id', 'format', 'started_at', 'ended_at', 'kind', 'match', 'duration', 'backend',
                         'ran_by', 'summary', 'hosts'}
    # another producer (docs/bundle.md): hosts and each one's status
    assert errors(schema('manifest'), {'hosts': {'node3': {'status': 'unreachable', 'reason': 'ssh: timeout'}}}) == []
    assert errors(schema('manifest'), {'hosts': {'node3': {'status': 'gone'}}}) != []
