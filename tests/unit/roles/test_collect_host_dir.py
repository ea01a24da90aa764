# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collect role's bundle directory per host (roles/collect/vars/main.yml), evaluated by ansible-playbook
itself for hostile inventory names: no name may leave the incident directory, and no two hosts may share one."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

VARS = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'collect' / 'vars' / 'main.yml'
NAMES = ['node1', 'web-01.example.net', '../x', '..', '.hidden', 'a/b', 'a_b', 'x y', '../../etc']

PLAYBOOK = '''
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars: {file: "%s"}
    - ansible.builtin.copy:
        content: "{{ {'host': inventory_hostname, 'dir': __netdebug_collect_dir} | to_json }}"
        dest: "%s/{{ inventory_hostname | hash('sha1') }}.json"
        mode: '0600'
      delegate_to: localhost
'''


@pytest.fixture(scope='module')
def host_dirs(tmp_path_factory):
    work = tmp_path_factory.mktemp('hostdir')
    out = work / 'out'
    out.mkdir()
    (work / 'play.yml').write_text(PLAYBOOK % (VARS, out))
    inventory = {'all': {'hosts': {name: {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
                                   for name in NAMES}}}
    (work / 'inventory.json').write_text(json.dumps(inventory))
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0')
    proc = subprocess.run([os.path.join(bindir, 'ansible-playbook'), '-i', str(work / 'inventory.json'),
                           str(work / 'play.yml')], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {}
    for path in out.iterdir():
        entry = json.loads(path.read_text())
        found[entry['host']] = entry['dir']
    assert sorted(found) == sorted(NAMES)
    return found


@pytest.mark.parametrize('name', NAMES)
def test_directory_stays_inside_the_incident(host_dirs, name):
    directory = host_dirs[name]
    assert directory and '/' not in directory and not directory.startswith('.'), directory
    incident = pathlib.PurePosixPath('/bundle/INC')
    assert os.path.normpath(str(incident / directory)).startswith(str(incident) + '/'), directory


def test_plain_names_are_kept_and_no_two_hosts_collide(host_dirs):
    assert host_dirs['node1'] == 'node1' and host_dirs['web-01.example.net'] == 'web-01.example.net'
    assert host_dirs['a_b'] == 'a_b' and host_dirs['a/b'] != 'a_b'
    assert len(set(host_dirs.values())) == len(NAMES)
