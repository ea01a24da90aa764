# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables_trace on the vm lab (Debian 12 VMs with their own kernel and systemd as init), over SSH:
legacy TRACE lines in the VM's own kernel log, and expiry through the systemd transient timer.

Uses the vm lab if it is up (and leaves it up); otherwise brings one VM up and takes it down afterwards.
"""

from __future__ import annotations

import random
import socket
import time

import pytest

import rules_support as rs
from conftest import AnsibleRun
from labkit.vm import VmLab

TRACE = 'netdebug.netfilter.iptables_trace'
NODE = 'node1'
CONTROLLER = '198.18.1.254'


@pytest.fixture(scope='module')
def vm():
    lab = VmLab()
    started = False
    if not lab.status().get('up'):
        lab.down()
        lab.up(1)
        started = True
    try:
        yield lab
    finally:
        if started:
            lab.down()


@pytest.fixture(scope='module')
def ansible(vm):
    runner = AnsibleRun(vm.inventory())
    with rs.SshRetries():
        yield runner
        runner.module(NODE, TRACE, {'run_id': '*', 'state': 'absent'})


def ok(result):
    assert result.statuses().get(NODE) == 'ok', result
    return result.by_host()[NODE]


def kernel_log(vm):
    return rs.run(vm, NODE, ['dmesg'])


def send_udp(address, port, count=3):
    """From the controller (this machine, 198.18.1.254) to the VM."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for dummy in range(count):
            sock.sendto(b'netdebug-probe', (address, port))
            time.sleep(0.1)
    finally:
        sock.close()


def legacy_tables(vm):
    """The legacy IPv4 tables the VM's kernel holds, and whether iptable_raw is loaded (read without listing a
    table: listing one makes it)."""
    names = rs.run(vm, NODE, ['sh', '-c', 'cat /proc/net/ip_tables_names 2>/dev/null; true']).split()
    return names, 'iptable_raw' in rs.run(vm, NODE, ['cat', '/proc/modules'])


def test_legacy_trace_in_the_vms_kernel_log(vm, ansible):
    # Issue 15 footprint: from a VM without the legacy raw table, the run's table goes with its module at the end.
    rs.run(vm, NODE, ['sh', '-c', 'grep -qx raw /proc/net/ip_tables_names 2>/dev/null && rmmod iptable_raw; true'])
    tables_before = legacy_tables(vm)
    assert 'raw' not in tables_before[0] and not tables_before[1], tables_before
    before = rs.ruleset(vm, NODE)
    loggers = rs.run(vm, NODE, ['cat', '/proc/net/netfilter/nf_log'], check=False)
    if ' 2 NONE' in loggers:
        res = ansible.module(NODE, TRACE, {'run_id': 'vmlegacy', 'backend': 'legacy', 'protocol': 'udp'})
        assert res.statuses()[NODE] == 'failed' and 'netdebug.netfilter.nf_log' in res.by_host()[NODE]['msg']
        assert rs.ruleset(vm, NODE) == before
    ok(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'run_id': 'vmlegacy', 'families': ['ipv4']}))
    try:
        dport = random.randint(20000, 60000)
        res = ok(ansible.module(NODE, TRACE, {'run_id': 'vmlegacy', 'backend': 'legacy', 'protocol': 'udp',
                                              'destination_port': str(dport), 'hooks': ['PREROUTING']}))
        assert res['kernel_log'] and res['reapers'][0]['kind'] == 'systemd'
        send_udp(vm.status()['addresses'][NODE], dport)
        lines = rs.wait_until(lambda: [l for l in kernel_log(vm).splitlines()
                                       if 'TRACE:' in l and 'DPT=%d' % dport in l], 15, what='TRACE lines in the VM')
        # rule 1 counts, rule 2 is the TRACE rule: the lines start after them
        assert any('TRACE: raw:PREROUTING:policy:3 ' in l for l in lines), lines
        assert all('SRC=%s ' % CONTROLLER in l for l in lines), lines
        assert legacy_tables(vm)[1]  # our insert loaded it
        removed = ok(ansible.module(NODE, TRACE, {'run_id': 'vmlegacy', 'state': 'absent'}))['removed']
        assert 'legacy ipv4 table raw (module iptable_raw unloaded)' in removed['tables'], removed
        assert legacy_tables(vm) == tables_before
    finally:
        ok(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'run_id': 'vmlegacy', 'state': 'absent'}))
    assert rs.ruleset(vm, NODE) == before


def test_systemd_timer_removes_the_rules(vm, ansible):
    before = rs.ruleset(vm, NODE)
    # ttl 20, not less: on a loaded TCG guest the module call and the SSH checks below take several seconds each,
    # and the monitor (alive until its own timeout, ttl + 10 s) must still be there when looked for.
    res = ok(ansible.module(NODE, TRACE, {'run_id': 'vmtimer', 'protocol': 'icmp', 'ttl': 20}))
    assert res['backend'] == 'nft' and res['reapers'][0]['kind'] == 'systemd'
    unit = res['reapers'][0]['unit']
    assert unit == 'netdebug-reap-vmtimer-%d' % res['expires_at']
    assert 'active' in rs.run(vm, NODE, ['systemctl', 'is-active', unit + '.timer'], check=False)
    assert rs.tagged_lines(vm, NODE, 'vmtimer')
    # The monitor runs under timeout and a /bin/sh restart loop: on a slow TCG guest it may not have been exec'd yet.
    rs.wait_until(lambda: rs.processes(vm, NODE, 'xtables-monitor --trace'), 10, what='the trace monitor on ' + NODE)
    rs.wait_until(lambda: not rs.tagged_lines(vm, NODE, 'vmtimer') and not rs.processes(vm, NODE, 'xtables-monitor'),
                  res['expires_at'] - time.time() + 30, what='the systemd timer to remove the run')
    # When, by the journal: polling a TCG VM over SSH is slow, the timer is not. (The reaper.log went with the run's
    # directory.) The timer fires at the expiry (AccuracySec=1s); the reaper itself, a Python start and the nft and
    # kill calls, took up to 4.2 s on a loaded TCG guest, so its end gets a wider bound.
    started, removed = rs.journal_reaper_times(vm, NODE, unit, res['expires_at'])
    assert started is not None and removed is not None
    assert started - res['expires_at'] <= 2
    assert removed - res['expires_at'] <= 10
    assert rs.ruleset(vm, NODE) == before
    journal = rs.run(vm, NODE, ['journalctl', '--no-pager', '-u', unit + '.service'])
    # PREROUTING and OUTPUT, each a TRACE rule and the count rule above it
    assert len(res['rules']) == 4
    assert 'reaper for expiry %d: removed 4 rule(s), stopped 1 monitor(s)' % res['expires_at'] in journal
    assert rs.run(vm, NODE, ['sh', '-c', 'ls -A /run/netdebug 2>/dev/null || true']).strip() == ''
    assert rs.run(vm, NODE, ['systemctl', 'is-active', unit + '.timer'], check=False).strip() != 'active'


@pytest.mark.parametrize('backend', ['auto', 'nftables'])
def test_four_steps_on_a_vm(vm, ansible, backend):
    before = rs.ruleset(vm, NODE)
    args = {'run_id': 'vmfour', 'backend': backend, 'protocol': 'tcp', 'destination_port': '22', 'ttl': 300}
    assert ok(ansible.module(NODE, TRACE, args, check=True))['changed']
    assert rs.ruleset(vm, NODE) == before
    assert ok(ansible.module(NODE, TRACE, args))['changed']
    assert not ok(ansible.module(NODE, TRACE, args, check=True))['changed']
    assert not ok(ansible.module(NODE, TRACE, args))['changed']
    assert ok(ansible.module(NODE, TRACE, {'run_id': 'vmfour', 'state': 'absent'}))['changed']
    assert rs.ruleset(vm, NODE) == before
    assert 'netdebug-reap' not in rs.run(vm, NODE, ['systemctl', 'list-units', '--all', '--plain', '--no-legend'])
