# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node-side packer of the collect role (roles/collect/files/netdebug_pack.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import pathlib
import tarfile

import pytest

PACK = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'collect' / 'files' / 'netdebug_pack.py'


@pytest.fixture(scope='module')
def pack():
    spec = importlib.util.spec_from_file_location('netdebug_pack', PACK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('line, expected', [
    ('2026-11-24T18:29:14.250000+00:00 node2 kernel: TRACE: raw:PREROUTING:rule:1 IN=eth0', 1795544954.25),
    ('2026-11-24T19:29:14+01:00 node2 kernel: TRACE: x', 1795544954),
    ('2026-11-24T18:29:14Z node2 kernel: TRACE: x', 1795544954),
    ('[  101.9] TRACE: raw:PREROUTING', None),
    ('garbage', None),
])
def test_syslog_epoch_rfc3339(pack, line, expected):
    assert pack.syslog_epoch(line) == expected


def test_syslog_epoch_bsd_picks_the_year_closest_to_now(pack):
    import time  # pylint: disable=import-outside-toplevel
    now = time.mktime((2027, 1, 1, 0, 0, 10, 0, 0, -1))
    assert pack.syslog_epoch('Dec 31 23:59:50 node2 kernel: TRACE: x', now=now) == now - 20


def test_window_of_syslog_file_keeps_lines_in_window_with_a_pattern(pack, tmp_path):
    log = tmp_path / 'firewall'
    log.write_text('\n'.join([
        '2026-11-24T18:29:00+00:00 n kernel: TRACE: before',
        '2026-11-24T18:29:14+00:00 n kernel: TRACE: inside',
        '2026-11-24T18:29:15+00:00 n kernel: unrelated inside',
        '2026-11-24T18:29:16+00:00 n kernel: nd:inc-1 IN=eth0 inside-log',
        '2026-11-24T18:30:00+00:00 n kernel: TRACE: after',
    ]) + '\n')
    out = io.StringIO()
    count = pack.window_of_syslog_file(str(log), 1795544950, 1795544960, ['TRACE:', 'nd:inc-1 '], out)
    assert count == 2
    assert out.getvalue().splitlines() == ['2026-11-24T18:29:14+00:00 n kernel: TRACE: inside',
                                           '2026-11-24T18:29:16+00:00 n kernel: nd:inc-1 IN=eth0 inside-log']


def test_main_stages_packs_and_checksums(pack, tmp_path, capsys):
    capture = tmp_path / 'nft.trace'
    capture.write_text(' TRACE: 2 fc475095 filter:app-guard:rule:0x7:DROP\n')
    inputs = {'archive': str(tmp_path / 'bundle.tar.gz'),
              'files': {'ruleset/iptables-nft.save': '*filter\nCOMMIT\n', 'facts.json': {'hostname': 'node2'}},
              'copy': [{'src': str(capture), 'dest': 'trace/nft.trace'},
                       {'src': str(tmp_path / 'missing'), 'dest': 'trace/other.trace'}],
              'kernlog': None}
    (tmp_path / 'inputs.json').write_text(json.dumps(inputs))
    assert pack.main(['x', str(tmp_path / 'inputs.json')]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result['sha256'] == hashlib.sha256((tmp_path / 'bundle.tar.gz').read_bytes()).hexdigest()
    assert [f['path'] for f in result['files']] == ['facts.json', 'ruleset/iptables-nft.save', 'trace/nft.trace']
    assert result['warnings'] == ['capture file %s is missing' % (tmp_path / 'missing')]
    with tarfile.open(tmp_path / 'bundle.tar.gz') as tar:
        member = tar.extractfile('trace/nft.trace').read()
    assert member == capture.read_bytes()
    assert hashlib.sha256(member).hexdigest() == result['files'][2]['sha256']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bundle.tar.gz', 'inputs.json', 'nft.trace']  # the stage is gone


@pytest.mark.parametrize('rel', ['../x', '/etc/passwd', 'a/../../b', ''])
def test_unsafe_paths_are_refused(pack, tmp_path, rel):
    with pytest.raises(ValueError):
        pack.stage({'files': {rel: 'x'}}, str(tmp_path), [])
