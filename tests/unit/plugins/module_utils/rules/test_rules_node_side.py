# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loggers, /proc parsing, kmsg records, state files, the reaper's schedule and its installed program."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import install, kmsg, loggers, removal, state
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node


def test_bound_loggers_give_no_problem(fixture_text):
    assert loggers.trace_logger_problems(fixture_text('nf_log-bound.txt'), ['ipv4', 'ipv6']) == []


def test_unbound_logger_fails_with_the_remedy(fixture_text):
    problems = loggers.trace_logger_problems(fixture_text('nf_log-ipv6-unbound.txt'), ['ipv4', 'ipv6'])
    assert len(problems) == 1
    assert 'ipv6' in problems[0] and 'netdebug.netfilter.nf_log' in problems[0] and 'nf_log/10' in problems[0]


def test_logger_bound_elsewhere():
    text = ' 2 nfnetlink_log (nf_log_ipv4,nfnetlink_log)\n'
    assert 'not to the kernel log' in loggers.trace_logger_problems(text, ['ipv4'])[0]


def test_netlink_parsing(fixture_text):
    entries = procs.parse_netlink(fixture_text('netlink-with-monitor.txt'))
    trace = [e for e in entries if e[0] == procs.NETLINK_NETFILTER and e[1] & procs.NFNLGRP_NFTRACE_BIT]
    assert trace == [(12, 0x100, 351574)]


def test_subscribed_to_trace_follows_socket_inodes(tmp_path, fixture_text):
    proc = tmp_path / 'proc'
    (proc / 'net').mkdir(parents=True)
    (proc / 'net' / 'netlink').write_text(fixture_text('netlink-with-monitor.txt'))
    fds = proc / '3924' / 'fd'
    fds.mkdir(parents=True)
    os.symlink('socket:[351573]', str(fds / '3'))
    assert not procs.subscribed_to_trace([3924], proc=str(proc))  # joined no group yet
    os.symlink('socket:[351574]', str(fds / '4'))
    os.symlink('/dev/null', str(fds / '0'))
    assert procs.subscribed_to_trace([3924], proc=str(proc))


def test_start_time_and_liveness():
    me = os.getpid()
    start = procs.start_time(me)
    assert isinstance(start, int) and procs.alive(me, start)
    assert not procs.alive(me, start + 1)  # same pid, other start time: not the process we started
    assert procs.start_time(2 ** 22 + 1) is None


def test_kmsg_records():
    assert kmsg.parse_record(b'4,1234,5678,-;TRACE: raw:PREROUTING:rule:1 IN=lo\n SUBSYSTEM=x\n') == \
        'TRACE: raw:PREROUTING:rule:1 IN=lo'
    assert kmsg.parse_record(b'no header') == 'no header'


def test_state_files_and_lock(tmp_path):
    root = str(tmp_path / 'netdebug')
    run = state.load_run(root, 'r1')
    assert run == state.empty_run('r1')
    run['rules'].append({'x': 1})
    state.save_run(root, run)
    assert state.load_run(root, 'r1')['rules'] == [{'x': 1}]
    assert state.list_runs(root) == ['r1']
    with state.NodeLock(root, timeout=1):
        with pytest.raises(RulesError, match='holds'):
            with state.NodeLock(root, timeout=0.2):
                pass
    (tmp_path / 'netdebug' / 'runs' / 'r1' / 'run.json').write_text('{')
    with pytest.raises(RulesError, match='not valid JSON'):
        state.load_run(root, 'r1')


def test_created_registry(tmp_path):
    node = Node(None, {}, root=str(tmp_path))
    removal.note_created(node, 'ipv4', 'raw', {'table': False, 'chains': []})
    assert not (tmp_path / 'created.json').exists()
    removal.note_created(node, 'ipv4', 'raw', {'table': True, 'chains': ['PREROUTING']})
    removal.note_created(node, 'ipv4', 'raw', {'table': False, 'chains': ['OUTPUT']})
    assert state.read_json(str(tmp_path / 'created.json'), {}) == {
        'ipv4 raw': {'family': 'ipv4', 'table': 'raw', 'table_created': True, 'chains': ['OUTPUT', 'PREROUTING']}}


def test_systemd_schedule(runner, tmp_path):
    node = Node(runner, {'systemd-run': '/usr/bin/systemd-run'}, root=str(tmp_path), clock=lambda: 1000)
    runner.add(('/usr/bin/systemd-run',))
    record = schedule.schedule(node, '/run/netdebug/lib/x/reap.py', '/usr/bin/python3', 'inc.1', 1006, use_systemd=True)
    assert record == {'kind': 'systemd', 'unit': 'netdebug-reap-inc.1-1006', 'expires_at': 1006}
    argv = runner.calls[0][0]
    # Started 3 s early (the program sleeps until --at), never sooner than 1 s from now.
    assert argv[argv.index('--on-active') + 1] == '3s' and argv[argv.index('--unit') + 1] == 'netdebug-reap-inc.1-1006'
    assert argv[-8:] == ['/usr/bin/python3', '/run/netdebug/lib/x/reap.py', '--root', str(tmp_path), '--run-id',
                         'inc.1', '--at', '1006']
    schedule.schedule(node, '/run/netdebug/lib/x/reap.py', '/usr/bin/python3', 'inc.1', 1002, use_systemd=True)
    argv = runner.calls[1][0]
    assert argv[argv.index('--on-active') + 1] == '1s'


def test_program_files_import_only_the_stdlib_and_each_other():
    """The reaper runs without Ansible: its files may import only the stdlib and the files installed with it."""
    files = install.sources()
    for name, text in files.items():
        package = name.rsplit('/', 1)[0]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, name
                wanted = [node.module] if node.module else [alias.name for alias in node.names]
                for module in wanted:
                    assert '%s/%s.py' % (package, module.split('.')[0]) in files, (name, module)
            elif isinstance(node, ast.ImportFrom) and node.module.startswith('ansible'):
                modules = [node.module] + ['%s.%s' % (node.module, alias.name) for alias in node.names]
                assert any(m.replace('.', '/') + '.py' in files for m in modules), (name, node.module)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith('ansible') for a in node.names), name


def test_installed_program_runs(tmp_path):
    launcher = install.install(str(tmp_path))
    assert install.install(str(tmp_path)) == launcher  # reused, not rewritten
    root = os.path.dirname(launcher)
    installed = sorted(os.path.relpath(os.path.join(d, f), root).replace(os.sep, '/')
                       for d, _dirs, names in os.walk(root) for f in names if f != 'reap.py')
    assert installed == sorted(install.sources())
    assert any(path.endswith('/_expiry/rules_main.py') for path in installed)
    out = subprocess.run([sys.executable, launcher, '--help'], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and '--run-id' in out.stdout
    # An expiry in the past: the program reaps at once. With no tools and no rules it finds nothing to remove;
    # the expiry has come, so the run's directory goes with its uncollected capture file, and then, with no run
    # left, the whole state root (the program's own files too).
    state.save_run(str(tmp_path), state.empty_run('r9'))
    (tmp_path / 'runs' / 'r9' / 'nft.trace').write_text('uncollected\n')
    out = subprocess.run([sys.executable, launcher, '--root', str(tmp_path), '--run-id', 'r9', '--at', '1'],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert not tmp_path.exists(), sorted(os.listdir(tmp_path))
