# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""conntrack_query's main(): the missing-pyroute2 message and errors turned into fail_json."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import deps
from ansible_collections.netdebug.netfilter.plugins.modules import conntrack_query


def _main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            conntrack_query.main()
    return json.loads(capsys.readouterr().out)


def test_missing_pyroute2_names_the_packages(monkeypatch, capsys):
    monkeypatch.setattr(deps, 'HAS_PYROUTE2', False)
    monkeypatch.setattr(deps, 'PYROUTE2_IMPORT_ERROR', 'ModuleNotFoundError: No module named pyroute2')
    result = _main({}, capsys)
    assert result['failed'] is True
    assert 'Failed to import the required Python library (pyroute2)' in result['msg']
    assert 'python3-pyroute2' in result['msg'] and 'pip pyroute2' in result['msg']


def test_bad_input_fails_naming_the_parameter(capsys):
    result = _main({'operation': 'list', 'source': '198.18.210.999'}, capsys)
    assert result['failed'] is True and result['param'] == 'source'
    assert result['msg'].startswith('source: ')


def test_missing_namespace_fails_before_anything_else(capsys):
    result = _main({'operation': 'count', 'netns': 'ndct-does-not-exist'}, capsys)
    assert result['failed'] is True and result['param'] == 'netns'
    assert "no network namespace named 'ndct-does-not-exist'" in result['msg']
