# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""capture_pack's remove_copied through the whole run: only sources strictly inside the runs directory go, and only
after a good archive; every other source stays with a warning."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import tarfile

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import copied, node, pack
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import state

from collect_fakes import FakeLoggerManager, tool_runner

OUTSIDE = 'is not under %s; left in place'
OWN_STATE = "is a run's own state (its directory, run.json or reaper.log); left in place"

# name -> path below tmp_path; a tuple is a symbolic link (its target below tmp_path)
TREE = {
    'run.json': 'run/netdebug/runs/r1/run.json',
    'reaper.log': 'run/netdebug/runs/r1/reaper.log',
    'trace': 'run/netdebug/runs/r1/nft.trace',
    'ruleset': 'run/netdebug/runs/r1/ruleset',
    'saved': 'run/netdebug/runs/r1/ruleset/before/iptables-nft.save',
    'other_run_trace': 'run/netdebug/runs/r2/nft.trace',
    'keep': 'outside/keep.txt',
    'keep_dir': 'outside/dir',
}
LINKS = {
    'link_out': ('run/netdebug/runs/r1/out.trace', 'outside/keep.txt'),
    'dir_link_out': ('run/netdebug/runs/r1/escape', 'outside'),
    'link_in': ('run/netdebug/runs/r1/again.trace', 'run/netdebug/runs/r2/nft.trace'),
}
# sources given as paths, not names
PATHS = {
    'dotdot': 'run/netdebug/runs/r1/../../../../outside/keep.txt',
    'via_dir_link': 'run/netdebug/runs/r1/escape/keep.txt',
    'run_dir': 'run/netdebug/runs/r1',
    'runs_dir': 'run/netdebug/runs',
    'runs_dir_dot': 'run/netdebug/runs/r1/..',
    'missing': 'run/netdebug/runs/r1/gone.trace',
}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """Build the run directory and an outside directory; the runs directory is tmp_path's."""
    monkeypatch.setattr(copied, 'RUNS_DIR', str(tmp_path / 'run/netdebug/runs'))
    for name, rel in TREE.items():
        path = tmp_path / rel
        if name in ('ruleset', 'keep_dir'):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state.empty_run('r1')) if name == 'run.json' else '%s\n' % name)
    (tmp_path / TREE['keep_dir'] / 'x').write_text('x\n')
    for link, target in LINKS.values():
        os.symlink(str(tmp_path / target), str(tmp_path / link))
    return tmp_path


def _path(tmp_path, name):
    rel = TREE.get(name) or PATHS.get(name) or LINKS[name][0]
    return str(tmp_path / rel)


def _run(tmp_path, names, check_mode=False, remove=True):
    work = tmp_path / 'tmp'
    work.mkdir(exist_ok=True)
    params = {'texts': {}, 'kernlog': None, 'conntrack': None, 'loggers': False, 'facts': {}, 'inline_max': 1 << 20,
              'copies': [{'src': _path(tmp_path, name), 'dest': 'c%d' % i} for i, name in enumerate(names)],
              'remove_copied': remove}
    return node.run(params, tool_runner({}), FakeLoggerManager, tmpdir=str(work), check_mode=check_mode)


def _exists(tmp_path, name):
    return os.path.lexists(_path(tmp_path, name))


def _archive_names(result):
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(result['content']))) as tar:
        return sorted(tar.getnames())


@pytest.mark.parametrize('names, removed, refused', [
    (['trace'], ['trace'], {}),
    (['ruleset'], ['ruleset'], {}),
    (['trace', 'ruleset', 'keep'], ['ruleset', 'trace'], {'keep': OUTSIDE}),
    (['keep_dir'], [], {'keep_dir': OUTSIDE}),
    (['link_out'], [], {'link_out': OUTSIDE}),
    (['via_dir_link'], [], {'via_dir_link': OUTSIDE}),
    (['dotdot'], [], {'dotdot': OUTSIDE}),
    (['link_in'], ['other_run_trace'], {}),  # a link inside resolves inside: its target goes
    (['run.json', 'reaper.log'], [], {'run.json': OWN_STATE, 'reaper.log': OWN_STATE}),
    (['run_dir'], [], {'run_dir': OWN_STATE}),
    (['runs_dir'], [], {'runs_dir': OUTSIDE}),
    (['runs_dir_dot'], [], {'runs_dir_dot': OUTSIDE}),
    (['ruleset', 'saved'], ['ruleset'], {}),  # the file went with its directory
    (['saved', 'ruleset'], ['ruleset', 'saved'], {}),
])
@pytest.mark.parametrize('check_mode', [False, True])
def test_only_sources_inside_the_runs_directory_go(tree, names, removed, refused, check_mode):
    before = dict((name, _exists(tree, name)) for name in list(TREE) + list(LINKS))
    result, warnings = _run(tree, names, check_mode=check_mode)
    runs = copied.RUNS_DIR
    assert result['removed'] == sorted(os.path.realpath(_path(tree, name)) for name in removed)
    assert result['changed'] is bool(removed)
    assert warnings == result['pack_warnings'] == [
        'remove_copied: %s %s' % (_path(tree, name), refused[name].replace('%s', runs))
        for name in names if name in refused]
    gone = set() if check_mode else set(removed) | ({'saved'} if 'ruleset' in removed else set())
    assert dict((name, _exists(tree, name)) for name in before) == dict(
        (name, there and name not in gone) for name, there in before.items())
    assert os.path.isdir(runs) and os.listdir(str(tree / 'tmp')) == []


def test_the_archive_holds_what_was_removed(tree):
    result, _warnings = _run(tree, ['ruleset', 'trace', 'keep'])
    assert _archive_names(result) == ['c0/before/iptables-nft.save', 'c1', 'c2', 'facts.json']
    assert not _exists(tree, 'ruleset') and not _exists(tree, 'trace') and _exists(tree, 'keep')


def test_without_the_option_nothing_goes(tree):
    result, warnings = _run(tree, ['trace', 'keep'], remove=False)
    assert result['removed'] == [] and result['changed'] is False and warnings == []
    assert _exists(tree, 'trace') and _exists(tree, 'keep')


def test_a_missing_source_is_warned_once(tree):
    result, warnings = _run(tree, ['missing', 'trace'])
    assert warnings == ['copies: %s is missing on the node' % _path(tree, 'missing')]
    assert result['removed'] == [_path(tree, 'trace')]


@pytest.mark.parametrize('step', ['pack', 'sha256_file'])
def test_a_failure_while_packing_leaves_everything(tree, monkeypatch, step):
    def broken(*_args):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(pack, step, broken)
    with pytest.raises(OSError):
        _run(tree, ['trace', 'ruleset'])
    assert _exists(tree, 'trace') and _exists(tree, 'ruleset') and _exists(tree, 'saved')


@pytest.mark.parametrize('name, module, call', [('trace', os, 'unlink'), ('ruleset', shutil, 'rmtree')])
def test_a_removal_failure_is_a_warning(tree, monkeypatch, name, module, call):
    path = _path(tree, name)
    real = getattr(module, call)

    def refuse(target, *args, **kwargs):
        if target == path:
            raise PermissionError(13, 'Permission denied', target)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(module, call, refuse)  # os and shutil are shared: only the source is refused
    result, warnings = _run(tree, [name, 'keep'])
    assert result['removed'] == [] and result['changed'] is False
    assert warnings == ["remove_copied: cannot remove %s: [Errno 13] Permission denied: '%s'" % (path, path),
                        'remove_copied: %s %s' % (_path(tree, 'keep'), OUTSIDE % copied.RUNS_DIR)]
    assert _exists(tree, name)


def test_the_runs_directory_is_the_state_directorys():
    assert copied.RUNS_DIR == '/run/netdebug/runs'


def test_a_run_collected_whole_goes_with_the_state_root(tmp_path, monkeypatch):
    """Trace files and rulesets in the archive, the run finished: its directory goes (with the reaper that was
    kept for those files) and, as the last run, so does the rest of the state root."""
    root = tmp_path / 'run/netdebug'
    monkeypatch.setattr(copied, 'RUNS_DIR', str(root / 'runs'))
    run = state.empty_run('r1')
    run['reapers'] = [{'kind': 'process', 'pid': 2 ** 22 + 1, 'start': 1, 'expires_at': 10}]  # no such process
    state.save_run(str(root), run)
    (root / 'runs/r1/nft.trace').write_text('trace\n')
    (root / 'runs/r1/ruleset').mkdir()
    (root / 'runs/r1/ruleset/before.json').write_text('{}\n')
    (root / 'lib/abc').mkdir(parents=True)
    work = tmp_path / 'tmp'
    work.mkdir()
    params = {'texts': {}, 'kernlog': None, 'conntrack': None, 'loggers': False, 'facts': {}, 'inline_max': 1 << 20,
              'copies': [{'src': str(root / 'runs/r1/nft.trace'), 'dest': 'trace/nft.trace'},
                         {'src': str(root / 'runs/r1/ruleset'), 'dest': 'ruleset'}],
              'remove_copied': True}
    result, warnings = node.run(params, tool_runner({}), FakeLoggerManager, tmpdir=str(work))
    assert warnings == [] and len(result['removed']) == 2
    assert _archive_names(result) == ['facts.json', 'ruleset/before.json', 'trace/nft.trace']
    assert not root.exists()
