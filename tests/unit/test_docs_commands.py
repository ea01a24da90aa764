# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every shell command block in README.md and docs/*.md either runs in a test (TESTED says which, and the test or
script must still hold the command) or says, in the lines just above it, that it is an example for the reader's own
fleet, registry or machine ("an example for ...")."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FENCE = re.compile(r'^```(sh|bash|shell|console)\s*$')
MARKER = re.compile(r'\ban example for\b', re.I)
# (document, first line of the block) -> (the test or script that runs it, a text it holds that is the command)
TESTED = {
    ('README.md', 'ansible-galaxy collection install netdebug.netfilter'):
        ('tests/run', 'ansible-galaxy collection install'),
    ('README.md', './demo'): ('tests/run', './demo --bundle-dir'),
    ('docs/awx.md', 'ansible-galaxy collection build --output-path /tmp/netdebug-build'):
        ('tests/unit/meta/test_execution_environment.py', "'meta/execution-environment-local.yml'"),
    ('docs/awx.md', 'ansible-runner run job -p capture.yml --ident try-1'):
        ('tests/integration/test_capture_awx.py', "'playbook_on_stats'"),
    ('docs/development.md', 'NETDEBUG_BUILD_DIR=/tmp/build-$USER tests/run unit'): ('tests/run', 'NETDEBUG_BUILD_DIR'),
    ('docs/development.md', 'cd /tmp/build-$USER/ansible_collections/netdebug/netfilter'):
        ('tests/run', 'ansible-test sanity'),
    ('docs/development.md', 'ansible-galaxy collection build --output-path /tmp/nd-dist .'):
        ('tests/run', 'ansible-galaxy collection build'),
    ('docs/lab-vm.md', 'tests/lab/lab up --kind vm --nodes 2'): ('tests/lab/test_lab_vm.py', "'exec', '--kind', 'vm'"),
    ('docs/lab.md', 'tests/lab/lab up --kind netns --nodes 3'): ('tests/lab/test_lab.py', "lab_cli('up', '--kind', 'netns'"),
    ('docs/lab.md', 'ansible -i "$(tests/lab/lab inventory | tail -n1)" lab -m ansible.builtin.ping'):
        ('tests/lab/test_lab.py', "'lab', '-m', 'ansible.builtin.ping'"),
    ('docs/lab.md', 'cd extensions && ANSIBLE_COLLECTIONS_PATH=<dir holding ansible_collections/> molecule test -s default'):
        ('tests/run', 'molecule test -s'),
}


def blocks():
    """(document, line number, first line, the four lines above) of every shell block."""
    for path in [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md')):
        lines = path.read_text(encoding='utf-8').split('\n')
        for number, line in enumerate(lines):
            if FENCE.match(line):
                commands = [text for text in lines[number + 1:] if not text.lstrip().startswith('#')]
                first = re.sub(r'\s+#.*$', '', commands[0]).strip()  # its first command, without its comment
                yield str(path.relative_to(ROOT)), number + 1, first, ' '.join(lines[max(0, number - 4):number])


BLOCKS = list(blocks())


@pytest.mark.parametrize('document, number, first, above', BLOCKS, ids=['%s:%d' % (b[0], b[1]) for b in BLOCKS])
def test_each_command_runs_in_a_test_or_is_marked_as_an_example(document, number, first, above):
    tested = TESTED.get((document, first))
    if tested is None:
        assert MARKER.search(above), ('%s:%d: `%s` runs in no test named in TESTED and is not marked "an example for '
                                      '..." just above it' % (document, number, first))
        return
    runner, needle = tested
    assert needle in (ROOT / runner).read_text(encoding='utf-8'), '%s no longer runs %s' % (runner, first)


def test_the_registry_names_only_blocks_that_exist():
    assert set(TESTED) <= set((document, first) for document, _number, first, _above in BLOCKS)
