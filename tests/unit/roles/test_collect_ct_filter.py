# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collect role's conntrack filter (roles/collect/vars/main.yml), evaluated by ansible-playbook itself: every
match the trace accepts gives a filter capture_pack accepts, so a capture never loses a host's bundle to it."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect.reads import check_conntrack

HERE = pathlib.Path(__file__).resolve()
VARS = HERE.parents[3] / 'roles' / 'collect' / 'vars' / 'main.yml'
# (match, filter): the trace's protocol names conntrack has no name for go by number; negations, 'all', ranges
# and lists filter nothing.
CASES = [
    ({'protocol': 'icmp', 'source': '198.18.0.1'}, {'protocol': 'icmp', 'source': '198.18.0.1'}),
    ({'protocol': 'esp'}, {'protocol': '50'}),
    ({'protocol': 'AH'}, {'protocol': '51'}),
    ({'protocol': 'icmp6'}, {'protocol': 'icmpv6'}),
    ({'protocol': 'ipv6-icmp'}, {'protocol': 'ipv6-icmp'}),
    ({'protocol': 'all', 'destination_port': '80'}, {'destination_port': 80}),
    ({'protocol': '!tcp', 'source': '!198.18.0.1'}, {}),
    ({'protocol': 17, 'source_port': 53, 'destination_port': '1000:2000'}, {'protocol': '17', 'source_port': 53}),
    ({'protocol': 'sctp', 'destination': '198.18.0.0/24'}, {'protocol': 'sctp', 'destination': '198.18.0.0/24'}),
    ({}, {}),
]

PLAYBOOK = '''
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars: {file: "%s"}
    - ansible.builtin.copy:
        content: "{{ __netdebug_collect_ct_filter | to_json }}"
        dest: "%s/{{ index }}.json"
        mode: '0600'
      vars:
        netdebug_match: "{{ item }}"
      loop: %s
      loop_control: {index_var: index}
'''


@pytest.fixture(scope='module')
def filters(tmp_path_factory):
    work = tmp_path_factory.mktemp('ctfilter')
    out = work / 'out'
    out.mkdir()
    (work / 'play.yml').write_text(PLAYBOOK % (VARS, out, json.dumps([match for match, _f in CASES])))
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_DEPRECATION_WARNINGS='0',
               ANSIBLE_COLLECTIONS_PATH=str(HERE.parents[6]))  # the tree the unit tests run from (match_dict)
    proc = subprocess.run([os.path.join(bindir, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                           '-e', 'ansible_python_interpreter=' + sys.executable, str(work / 'play.yml')],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((out / ('%d.json' % index)).read_text()) for index in range(len(CASES))]


@pytest.mark.parametrize('index', range(len(CASES)), ids=[json.dumps(c[0]) for c in CASES])
def test_filter_is_one_capture_pack_accepts(filters, index):
    found = filters[index]
    if isinstance(found, str):  # ansible-core before 2.19 renders the template as text
        found = json.loads(found.replace("'", '"'))
    assert found == CASES[index][1]
    check_conntrack(dict(found, limit=10000))
