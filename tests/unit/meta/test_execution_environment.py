# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/execution-environment.yml: `ansible-builder create` makes a build context from it (no image is built here:
there is no container engine), and ansible-builder's introspection of the installed collection finds the same lists."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
META = ROOT / 'meta'


def _requirement_lines(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith('#')]


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp('ee') / 'context'
    done = subprocess.run([sys.executable, '-m', 'ansible_builder', 'create', '-f', str(META / 'execution-environment.yml'),
                           '-c', str(ctx), '--output-filename', 'Containerfile'],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return ctx


def test_definition_is_schema_3():
    definition = yaml.safe_load((META / 'execution-environment.yml').read_text())
    assert definition['version'] == 3
    assert definition['dependencies']['python'] == 'requirements.txt'
    assert definition['dependencies']['system'] == 'bindep.txt'


def test_context_carries_our_requirements_and_bindep(context):
    assert (context / '_build' / 'requirements.txt').read_text() == (META / 'requirements.txt').read_text()
    assert (context / '_build' / 'bindep.txt').read_text() == (META / 'bindep.txt').read_text()
    assert 'pyroute2' in ' '.join(_requirement_lines(META / 'requirements.txt'))
    assert {'nftables', 'conntrack [platform:dpkg]', 'iptables [platform:dpkg]'} <= set(
        _requirement_lines(META / 'bindep.txt'))


def test_context_installs_the_collection(context):
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert [c['name'] for c in galaxy['collections']] == ['netdebug.netfilter']


def test_containerfile_uses_the_context(context):
    text = (context / 'Containerfile').read_text()
    for needle in ('COPY _build/requirements.txt requirements.txt', 'COPY _build/bindep.txt bindep.txt',
                   'ansible-galaxy collection install', '-r requirements.yml', '--user-pip=requirements.txt',
                   '--user-bindep=bindep.txt', 'ansible-core==2.19.14', 'ansible-runner==2.4.3'):
        assert needle in text, needle


def test_introspection_of_the_installed_collection(context, tmp_path):
    """Inside the image, ansible-builder reads the installed collection's meta/execution-environment.yml with paths
    relative to the collection root; the root links must survive build and install and lead to the same lists, or
    the image build fails. Built and installed here as the image's galaxy stage does."""
    ansible_galaxy = pathlib.Path(sys.executable).parent / 'ansible-galaxy'
    version = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['version']
    for argv in ([str(ansible_galaxy), 'collection', 'build', '--output-path', str(tmp_path), str(ROOT)],
                 [str(ansible_galaxy), 'collection', 'install', '--force', '-p', str(tmp_path / 'installed'),
                  str(tmp_path / ('netdebug-netfilter-%s.tar.gz' % version))]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / 'introspect'
    done = subprocess.run([sys.executable, str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect',
                           str(tmp_path / 'installed'), '--write-pip', str(out / 'req.txt'),
                           '--write-bindep', str(out / 'bindep.txt')],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    suffix = '  # from collection netdebug.netfilter'
    for written, ours in (('req.txt', 'requirements.txt'), ('bindep.txt', 'bindep.txt')):
        lines = (out / written).read_text().splitlines()
        assert all(line.endswith(suffix) for line in lines), lines
        assert [line[:-len(suffix)] for line in lines] == _requirement_lines(META / ours)


def test_ee_files_ship_and_dev_files_do_not():
    ignore = yaml.safe_load((ROOT / 'galaxy.yml').read_text()).get('build_ignore', [])
    for shipped in ('meta', 'meta/execution-environment.yml', 'meta/execution-environment-local.yml',
                    'meta/survey.json', 'meta/requirements.txt', 'meta/bindep.txt',
                    'requirements.txt', 'bindep.txt'):
        assert shipped not in ignore
    assert {'requirements-dev.txt', 'constraints.txt', 'tools'} <= set(ignore)


def test_local_tarball_variant_as_awx_md_builds_it(tmp_path):
    """meta/execution-environment-local.yml, with the commands in its header and docs/awx.md: the build context holds
    the tarball, and the image's galaxy stage (run here as the Containerfile runs it, in a copy of _build/) installs
    the collection from it, not from Galaxy."""
    tree = tmp_path / 'checkout'
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns('tests', '.venv', '.build', '.git', '*.tar.gz'))
    ansible_galaxy = str(pathlib.Path(sys.executable).parent / 'ansible-galaxy')
    build = tmp_path / 'netdebug-build'
    steps = [
        [ansible_galaxy, 'collection', 'build', '--output-path', str(build)],
        None,  # cp build/netdebug-netfilter-*.tar.gz meta/netdebug-netfilter.tar.gz
        [sys.executable, '-m', 'ansible_builder', 'create', '-f', 'meta/execution-environment-local.yml', '-c',
         'context', '--output-filename', 'Containerfile'],
    ]
    for argv in steps:
        if argv is None:
            (built,) = build.glob('netdebug-netfilter-*.tar.gz')
            shutil.copyfile(built, tree / 'meta' / 'netdebug-netfilter.tar.gz')
            continue
        done = subprocess.run(argv, cwd=tree, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    context = tree / 'context'
    assert (context / '_build' / 'collections' / 'netdebug-netfilter.tar.gz').is_file()
    containerfile = (context / 'Containerfile').read_text()
    assert 'COPY _build /build' in containerfile and 'WORKDIR /build' in containerfile
    stage = tmp_path / 'build'
    shutil.copytree(context / '_build', stage)
    # as in the image: no copy of the collection on the Python path (the tests have the one under test there)
    env = dict((k, v) for k, v in os.environ.items() if k not in ('PYTHONPATH', 'ANSIBLE_COLLECTIONS_PATH'))
    done = subprocess.run([ansible_galaxy, 'collection', 'install', '-r', 'requirements.yml', '--collections-path',
                           str(tmp_path / 'collections')], cwd=stage, env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    installed = tmp_path / 'collections' / 'ansible_collections' / 'netdebug' / 'netfilter'
    assert (installed / 'MANIFEST.json').is_file() and (installed / 'plugins' / 'modules' / 'iptables_trace.py').is_file()
