# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""capture_pack's whole run on the node: input checks, staging order, inline or kept archive."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import tarfile

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import kernlog, node
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError

from collect_fakes import COLLECT, FakeLoggerManager, tool_runner, recorded

DMESG = (COLLECT / 'dmesg.txt').read_text()


def _params(**given):
    params = {'texts': {}, 'copies': [], 'kernlog': None, 'conntrack': None, 'loggers': False, 'facts': {},
              'inline_max': 4194304}
    params.update(given)
    return params


def _run(tmp_path, params, runner=None, manager=None, conntrack_run=None):
    work = tmp_path / 'tmp'
    work.mkdir(exist_ok=True)
    return node.run(params, runner or tool_runner({}), lambda: manager or FakeLoggerManager(),
                    conntrack_run=conntrack_run, tmpdir=str(work))


def _members(content):
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(content))) as tar:
        return dict((m.name, tar.extractfile(m).read()) for m in tar.getmembers())


@pytest.mark.parametrize('params, param, message', [
    (_params(texts={'../x': 'a'}), 'texts', "texts: '../x' is not a relative path"),
    (_params(texts={'/etc/x': 'a'}), 'texts', "texts: '/etc/x' is not"),
    (_params(texts={'a//b': 'a'}), 'texts', "texts: 'a//b' is not"),
    (_params(copies=[{'src': '/etc/hostname', 'dest': '../h'}]), 'copies', "copies: '../h' is not"),
    (_params(copies=[{'src': 'relative', 'dest': 'h'}]), 'copies', 'copies: item 0: src must be an absolute path'),
    (_params(copies=[{'src': '/x'}]), 'copies', 'copies: item 0 must be a dict with exactly the keys src and dest'),
    (_params(kernlog={'source': 'dmesg', 'since': 5, 'until': None}), 'kernlog', 'kernlog: until is required'),
    (_params(kernlog={'source': 'journal', 'since': 9, 'until': 5}), 'kernlog', 'kernlog: since (9) is after'),
    (_params(kernlog={'source': 'rsyslog', 'since': 1, 'until': 5, 'file': None}), 'kernlog',
     'kernlog: file is required with source=rsyslog'),
    (_params(kernlog={'source': 'dmesg', 'since': 1, 'until': 5}, texts={'trace/kernel.log': 'x'}), 'texts',
     'texts: trace/kernel.log is written from the kernlog option'),
    (_params(conntrack={'limit': 5, 'protocol': 'bogus'}), 'conntrack', 'conntrack: protocol: '),
    (_params(inline_max=-1), 'inline_max', 'inline_max: -1 is negative'),
])
def test_bad_input_fails_before_anything_is_done(tmp_path, params, param, message):
    manager = FakeLoggerManager()
    with pytest.raises(ParameterError) as caught:
        _run(tmp_path, dict(params, loggers=True), manager=manager)
    assert caught.value.param == param and caught.value.msg.startswith(message)
    assert manager.params is None and os.listdir(str(tmp_path / 'tmp')) == []


def test_every_part_inline_and_nothing_left(tmp_path, monkeypatch):
    boot = 1795540000.0
    monkeypatch.setattr(kernlog, 'boot_epoch', lambda: boot)
    capture = tmp_path / 'nft.trace'
    capture.write_text('trace id 1 inet t c packet: iif "eth0"\n')
    listing, stats = recorded('conntrack_query-list.json'), recorded('conntrack_query-stats.json')
    params = _params(
        texts={'trace.json': {'run_id': 'inc-1', 'phase': 'done'}, 'ruleset/before/iptables-nft.save': '*filter\n'},
        copies=[{'src': str(capture), 'dest': 'trace/nft.trace'}, {'src': str(tmp_path / 'gone'), 'dest': 'x'}],
        kernlog={'source': 'dmesg', 'since': boot + 23526, 'until': boot + 23527, 'patterns': ['TRACE:']},
        conntrack={'limit': 10000, 'protocol': 'icmp'}, loggers=True, facts={'inventory_hostname': 'node2'})
    result, warnings = _run(tmp_path, params, runner=tool_runner({'dmesg': (0, DMESG, '')}),
                            conntrack_run=lambda p: dict(listing if p['operation'] == 'list' else stats))
    assert result['changed'] is False and result['archive'] is None and result['problems'] == []
    assert warnings == result['pack_warnings'] == ['copies: %s is missing on the node' % (tmp_path / 'gone')]
    members = _members(result['content'])
    assert [item['path'] for item in result['files']] == [
        'conntrack-stats.json', 'conntrack.json', 'facts.json', 'loggers.json', 'ruleset/before/iptables-nft.save',
        'trace.json', 'trace/kernel.log', 'trace/nft.trace']
    assert sorted(members) == [item['path'] for item in result['files']]
    for item in result['files']:
        assert hashlib.sha256(members[item['path']]).hexdigest() == item['sha256']
        assert len(members[item['path']]) == item['size']
    assert hashlib.sha256(base64.b64decode(result['content'])).hexdigest() == result['sha256']
    assert len(base64.b64decode(result['content'])) == result['size']
    assert members['trace.json'] == b'{\n  "phase": "done",\n  "run_id": "inc-1"\n}\n'
    assert json.loads(members['conntrack.json'])['filter'] == {'protocol': 'icmp'}
    assert json.loads(members['facts.json'])['inventory_hostname'] == 'node2'
    assert len(members['trace/kernel.log'].splitlines()) == 5
    assert members['trace/nft.trace'] == capture.read_bytes()
    assert os.listdir(str(tmp_path / 'tmp')) == []


def _no_ctnetlink(_params):
    raise KmodError('no ctnetlink')


def test_problems_leave_files_out(tmp_path):
    result, _warnings = _run(tmp_path, _params(loggers=True, conntrack={'limit': 5}),
                             manager=FakeLoggerManager(KmodError('no nf_log')), conntrack_run=_no_ctnetlink)
    assert result['problems'] == ['conntrack: no ctnetlink', 'logger state: no nf_log']
    assert [item['path'] for item in result['files']] == ['facts.json']


def test_callers_text_wins_over_a_node_read(tmp_path):
    result, _warnings = _run(tmp_path, _params(texts={'facts.json': 'mine\n'}))
    assert _members(result['content']) == {'facts.json': b'mine\n'}


def test_kernel_log_failure_is_a_warning(tmp_path):
    runner = tool_runner({'dmesg': (1, '', 'dmesg: read kernel buffer failed: Operation not permitted')})
    result, _warnings = _run(tmp_path, _params(kernlog={'source': 'dmesg', 'since': 1, 'until': 2}), runner=runner)
    assert result['pack_warnings'] == ['kernel log lines not collected: dmesg failed (rc 1): dmesg: read kernel '
                                       'buffer failed: Operation not permitted']
    assert _members(result['content'])['trace/kernel.log'] == b''


@pytest.mark.parametrize('inline_max', [0, 10])
def test_archive_over_inline_max_is_kept_in_a_private_directory(tmp_path, inline_max):
    result, _warnings = _run(tmp_path, _params(texts={'a.txt': 'x' * 100}, inline_max=inline_max))
    assert result['content'] is None
    archive = result['archive']
    directory = os.path.dirname(archive)
    assert os.path.dirname(directory) == str(tmp_path / 'tmp') and os.listdir(directory) == ['bundle.tar.gz']
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    with open(archive, 'rb') as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == result['sha256'] and len(data) == result['size']


@pytest.mark.parametrize('inline_max, inline', [(1000, True), (999, False)])
def test_inline_max_is_the_largest_inline_size(tmp_path, monkeypatch, inline_max, inline):
    monkeypatch.setattr(node.os.path, 'getsize', lambda path: 1000)  # real archives' sizes vary with the facts
    result, _w = _run(tmp_path, _params(inline_max=inline_max))
    assert (result['content'] is not None, result['archive'] is None) == (inline, inline)
