# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netns parameter: names, paths and PIDs, and the errors for each kind of mistake."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import netns
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / 'blue').write_text('')
    return str(tmp_path)


def test_name_under_run_dir(run_dir):
    assert netns.resolve('blue', run_dir=run_dir) == os.path.join(run_dir, 'blue')


def test_pid_and_path():
    assert netns.resolve(str(os.getpid())) == '/proc/%d/ns/net' % os.getpid()
    assert netns.resolve('/proc/self/ns/net') == '/proc/self/ns/net'


@pytest.mark.parametrize('value,text', [
    ('red', "no network namespace named 'red' under"),
    ('', 'is empty'),
    ('a/b', 'is neither a namespace name'),
    ('..', 'is neither a namespace name'),
    ('/nonexistent/ns', '/nonexistent/ns does not exist'),
    ('4194305', 'no process with PID 4194305'),
])
def test_bad_netns(run_dir, value, text):
    with pytest.raises(ConntrackError) as err:
        netns.resolve(value, run_dir=run_dir)
    assert err.value.param == 'netns' and err.value.msg.startswith('netns: ')
    assert text in err.value.msg


def test_missing_name_lists_what_exists(run_dir):
    with pytest.raises(ConntrackError) as err:
        netns.resolve('red', run_dir=run_dir)
    assert '(present: blue)' in err.value.msg


def test_entering_a_file_that_is_not_a_namespace(tmp_path):
    path = tmp_path / 'plain'
    path.write_text('')
    with pytest.raises(ConntrackError) as err:
        netns.enter(str(path))
    assert err.value.param == 'netns'
    assert 'is not a network namespace' in err.value.msg or 'needs root' in err.value.msg
