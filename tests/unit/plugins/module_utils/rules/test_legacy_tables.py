# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Legacy tables our inserts made: which module is ours, when it may go, and that no other namespace loses it."""

from __future__ import annotations

import os
import types

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import legacy_tables, removal
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import CREATED_FILE, read_json, write_json

EMPTY_RAW = '-P PREROUTING ACCEPT\n-P OUTPUT ACCEPT\n'
TOOLS = {'iptables-legacy': '/usr/sbin/iptables-legacy', 'rmmod': '/usr/sbin/rmmod', 'nsenter': '/usr/bin/nsenter'}


@pytest.mark.parametrize('before, after, expected', [
    ({'x_tables'}, {'x_tables', 'ip_tables', 'iptable_raw'}, 'iptable_raw'),   # our insert loaded it
    ({'iptable_raw'}, {'iptable_raw'}, None),                                  # it was there before
    (set(), set(), None),                                                      # built in: never in /proc/modules
    (None, {'iptable_raw'}, None),                                             # no module list: in doubt, ours? no
])
def test_the_module_is_ours_only_when_our_call_loaded_it(before, after, expected):
    assert legacy_tables.loaded_by_us('ipv4', 'raw', before, after) == expected


def test_ipv6_tables_have_their_own_modules():
    assert legacy_tables.module_for('ipv6', 'raw') == 'ip6table_raw'


@pytest.mark.parametrize('listing, empty', [
    (EMPTY_RAW, True),
    ('-P PREROUTING DROP\n-P OUTPUT ACCEPT\n', False),
    (EMPTY_RAW + '-N mine\n', False),
    (EMPTY_RAW + '-A PREROUTING -j CT --notrack\n', False),
])
def test_a_table_is_empty_with_only_accept_policies(listing, empty):
    assert legacy_tables.table_empty(listing) is empty


def test_bind_mounted_namespaces_are_found_in_mountinfo():
    text = ('29 1 0:26 / /run rw,nosuid shared:12 - tmpfs tmpfs rw\n'
            '1019 29 0:4 net:[4026532456] /run/netns/ndlab-node1 rw shared:548 - nsfs nsfs rw\n'
            '1020 29 0:4 mnt:[4026532457] /run/foo rw - nsfs nsfs rw\n')
    assert legacy_tables.nsfs_mounts(text) == {4026532456: '/run/netns/ndlab-node1'}


@pytest.fixture
def proc(tmp_path, monkeypatch):
    """A fake /proc: our namespaces (self), and process(pid, ...) to add one, its thread in a network namespace of
    its own or (netns_of) in another's (a hard link: the same inode), in our mount namespace, with no descriptors
    unless given. Pid 1 shares our network namespace and has the table there: that is not another's."""
    root = tmp_path / 'proc'
    (root / 'self' / 'ns').mkdir(parents=True)
    for name in ('net', 'mnt'):
        (root / 'self' / 'ns' / name).write_text('')
    (root / 'self' / 'mountinfo').write_text('')
    monkeypatch.setattr(legacy_tables, 'PROC', str(root))

    def process(pid, tables=None, netns_of=None, fds=(), mounts=None):
        task = root / pid / 'task' / pid
        (task / 'ns').mkdir(parents=True)
        (root / pid / 'ns').mkdir()
        (root / pid / 'fd').mkdir()
        if netns_of:
            os.link(str(root / netns_of / 'ns' / 'net'), str(task / 'ns' / 'net'))
        else:
            (task / 'ns' / 'net').write_text('')
        if mounts is None:
            os.link(str(root / 'self' / 'ns' / 'mnt'), str(root / pid / 'ns' / 'mnt'))
        else:  # a mount namespace of its own, with these mountinfo lines
            (root / pid / 'ns' / 'mnt').write_text('')
            (root / pid / 'mountinfo').write_text(mounts)
        for number, target in enumerate(fds):
            os.symlink(target, str(root / pid / 'fd' / str(number)))
        if tables is not None:
            (task / 'net').mkdir()
            (task / 'net' / 'ip_tables_names').write_text(tables)
        return task
    process('1', tables='raw\n', netns_of='self')
    return root, process


def node(runner, tools=None):
    return Node(runner, TOOLS if tools is None else tools)


@pytest.mark.parametrize('others, expected', [
    ([], False),
    ([('2', 'filter\n')], False),
    ([('2', 'filter\nraw\n')], True),     # a container's own raw table would go with the module
    ([('2', None)], True),                # a namespace we cannot read: in doubt
])
def test_other_namespaces_keep_the_module(proc, runner, others, expected):
    _root, process = proc
    for pid, tables in others:
        process(pid, tables)
    assert legacy_tables.other_namespaces_have(node(runner), 'ipv4', 'raw') is expected


@pytest.mark.parametrize('holder, expected', [
    ({'fds': ['net:[4242]']}, True),                   # a namespace only a descriptor keeps: never read, in doubt
    ({'fds': ['socket:[77]', '/dev/null']}, False),
    ({'mounts': '9 1 0:4 net:[4243] /var/run/docker/netns/x rw - nsfs nsfs rw\n'}, True),  # bound elsewhere
    ({'mounts': '9 1 0:26 / /run rw - tmpfs tmpfs rw\n'}, False),
])
def test_namespaces_held_where_they_cannot_be_read_keep_the_module(proc, runner, holder, expected):
    _root, process = proc
    process('3', tables='filter\n', **holder)
    assert legacy_tables.other_namespaces_have(node(runner), 'ipv4', 'raw') is expected


@pytest.mark.parametrize('answer, tools, expected', [
    ((0, 'filter\n'), TOOLS, False),
    ((0, 'raw\n'), TOOLS, True),
    ((1, ''), TOOLS, True),
    (None, {}, True),                     # no nsenter to look inside: in doubt
])
def test_namespaces_without_a_process_are_read_through_nsenter(proc, runner, answer, tools, expected):
    root, _process = proc
    (root / 'self' / 'mountinfo').write_text('7 1 0:4 net:[99] /run/netns/blue rw - nsfs nsfs rw\n')
    if answer:
        runner.add(('--net=/run/netns/blue',), rc=answer[0], stdout=answer[1])
    assert legacy_tables.other_namespaces_have(node(runner, tools), 'ipv4', 'raw') is expected


@pytest.mark.parametrize('listing, rmmod_rc, unloaded', [
    (EMPTY_RAW, 0, True),
    (EMPTY_RAW + '-A OUTPUT -j ACCEPT\n', 0, False),   # somebody's rule: the table is theirs now
    (EMPTY_RAW, 1, False),                             # in use after all
])
def test_unload_only_an_empty_table(proc, runner, no_host_legacy_tables, listing, rmmod_rc, unloaded):
    no_host_legacy_tables(ipv4='raw\n')
    runner.add(('-t', 'raw', '-S'), stdout=listing).add(('--', 'iptable_raw'), rc=rmmod_rc)
    said = legacy_tables.unload(node(runner), 'ipv4', 'raw', 'iptable_raw')
    assert (said == 'legacy ipv4 table raw (module iptable_raw unloaded)') is unloaded
    assert bool(runner.commands('--', 'iptable_raw')) is (listing == EMPTY_RAW)


def test_drop_created_unloads_with_the_last_rule_and_forgets_the_entry(proc, runner, no_host_legacy_tables, tmp_path):
    no_host_legacy_tables(ipv4='raw\n')
    runner.add(('-t', 'raw', '-S'), stdout=EMPTY_RAW).add(('--', 'iptable_raw'))
    here = Node(runner, TOOLS, root=str(tmp_path / 'state'))
    os.makedirs(here.root)
    removal.note_legacy_table(here, 'ipv4', 'raw', 'iptable_raw')
    assert removal.drop_created(here) == ['legacy ipv4 table raw (module iptable_raw unloaded)']
    assert read_json(os.path.join(here.root, CREATED_FILE), {}) == {}


def test_drop_created_waits_while_a_run_still_has_rules_there(proc, runner, no_host_legacy_tables, tmp_path):
    no_host_legacy_tables(ipv4='raw\n')
    rule = '-A PREROUTING -p udp -m comment --comment "netdebug:other:1796550000" -j TRACE\n'
    runner.add(('-t', 'raw', '-S'), stdout=EMPTY_RAW + rule)
    here = Node(runner, TOOLS, root=str(tmp_path / 'state'))
    os.makedirs(here.root)
    write_json(os.path.join(here.root, CREATED_FILE), {'legacy ipv4 raw': {
        'backend': 'legacy', 'family': 'ipv4', 'table': 'raw', 'module': 'iptable_raw'}})
    assert removal.drop_created(here) == []
    assert not runner.commands('--', 'iptable_raw')
    assert 'legacy ipv4 raw' in read_json(os.path.join(here.root, CREATED_FILE), {})


def test_loaded_modules_come_from_the_shared_proc_modules_parser(tmp_path):
    path = tmp_path / 'proc-modules'  # where the rules' conftest points legacy_tables.PROC_MODULES
    assert legacy_tables.loaded_modules() is None  # no module support
    path.write_text('iptable_raw 16384 0 - Live 0x0000000000000000\n'
                    'x_tables 53248 1 iptable_raw, Live 0x0000000000000000\n')
    assert legacy_tables.loaded_modules() == {'iptable_raw', 'x_tables'}
    path.write_text('garbage\n')
    assert legacy_tables.loaded_modules() is None  # not /proc/modules as we know it: nothing counts as ours


@pytest.mark.parametrize('before, after, expected', [
    # a legacy TRACE rule's check: the target, and the loggers it pulls in, last
    ({'x_tables'}, {'x_tables', 'xt_TRACE', 'nf_log_syslog', 'xt_limit'}, ['xt_TRACE', 'xt_limit', 'nf_log_syslog']),
    ({'xt_LOG', 'nf_log_syslog'}, {'xt_LOG', 'nf_log_syslog', 'ipt_REJECT'}, ['ipt_REJECT']),  # only what it loaded
    (set(), {'iptable_raw', 'nft_compat', 'x_tables'}, []),    # tables go by unload(); nf_tables' own modules stay
    (None, {'xt_TRACE'}, []),                                  # no module list: in doubt, none is ours
])
def test_the_extensions_a_call_loaded(before, after, expected):
    assert legacy_tables.extensions_loaded_by_us(before, after) == expected


def test_check_mode_unloads_the_extensions_its_dry_run_loaded(runner, monkeypatch):
    """Check mode of a legacy TRACE rule on a node with loadable modules: the dry run loads xt_TRACE and
    nf_log_syslog (which binds the loggers); both go again. One a rule uses meanwhile stays: rmmod refuses it,
    again and again until the wait is over (a second here, on a fake clock)."""
    monkeypatch.setattr(legacy_tables, 'loaded_modules', lambda: {'x_tables', 'xt_TRACE', 'xt_time', 'nf_log_syslog'})
    now = [0.0]
    monkeypatch.setattr(legacy_tables, 'time', types.SimpleNamespace(
        monotonic=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds)))
    monkeypatch.setattr(legacy_tables, 'EXTENSION_WAIT', 1.0)
    runner.add(('--', 'xt_time'), rc=1, stderr='rmmod: ERROR: Module xt_time is in use').add('rmmod')
    said = legacy_tables.unload_dry_run_leftovers(node(runner), {'x_tables'}, [])
    assert said == ['module xt_TRACE unloaded', 'module nf_log_syslog unloaded']
    tries = [argv[-1] for argv in runner.argvs()]
    assert tries[0] == 'xt_TRACE' and tries[-1] == 'nf_log_syslog' and set(tries[1:-1]) == {'xt_time'}
    assert len(tries[1:-1]) == 6  # at 0, 0.2, ... 1.0 s: then it stays


def test_a_dry_runs_namespace_freed_late_still_lets_its_module_go(runner, monkeypatch):
    """The rule in the dry run's namespace holds xt_TRACE until the kernel frees that namespace, a moment later."""
    monkeypatch.setattr(legacy_tables, 'loaded_modules', lambda: {'xt_TRACE'})
    monkeypatch.setattr(legacy_tables, 'time', types.SimpleNamespace(monotonic=lambda: 0.0, sleep=lambda seconds: None))
    answers = iter([1, 1, 0])
    runner.add(lambda argv: argv[-1] == 'xt_TRACE' and next(answers) == 1, rc=1).add('rmmod')
    assert legacy_tables.unload_dry_run_leftovers(node(runner), set(), []) == ['module xt_TRACE unloaded']
    assert len(runner.argvs()) == 3
