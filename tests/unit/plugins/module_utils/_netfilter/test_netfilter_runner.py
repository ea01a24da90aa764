# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ToolRunner against a stand-in AnsibleModule: argv, locale, lock bound, binary lookup and error fields."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import (
    NetfilterCommandError, ParameterError, ToolNotFoundError, XtablesLockError,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import (
    DEFAULT_LOCK_WAIT, MAX_LOCK_WAIT, SBIN_DIRS, ToolRunner, check_lock_wait, xtables_wait_args,
)
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import DEBIAN12_TOOLS, FakeModule, fixture

IPT = '/usr/sbin/iptables-legacy'


def answering(rc=0, stdout='', stderr=''):
    return FakeModule(DEBIAN12_TOOLS, lambda argv, data: (rc, stdout, stderr))


def recorded_error(name):
    """(rc, stdout, stderr) of a failure recorded by record.sh."""
    return (int(fixture('errors', name + '.rc')), fixture('errors', name + '.stdout'),
            fixture('errors', name + '.stderr'))


def test_run_passes_an_argv_list_in_the_c_locale_without_expansion():
    module = answering(stdout='ok\n')
    result = ToolRunner(module).run(['/usr/sbin/nft', 'list', 'ruleset'])
    (argv, kwargs), = module.calls
    assert argv == ['/usr/sbin/nft', 'list', 'ruleset']
    assert kwargs['environ_update'] == {'LANG': 'C', 'LC_ALL': 'C', 'LANGUAGE': 'C'}
    assert kwargs['check_rc'] is False
    assert kwargs['expand_user_and_vars'] is False  # a comment such as "$HOME" must reach the tool as written
    assert 'data' not in kwargs and 'use_unsafe_shell' not in kwargs
    assert (result.cmd, result.rc, result.stdout, result.stderr) == (argv, 0, 'ok\n', '')


def test_run_sends_stdin_as_is():
    module = answering()
    ToolRunner(module).run(['/usr/sbin/iptables-nft-restore', '--noflush'], data='*raw\nCOMMIT\n')
    _argv, kwargs = module.calls[0]
    assert kwargs['data'] == '*raw\nCOMMIT\n' and kwargs['binary_data'] is True  # no newline added


def test_run_converts_arguments_to_strings():
    module = answering()
    ToolRunner(module).run([IPT, '-I', 'INPUT', 3, '-j', 'ACCEPT'])
    assert module.argvs() == [[IPT, '-I', 'INPUT', '3', '-j', 'ACCEPT']]


@pytest.mark.parametrize('argv', ['iptables -L', b'iptables -L'])
def test_run_refuses_a_command_string(argv):
    with pytest.raises(TypeError):
        ToolRunner(answering()).run(argv)


@pytest.mark.parametrize('name, tool, expected', [
    ('legacy-no-chain', IPT, 'iptables: No chain/target/match by that name.'),
    ('nft-no-chain', '/usr/sbin/iptables-nft', 'iptables: No chain/target/match by that name.'),
    # the reason is on the first line; a usage hint follows it
    ('nft-bad-match', '/usr/sbin/iptables-nft', "Couldn't load match `nosuchmatch':No such file or directory"),
    # nft: the reason first, then the command echoed with carets under the culprit
    ('nft-syntax', '/usr/sbin/nft', 'Error: Could not process rule: No such file or directory'),
])
def test_failure_raises_with_cmd_rc_stdout_stderr(name, tool, expected):
    rc, out, err = recorded_error(name)
    runner = ToolRunner(answering(rc, out, err))
    with pytest.raises(NetfilterCommandError) as caught:
        runner.run([tool, '-A', 'NOPE', '-j', 'ACCEPT'])
    exc = caught.value
    assert (exc.cmd, exc.rc, exc.stdout, exc.stderr) == ([tool, '-A', 'NOPE', '-j', 'ACCEPT'], rc, out, err)
    assert exc.msg.startswith('%s -A NOPE -j ACCEPT failed with exit code %d: ' % (tool, rc))
    assert exc.msg.endswith(expected)
    assert exc.to_fail_kwargs() == {'msg': exc.msg, 'cmd': exc.cmd, 'rc': rc, 'stdout': out, 'stderr': err}


def test_failure_without_output_says_so():
    with pytest.raises(NetfilterCommandError) as caught:
        ToolRunner(answering(rc=3)).run([IPT, '-S'])
    assert caught.value.msg.endswith('exit code 3: no output')


def test_message_quotes_arguments_with_blanks():
    with pytest.raises(NetfilterCommandError) as caught:
        ToolRunner(answering(rc=1, stderr='bad\n')).run([IPT, '-m', 'comment', '--comment', 'two words'])
    assert "--comment 'two words' failed" in caught.value.msg


def test_check_false_returns_the_failure():
    result = ToolRunner(answering(rc=1, stderr='nope\n')).run([IPT, '-C', 'INPUT', '-j', 'ACCEPT'], check=False)
    assert (result.rc, result.stderr) == (1, 'nope\n')


@pytest.mark.parametrize('tool, version, expected', [
    ('iptables', None, ['-w', '10']),
    ('/usr/sbin/ip6tables-nft', None, ['-w', '10']),
    ('iptables-legacy-restore', None, ['-w', '10']),
    ('ip6tables-nft-restore', (1, 8, 9), ['-w', '10']),
    ('iptables-legacy-save', None, []),  # save only reads and does not know -w
    ('/usr/sbin/ip6tables-nft-save', (1, 8, 9), []),
    ('iptables', (1, 6, 0), ['-w', '10']),  # -w SECONDS appeared in 1.6.0 ...
    ('iptables', (1, 4, 21), []),  # ... before it, -w waited without a bound
    ('iptables-restore', (1, 6, 2), ['-w', '10']),  # ... and in the restore commands in 1.6.2
    ('iptables-restore', (1, 6, 1), []),
])
def test_xtables_wait_args(tool, version, expected):
    assert xtables_wait_args(tool, 10, version) == expected


def test_run_xtables_puts_the_default_bound_right_after_the_executable():
    module = answering()
    ToolRunner(module).run_xtables([IPT, '-t', 'raw', '-S'])
    assert module.argvs() == [[IPT, '-w', str(DEFAULT_LOCK_WAIT), '-t', 'raw', '-S']]
    assert DEFAULT_LOCK_WAIT == 10


def test_run_xtables_uses_the_configured_bound_for_restore_too():
    module = answering()
    runner = ToolRunner(module, lock_wait=3)
    runner.run_xtables(['/usr/sbin/iptables-nft-restore', '--noflush'], data='*raw\nCOMMIT\n')
    runner.run_xtables(['/usr/sbin/iptables-nft-save', '-c'])
    assert module.argvs() == [['/usr/sbin/iptables-nft-restore', '-w', '3', '--noflush'],
                              ['/usr/sbin/iptables-nft-save', '-c']]


def test_lock_timeout_is_its_own_error_naming_the_bound():
    rc, out, err = recorded_error('legacy-lock-timeout')
    assert rc == 4  # recorded from a real iptables-legacy -w 1 against a held lock
    runner = ToolRunner(answering(rc, out, err), lock_wait=1)
    with pytest.raises(XtablesLockError) as caught:
        runner.run_xtables([IPT, '-A', 'INPUT', '-j', 'ACCEPT'])
    exc = caught.value
    assert exc.cmd == [IPT, '-w', '1', '-A', 'INPUT', '-j', 'ACCEPT']
    assert (exc.rc, exc.stdout, exc.stderr, exc.lock_wait) == (4, out, err, 1)
    assert 'held the xtables lock for more than 1 seconds' in exc.msg and 'lock_wait' in exc.msg
    assert exc.to_fail_kwargs()['stderr'] == err


def test_lock_timeout_raises_even_without_check():
    rc, out, err = recorded_error('legacy-lock-timeout')
    with pytest.raises(XtablesLockError):
        ToolRunner(answering(rc, out, err)).run_xtables([IPT, '-C', 'INPUT', '-j', 'ACCEPT'], check=False)


def test_exit_code_4_without_the_lock_message_is_an_ordinary_failure():
    runner = ToolRunner(answering(4, '', 'iptables: Resource problem.\n'))
    with pytest.raises(NetfilterCommandError) as caught:
        runner.run_xtables([IPT, '-S'])
    assert not isinstance(caught.value, XtablesLockError)


@pytest.mark.parametrize('value', [1, 10, MAX_LOCK_WAIT])
def test_lock_wait_accepts(value):
    assert check_lock_wait(value) == value


@pytest.mark.parametrize('value, problem', [
    (0, 'between 1 and 300'),
    (-5, 'between 1 and 300'),
    (MAX_LOCK_WAIT + 1, 'between 1 and 300'),
    ('10', 'whole number'),
    (2.5, 'whole number'),
    (True, 'whole number'),
    (None, 'whole number'),
])
def test_lock_wait_refuses(value, problem):
    with pytest.raises(ParameterError) as caught:
        ToolRunner(answering(), lock_wait=value)
    assert caught.value.param == 'lock_wait'
    assert caught.value.msg.startswith('lock_wait: ') and problem in caught.value.msg


def test_lock_wait_error_names_the_callers_parameter():
    with pytest.raises(ParameterError) as caught:
        check_lock_wait(0, param='wait')
    assert caught.value.msg.startswith('wait: ')


def test_find_searches_the_sbin_directories_and_caches():
    module = FakeModule({'nft': '/usr/sbin/nft'})
    runner = ToolRunner(module)
    assert runner.find('nft') == '/usr/sbin/nft'
    assert runner.find('nft') == '/usr/sbin/nft'
    assert runner.find('iptables-legacy') is None
    assert module.lookups == [('nft', False, SBIN_DIRS), ('iptables-legacy', False, SBIN_DIRS)]
    assert '/usr/sbin' in SBIN_DIRS and '/sbin' in SBIN_DIRS
    assert runner.found() == {'nft': '/usr/sbin/nft'}


def test_find_required_names_the_tool_and_package():
    with pytest.raises(ToolNotFoundError) as caught:
        ToolRunner(FakeModule({})).find('nft', required=True, package='nftables')
    assert caught.value.tool == 'nft'
    assert caught.value.msg == ('the nft command was not found on the node (searched PATH and the sbin '
                                'directories); install the nftables package')


def test_command_is_the_seam_for_other_namespaces():
    class PrefixRunner(ToolRunner):
        def command(self, argv):
            return ['/usr/sbin/ip', 'netns', 'exec', 'ndtest'] + argv

    module = answering()
    PrefixRunner(module).run_xtables([IPT, '-S'])
    assert module.argvs() == [['/usr/sbin/ip', 'netns', 'exec', 'ndtest', IPT, '-w', '10', '-S']]
