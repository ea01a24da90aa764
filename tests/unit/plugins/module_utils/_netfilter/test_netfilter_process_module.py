# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ToolRunner on ProcessModule (the rules reaper's runner, no Ansible): real processes, stdlib subprocess."""

from __future__ import annotations

import sys

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetfilterCommandError, ToolError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ProcessModule, ToolRunner

PY = sys.executable


def test_runs_an_argv_list_in_the_c_locale_without_expansion():
    script = 'import os, sys; print(os.environ["LC_ALL"], os.environ["LANGUAGE"], sys.argv[1])'
    result = ToolRunner(ProcessModule()).run([PY, '-c', script, '~/$HOME'])
    assert result.rc == 0 and result.stdout == 'C C ~/$HOME\n' and result.cmd[0] == PY


def test_sends_stdin_as_is_and_no_stdin_without_data():
    echo = 'import sys; sys.stdout.write(repr(sys.stdin.read()))'
    assert ToolRunner(ProcessModule()).run([PY, '-c', echo], data='a\nb').stdout == repr('a\nb')
    assert ToolRunner(ProcessModule()).run([PY, '-c', echo]).stdout == repr('')


def test_failure_carries_cmd_rc_stdout_stderr():
    argv = [PY, '-c', 'import sys; print("out"); sys.exit("bad rule\\nmore")']
    with pytest.raises(NetfilterCommandError) as caught:
        ToolRunner(ProcessModule()).run(argv)
    assert (caught.value.cmd, caught.value.rc, caught.value.stdout) == (argv, 1, 'out\n')
    assert caught.value.stderr == 'bad rule\nmore\n' and caught.value.msg.endswith(': bad rule')


@pytest.mark.parametrize('argv, problem', [
    ([PY, '-c', 'import time; time.sleep(5)'], 'did not finish within 0.5 seconds'),
    (['/nonexistent/iptables'], 'cannot run /nonexistent/iptables'),
])
def test_a_command_that_hangs_or_cannot_start_is_a_tool_error(argv, problem):
    with pytest.raises(ToolError) as caught:
        ToolRunner(ProcessModule(timeout=0.5)).run(argv)
    assert problem in caught.value.msg and caught.value.cmd == argv


def test_find_searches_path_then_the_extra_directories(tmp_path, monkeypatch):
    tool = tmp_path / 'netdebug-test-tool'
    tool.write_text('')
    tool.chmod(0o755)
    monkeypatch.setenv('PATH', '/nonexistent')
    assert ToolRunner(ProcessModule()).find('netdebug-test-tool') is None
    assert ProcessModule().get_bin_path('netdebug-test-tool', opt_dirs=[str(tmp_path)]) == str(tool)
    monkeypatch.setenv('PATH', str(tmp_path))
    assert ToolRunner(ProcessModule()).find('netdebug-test-tool') == str(tool)
