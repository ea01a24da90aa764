# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""capture_pack's main(): argument errors named before anything runs, and a real run in check mode."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import copied
from ansible_collections.netdebug.netfilter.plugins.modules import capture_pack


def _main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            capture_pack.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('args, message', [
    ({'texts': {'../etc/x': 'a'}}, "texts: '../etc/x' is not a relative path inside the archive"),
    ({'copies': [{'src': '/etc/hostname', 'dest': '/abs'}]}, "copies: '/abs' is not a relative path"),
    ({'kernlog': {'source': 'dmesg'}}, 'kernlog: since is required with source=dmesg'),
    ({'conntrack': {'source': '198.18.0.999'}}, 'conntrack: source: '),
    ({'inline_max': -5}, 'inline_max: -5 is negative'),
])
def test_bad_input_fails_naming_the_option(capsys, args, message):
    result = _main(args, capsys)
    assert result['failed'] is True and result['msg'].startswith(message)


@pytest.mark.parametrize('args, message', [
    ({'kernlog': {'source': 'syslog', 'since': 1, 'until': 2}}, 'value of source must be one of'),
    ({'copies': [{'src': '/etc/hostname'}]}, 'missing required arguments: dest found in copies'),
    ({'bogus': 1}, 'Unsupported parameters'),
])
def test_ansible_checks_the_spec(capsys, args, message):
    result = _main(args, capsys)
    assert result['failed'] is True and message in result['msg']


def test_check_mode_packs_inline_and_reports_unchanged(capsys, tmp_path):
    (tmp_path / 'capture').write_text('line\n')
    result = _main({'texts': {'notes/a.txt': 'hello\n', 'state.json': {'b': [1]}}, 'loggers': False,
                    'copies': [{'src': str(tmp_path / 'capture'), 'dest': 'trace/capture'}],
                    'facts': {'inventory_hostname': 'unit'}, '_ansible_check_mode': True}, capsys)
    assert result['changed'] is False and result['archive'] is None and result['problems'] == []
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(result['content']))) as tar:
        names = sorted(tar.getnames())
        facts = json.loads(tar.extractfile('facts.json').read())
    assert names == [item['path'] for item in result['files']] == ['facts.json', 'notes/a.txt', 'state.json',
                                                                   'trace/capture']
    assert facts['inventory_hostname'] == 'unit'


def test_missing_copy_is_a_module_warning(capsys, tmp_path, monkeypatch):
    warned = []
    monkeypatch.setattr(capture_pack.AnsibleModule, 'warn', lambda self, warning: warned.append(warning))
    result = _main({'loggers': False, 'copies': [{'src': str(tmp_path / 'nope'), 'dest': 'x'}]}, capsys)
    assert result['pack_warnings'] == ['copies: %s is missing on the node' % (tmp_path / 'nope')]
    assert warned == result['pack_warnings']


@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_copied_removes_run_files_only_and_not_in_check_mode(capsys, tmp_path, monkeypatch, check_mode):
    runs = tmp_path / 'runs'
    (runs / 'r1').mkdir(parents=True)
    (runs / 'r1' / 'nft.trace').write_text('trace\n')
    (tmp_path / 'mine').write_text('mine\n')
    monkeypatch.setattr(copied, 'RUNS_DIR', str(runs))
    warned = []
    monkeypatch.setattr(capture_pack.AnsibleModule, 'warn', lambda self, warning: warned.append(warning))
    result = _main({'loggers': False, 'remove_copied': True, '_ansible_check_mode': check_mode,
                    'copies': [{'src': str(runs / 'r1' / 'nft.trace'), 'dest': 'trace/nft.trace'},
                               {'src': str(tmp_path / 'mine'), 'dest': 'mine'}]}, capsys)
    assert result['changed'] is True and result['removed'] == [str(runs / 'r1' / 'nft.trace')]
    assert [item['path'] for item in result['files']] == ['facts.json', 'mine', 'trace/nft.trace']
    assert warned == result['pack_warnings'] == ['remove_copied: %s is not under %s; left in place'
                                                 % (tmp_path / 'mine', runs)]
    assert (runs / 'r1' / 'nft.trace').exists() is check_mode and (tmp_path / 'mine').exists()
