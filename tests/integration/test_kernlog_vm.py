# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsyslog_kernlog, nf_log and the kernlog/log_modules roles on a Debian 12 VM of the vm lab.

Real kernel (module loading on), real rsyslog under systemd, Ansible over SSH. The tests run in file order:
nf_log first, because it needs a node where the LOG/TRACE modules are not loaded yet. Every test puts the node
back as it found it (rules by exact spec, drop-ins through state=absent, modules through nf_log state=absent).
When the vm lab is already up (another suite's), it is used and left up; otherwise this module brings up one
node and takes the lab down afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from ansible_collections.netdebug.netfilter.tests.integration.conftest import AnsibleRun
from ansible_collections.netdebug.netfilter.tests.integration.local_apt_repo import LocalAptRepo

NODE = 'node1'
NF_MODULES = ('xt_LOG', 'xt_TRACE', 'nf_log_syslog', 'nfnetlink_log', 'xt_NFLOG')
CONFIG_SNAPSHOT = ('cd /etc && find rsyslog.conf rsyslog.d logrotate.d -exec stat -c "%n %a %U:%G %s" {} + | sort '
                   '&& find rsyslog.conf rsyslog.d logrotate.d -type f -exec sha256sum {} + | sort')


@pytest.fixture(scope='module')
def vm():
    try:
        from labkit.vm import VmLab  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        pytest.skip('the vm lab kind is not available (tests/lab/labkit/vm.py): %s' % exc)
    if not shutil.which('qemu-system-x86_64'):
        pytest.skip('qemu-system-x86_64 is not installed: the vm lab cannot run here')
    lab = VmLab()
    deadline = time.time() + 1200
    while lab.status().get('phase') == 'booting' and time.time() < deadline:
        time.sleep(5)  # another suite is bringing the lab up: wait for it rather than break it
    owned = not lab.status().get('up')
    if owned:
        lab.down()
        lab.up(1)
    try:
        yield lab
    finally:
        if owned:
            lab.down()


@pytest.fixture(scope='module')
def ansible(vm):
    return AnsibleRun(vm.inventory())


class Node:
    """Shell access to node1 for setup and inspection (not for the code under test)."""

    def __init__(self, lab):
        self.lab = lab

    def sh(self, script, check=True, timeout=120):
        proc = self.lab.exec(NODE, ['sh', '-c', script], timeout=timeout)
        out = proc.stdout.decode('utf-8', 'replace')
        if check:
            assert proc.returncode == 0, (script, proc.returncode, out, proc.stderr.decode('utf-8', 'replace'))
        return out

    def modules(self):
        return set(line.split()[0] for line in self.sh('cat /proc/modules').splitlines() if line.strip())

    def nf_log(self):
        return self.sh('cat /proc/net/netfilter/nf_log')

    def config(self):
        return self.sh(CONFIG_SNAPSHOT)

    def restart_rsyslog(self):
        self.sh('systemctl restart rsyslog && systemctl is-active rsyslog')

    def wait_for(self, path, needles, timeout=20):
        deadline = time.time() + timeout
        text = ''
        while time.time() < deadline:
            text = self.sh('cat %s 2>/dev/null || true' % path)
            if all(needle in text for needle in needles):
                return text
            time.sleep(1)
        raise AssertionError('%s did not get %r within %d s; it has:\n%s' % (path, needles, timeout, text[-3000:]))


@pytest.fixture(scope='module')
def node(vm):
    return Node(vm)


def _one(result):
    assert len(result.results) == 1, result
    return result.results[0]


def _four_steps(ansible, module, args):
    """check, apply, check, apply: returns the four results (asserted ok)."""
    out = []
    for check in (True, False, True, False):
        entry = _one(ansible.module(NODE, module, args, check=check, diff=True))
        assert entry['status'] == 'ok', entry
        out.append(entry['result'])
    assert [r['changed'] for r in out] == [True, True, False, False], out
    return out


# --- nf_log ----------------------------------------------------------------------------------------------------

def test_nf_log_loads_xt_log_and_puts_everything_back(node, ansible):
    loaded = node.modules() & set(NF_MODULES)
    if loaded:  # a reused lab: unload what nobody uses, so that this test starts from a booted node's state
        node.sh('for m in xt_NFLOG nfnetlink_log xt_TRACE xt_LOG nf_log_syslog; do rmmod $m 2>/dev/null; done; true')
        if node.modules() & set(NF_MODULES):
            pytest.fail('node1 has %s loaded and in use; run with a freshly booted vm lab'
                        % sorted(node.modules() & set(NF_MODULES)))
    modules_before, nf_log_before = node.modules(), node.nf_log()
    assert 'NONE' in nf_log_before.splitlines()[2]  # no syslog logger without nf_log_syslog

    args = {'run_id': 'ndkl-vm1'}
    query = _one(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'state': 'query'}))['result']
    assert query['modules']['xt_LOG'] == 'loadable' and query['modules']['nf_log_syslog'] == 'loadable'
    assert query['module_loading'] is True and query['loggers']['ipv4'] is None

    steps = _four_steps(ansible, 'netdebug.netfilter.nf_log', args)
    assert steps[0]['loggers']['ipv4'] == 'nf_log_ipv4'        # check mode predicts ...
    assert steps[0]['modules']['xt_LOG'] == 'loaded'
    assert 'xt_LOG' in steps[1]['loaded'] and 'nf_log_syslog' in steps[1]['loaded']  # ... and apply does it
    assert steps[1]['previous']['loggers']['ipv4'] is None
    assert steps[1]['set'] == {'net.netfilter.nf_log.2': 'nf_log_ipv4', 'net.netfilter.nf_log.10': 'nf_log_ipv6'}
    assert steps[3]['modules']['xt_LOG'] == 'loaded' and steps[3]['loaded'] == []
    assert {'xt_LOG', 'xt_TRACE', 'nf_log_syslog'} <= node.modules()
    assert node.sh('cat /proc/sys/net/netfilter/nf_log/2').strip() == 'nf_log_ipv4'

    released = _four_steps(ansible, 'netdebug.netfilter.nf_log', dict(args, state='absent'))
    assert set(released[1]['unloaded']) >= {'xt_LOG', 'xt_TRACE', 'nf_log_syslog'}
    assert node.modules() == modules_before
    assert node.nf_log() == nf_log_before


def test_nf_log_never_unloads_what_it_did_not_load(node, ansible):
    node.sh('modprobe xt_LOG')  # "someone else" loads the LOG target
    try:
        result = _one(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'run_id': 'ndkl-vm2'}))['result']
        assert 'xt_LOG' not in result['loaded'] and 'xt_TRACE' in result['loaded']
        assert result['modules']['xt_LOG'] == 'loaded'
        # ipt_LOG is an alias of xt_LOG: the second run sees it and reports unchanged.
        again = _one(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'run_id': 'ndkl-vm2'}))['result']
        assert again['changed'] is False
        released = _one(ansible.module(NODE, 'netdebug.netfilter.nf_log',
                                       {'run_id': 'ndkl-vm2', 'state': 'absent'}))['result']
        assert 'xt_LOG' not in released['unloaded']
        assert 'xt_LOG' in node.modules()
    finally:
        node.sh('rmmod xt_LOG; true')


# --- rsyslog_kernlog ----------------------------------------------------------------------------------------------

KERNLOG = 'netdebug.netfilter.rsyslog_kernlog'


def test_rsyslog_kernlog_four_steps_and_absent_is_byte_identical(node, ansible):
    before = node.config()
    args = {'exclusive': True, 'logrotate': True, 'prefixes': ['ndkl:']}
    steps = _four_steps(ansible, KERNLOG, args)
    assert steps[0]['kernel_input'] == 'imklog' and steps[0]['rate_limit']['enabled'] is False
    assert steps[1]['validated'] is True
    assert [step['created'] for step in steps] == [True, True, False, False]  # what was there before each call
    assert (steps[1]['owner'], steps[1]['group'], steps[1]['mode']) == ('root', 'adm', '0640')
    assert node.sh('cat /etc/rsyslog.d/30-netdebug-kernlog.conf') == steps[1]['dropin']
    assert node.sh('stat -c "%a %U:%G" /etc/rsyslog.d/30-netdebug-kernlog.conf /etc/logrotate.d/netdebug-kernlog') \
        == '644 root:root\n644 root:root\n'
    assert 'size 100M' in node.sh('cat /etc/logrotate.d/netdebug-kernlog')
    _logrotate_accepts(node, node.sh('cat /etc/logrotate.d/netdebug-kernlog'))
    _four_steps(ansible, KERNLOG, dict(args, state='absent'))
    assert node.config() == before


def _logrotate_accepts(node, content):
    """logrotate -d accepts the drop-in: on the node if it has logrotate (the lab image does not), else here."""
    if node.sh('command -v logrotate || true').strip():
        node.sh('logrotate -d /etc/logrotate.d/netdebug-kernlog')
        return
    local = shutil.which('logrotate', path='/usr/sbin:/sbin:/usr/bin')
    if not local:
        pytest.skip('logrotate is installed neither on the node nor here')
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, 'netdebug-kernlog')
        with open(conf, 'w') as handle:
            handle.write(content)
        proc = subprocess.run([local, '-d', '-s', os.path.join(tmp, 'state'), conf], capture_output=True, text=True,
                              check=False)
    assert proc.returncode == 0 and 'error' not in proc.stderr.lower(), proc.stderr


def test_rejected_dropin_is_refused_and_nothing_changes(node, ansible):
    before = node.config()
    entry = _one(ansible.module(NODE, KERNLOG, {'template': 'NoSuchTemplate'}))
    assert entry['status'] == 'failed'
    msg = entry['result']['msg']
    assert "Could not find template 0 'NoSuchTemplate'" in msg
    assert '/etc/rsyslog.d/30-netdebug-kernlog.conf' in msg and 'nothing changed' in msg
    assert node.config() == before


def _send_through_rules(node, tag, port):
    """Legacy raw OUTPUT rules on lo for one UDP port (TRACE, LOG level 7, LOG level 4), one packet, rules removed."""
    rules = [
        ['-p', 'udp', '--dport', str(port), '-m', 'comment', '--comment', tag, '-j', 'TRACE'],
        ['-p', 'udp', '--dport', str(port), '-m', 'comment', '--comment', tag, '-j', 'LOG',
         '--log-prefix', '%s-d7: ' % tag, '--log-level', '7'],
        ['-p', 'udp', '--dport', str(port), '-m', 'comment', '--comment', tag, '-j', 'LOG',
         '--log-prefix', '%s-w4: ' % tag, '--log-level', '4'],
    ]

    def spec(rule):
        return ' '.join("'%s'" % arg for arg in ['-o', 'lo'] + rule)

    try:
        for rule in rules:
            node.sh('iptables-legacy -w 10 -t raw -I OUTPUT 1 %s' % spec(rule))
        node.sh('python3 -c \'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", '
                '("127.0.0.1", %d))\'' % port)
    finally:
        for rule in rules:
            node.sh('iptables-legacy -w 10 -t raw -D OUTPUT %s' % spec(rule), check=False)
    assert tag not in node.sh('iptables-legacy-save -t raw')


def _journal_priorities(node, needle):
    """PRIORITY of the kernel's journal entries whose message contains needle."""
    out = node.sh('journalctl -k -o json --no-pager --since -10min')
    return sorted(set(json.loads(line).get('PRIORITY') for line in out.splitlines()
                      if line.strip() and needle in json.loads(line).get('MESSAGE', '')))


@pytest.mark.parametrize('exclusive', [False, True])
def test_real_log_and_trace_lines(node, ansible, exclusive):
    """LOG at --log-level 7 and TRACE (severity warning) reach the file; LOG at level 4 does not (no prefix for it);
    with exclusive only the file has them."""
    result = _one(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'run_id': 'ndkl-vm3'}))
    assert result['status'] == 'ok', result
    try:
        entry = _one(ansible.module(NODE, KERNLOG, {'exclusive': exclusive}))
        assert entry['status'] == 'ok', entry
        node.restart_rsyslog()
        tag, port = 'ndkl%s' % uuid.uuid4().hex[:6], random.randint(40000, 60000)
        _send_through_rules(node, tag, port)
        dpt = 'DPT=%d ' % port
        fw = node.wait_for('/var/log/firewall', ['%s-d7: ' % tag, 'TRACE: raw:OUTPUT:'])
        time.sleep(2)  # let rsyslog write whatever else it would write
        fw = node.sh('cat /var/log/firewall')
        assert '%s-w4: ' % tag not in fw       # a level-4 LOG line is not "debug" and has no captured prefix
        assert any(dpt in line for line in fw.splitlines() if 'TRACE: ' in line)
        # The kernel's own priorities, from the journal: TRACE is warning (4), our LOG rule debug (7).
        assert _journal_priorities(node, 'TRACE: raw:OUTPUT:') == ['4']
        assert _journal_priorities(node, '%s-d7: ' % tag) == ['7']
        elsewhere = node.sh('cat /var/log/syslog /var/log/kern.log /var/log/messages /var/log/debug 2>/dev/null; true')
        ours = [line for line in elsewhere.splitlines()
                if '%s-d7: ' % tag in line or ('TRACE: ' in line and dpt in line)]
        if exclusive:
            assert not ours, ours
            assert '%s-w4: ' % tag in elsewhere  # not captured (level 4, no prefix): it still goes to syslog/kern.log
        else:
            assert '%s-d7: ' % tag in elsewhere and any('TRACE: ' in line for line in ours)
    finally:
        cleanup = _one(ansible.module(NODE, KERNLOG, {'state': 'absent', 'remove_log': True}))
        assert cleanup['status'] == 'ok', cleanup
        node.restart_rsyslog()
        released = _one(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'run_id': 'ndkl-vm3', 'state': 'absent'}))
        assert released['status'] == 'ok', released


# --- roles ------------------------------------------------------------------------------------------------------

PLAY = """
- hosts: node1
  gather_facts: false
  roles:
    - role: netdebug.netfilter.log_modules
      vars: {netdebug_run_id: ndkl-role, netdebug_log_modules_state: %(state)s}
    - role: netdebug.netfilter.kernlog
      vars: {netdebug_kernlog_exclusive: true, netdebug_kernlog_state: %(state)s}
  post_tasks:
    - name: Report the kernel log source
      ansible.builtin.debug:
        msg: "{{ netdebug_kernlog_source | default('') }}"
"""


def _play(ansible, tmp_path, state='present', extra_vars=None):
    playbook = tmp_path / ('play-%s.yml' % state)
    playbook.write_text(PLAY % {'state': state})
    return ansible.playbook(playbook, extra_vars=extra_vars)


def _tasks(result):
    """(task name without its role prefix, status) of every recorded result, handlers included."""
    return [(r['task'].split(' : ', 1)[-1], r['status']) for r in result.results]


def task_results(result, name):
    """The recorded results (of an AnsibleResult or a list of them) of the task with this name, without its role
    prefix; handlers included."""
    return [r for r in getattr(result, 'results', result) if r['task'].split(' : ', 1)[-1] == name]


def _rsyslog_pid(node):
    return node.sh('systemctl show -p MainPID --value rsyslog').strip()


def _no_probe_rule(node):
    # without -t: naming a legacy table would make it
    rules = node.sh('iptables-save 2>/dev/null; iptables-legacy-save 2>/dev/null; true')
    return 'ndprobe:' not in rules


def test_roles_prepare_probe_and_restart_only_on_change(node, ansible, tmp_path):
    before, modules_before = node.config(), node.modules() & set(NF_MODULES)
    try:
        first = _play(ansible, tmp_path)
        assert first.rc == 0, first
        assert ('Restart rsyslog', 'ok') in _tasks(first)
        assert ('Wait for the probe line in the log file', 'ok') in _tasks(first)
        assert first.by_host('Report the kernel log source')[NODE]['msg'] == 'rsyslog'
        assert _no_probe_rule(node)
        assert 'ndprobe:' in node.sh('cat /var/log/firewall')
        elsewhere = node.sh('tail -n 300 /var/log/syslog /var/log/kern.log').splitlines()
        assert not [line for line in elsewhere if ' kernel: ' in line and 'ndprobe:' in line]  # exclusive
        pid = _rsyslog_pid(node)

        second = _play(ansible, tmp_path)
        assert second.rc == 0, second
        assert 'Restart rsyslog' not in [task for task, _status in _tasks(second)]
        assert _rsyslog_pid(node) == pid
        assert ('Wait for the probe line in the log file', 'ok') in _tasks(second)
        assert _no_probe_rule(node)
    finally:
        cleanup = _play(ansible, tmp_path, 'absent')
        assert cleanup.rc == 0, cleanup
    assert node.config() == before
    assert node.modules() & set(NF_MODULES) == modules_before  # the probe's iptables-nft modules are not ours


DROPIN = '/etc/rsyslog.d/30-netdebug-kernlog.conf'


def _capture(ansible, tmp_path, incident, **extra):
    """The capture playbook on node1 with legacy TRACE (so its lines go through rsyslog), no traffic needed."""
    extra_vars = dict({'netdebug_incident_id': incident, 'netdebug_duration': 3, 'netdebug_backend': 'legacy',
                       'netdebug_match': {'protocol': 'udp', 'destination_port': '9'}, 'netdebug_conntrack': False,
                       'netdebug_bundle_dir': str(tmp_path)}, **extra)
    result = ansible.playbook('netdebug.netfilter.capture', extra_vars=extra_vars)
    assert result.rc == 0, result
    with open(os.path.join(str(tmp_path), incident, 'manifest.json')) as handle:
        entry = json.load(handle)['hosts'][NODE]
    assert entry['status'] == 'ok' and 'trace/kernel.log' in {f['path'] for f in entry['files']}, (
        entry['reason'], entry['warnings'])
    return result


def _legacy_raw_loaded(node):
    return 'iptable_raw' in node.modules()


def _without_legacy_raw(node):
    """Unload the legacy raw table the tests above made (empty by now), so that a capture starts from a node
    without it."""
    node.sh('if grep -qx raw /proc/net/ip_tables_names 2>/dev/null && ! iptables-legacy -w -t raw -S | grep -q "^-[AN]"; '
            'then rmmod iptable_raw; fi; true')
    assert not _legacy_raw_loaded(node), node.sh('cat /proc/net/ip_tables_names; iptables-legacy -w -t raw -S; true')


def _exists(node, path):
    return node.sh('test -e %s && echo yes || echo no' % path).strip() == 'yes'


def test_capture_removes_the_dropin_it_installed_unless_kept(node, ansible, tmp_path):
    """Issue 15 footprint: a capture that installs the rsyslog drop-in removes it, its logrotate file and the log
    file rsyslog created for it once the window's lines are collected; netdebug_kernlog_keep keeps them, a later
    capture leaves a drop-in it found alone, and cleanup removes it."""
    node.sh('rm -f /var/log/firewall')  # made by the tests above: this one starts from a node without it
    # ... and without the legacy raw table they made: the legacy table the capture makes goes with its module
    # (the capture checks that the ruleset after equals the one before; _capture asserts every host ok)
    _without_legacy_raw(node)
    before = node.config()
    assert not _exists(node, DROPIN)
    first = _capture(ansible, tmp_path, 'vmdrop-1')
    assert not _legacy_raw_loaded(node)
    assert ('Remove the netfilter drop-in and its logrotate file', 'ok') in _tasks(first)  # it ran (changed shows as ok)
    assert node.config() == before and not _exists(node, '/var/log/firewall')

    _capture(ansible, tmp_path, 'vmdrop-2', netdebug_kernlog_keep=True)
    assert _exists(node, DROPIN) and _exists(node, '/etc/logrotate.d/netdebug-kernlog')
    kept = node.config()
    third = _capture(ansible, tmp_path, 'vmdrop-3')  # finds the drop-in: not this capture's to remove
    assert 'Remove the netfilter drop-in and its logrotate file' not in [t for t, _s in _tasks(third)]
    assert node.config() == kept

    cleanup = ansible.playbook('netdebug.netfilter.cleanup')
    assert cleanup.rc == 0, cleanup
    assert node.config() == before


def test_a_lost_controller_leaves_no_dropin_after_the_ttl(node, ansible, tmp_path):
    """Issue 15 footprint, by the node itself: the controller is SIGKILLed mid-window, before its collect step
    could remove the drop-in the capture installed. By the window's end plus the margin (the drop-in's and the
    loggers' ttl as well as the rules') the node has removed the drop-in, its logrotate file and the log file rsyslog
    created for it, and restarted rsyslog; the rules, the logger bindings and modules, the state directory and our
    processes are as before too."""
    node.sh('rm -f /var/log/firewall')
    _without_legacy_raw(node)
    before, pid = _state(node), _rsyslog_pid(node)
    assert not _exists(node, DROPIN)
    incident = 'vmlost-1'
    # The margin covers prepare on a slow TCG guest (its probe alone takes tens of seconds there): the drop-in's and
    # the loggers' expiry count from the window as planned before prepare, and a prepare that outlasts it leaves the
    # window nothing to log with. 60 s was too short beside the netns suite in CI; 120 is the default's least.
    margin = 120
    argv = ['ansible-playbook', '-i', ansible.inventory, 'netdebug.netfilter.capture', '-e', json.dumps({
        'netdebug_incident_id': incident, 'netdebug_duration': 10, 'netdebug_ttl_margin': margin,
        'netdebug_backend': 'legacy', 'netdebug_match': {'protocol': 'udp', 'destination_port': '9'},
        'netdebug_conntrack': False, 'netdebug_bundle_dir': str(tmp_path)})]
    # The task after the one that arms the window: run.json is on the node by then.
    _kill_controller_when(ansible, argv, tmp_path / 'controller.log', "TASK [netdebug.netfilter.trace : Decide this round",
                          lambda: node.sh('test -s /run/netdebug/runs/%s/run.json && echo yes || true' % incident).strip())
    assert _exists(node, DROPIN) and _exists(node, '/run/netdebug/kernlog')
    # Everything goes at the window's end plus the margin, on the node's clock; 30 s more for the reapers' Python
    # start and rsyslog's restart on a loaded TCG guest.
    window = json.loads(node.sh('cat /run/netdebug/runs/%s/run.json' % incident))['window']
    deadline = time.time() + (window['end'] + margin + 30 - float(node.sh('date +%s.%N')))
    while time.time() < deadline and (_exists(node, DROPIN) or _state(node) != before):
        time.sleep(5)  # each look is four SSH logins to the guest
    expiry_log = node.sh('journalctl -q --no-pager -t python3 -g "netdebug kernlog" 2>/dev/null | tail -3; true')
    assert _state(node) == before, (expiry_log, node.sh(NODE_STATE))
    assert not _exists(node, '/var/log/firewall') and _rsyslog_pid(node) != pid, expiry_log


def test_failed_probe_fails_the_role_and_removes_its_rule(node, ansible, tmp_path):
    before = node.config()
    # An earlier drop-in that swallows every kernel message: the probe line can never reach the file.
    node.sh("printf '%s\\n' \"if \\$syslogfacility-text == 'kern' then stop\" > /etc/rsyslog.d/10-ndkl-block.conf")
    node.restart_rsyslog()
    try:
        result = _play(ansible, tmp_path)
        assert result.rc != 0
        failed = [r for r in result.results if r['status'] == 'failed']
        assert failed and 'The kernel log pipeline does not work on node1' in failed[-1]['result']['msg']
        assert ('Remove the probe LOG rule', 'ok') in _tasks(result)
        assert _no_probe_rule(node)
    finally:
        node.sh('rm -f /etc/rsyslog.d/10-ndkl-block.conf')
        cleanup = _play(ansible, tmp_path, 'absent')
        assert cleanup.rc == 0, cleanup
        node.restart_rsyslog()
    assert node.config() == before


# Counters stripped: packets keep flowing through the chains.
NODE_STATE = ('{ iptables-nft-save; iptables-legacy-save; ip6tables-nft-save; ip6tables-legacy-save; } 2>/dev/null | '
              'grep -v "^#" | sed -E "s/ \\[[0-9]+:[0-9]+\\]//"; '
              'nft list ruleset | sed -E "s/counter packets [0-9]+ bytes [0-9]+/counter/"; '
              'cat /proc/net/netfilter/nf_log /proc/sys/net/netfilter/nf_log_all_netns; '
              'find /run/netdebug 2>/dev/null; ps -eo args | grep -e /run/netdebug/ -e ndprobe | grep -v grep; true')


def _state(node):
    """Everything prepare may change besides /etc (node.config) and the modules: every backend's ruleset, the logger
    bindings and nf_log_all_netns, the state directory and our processes."""
    return node.config(), node.modules() & set(NF_MODULES), node.sh(NODE_STATE)


def test_prepare_in_check_mode_changes_nothing(node, ansible):
    """Issue 15: prepare --check ends rc 0 without a change, a probe or a restart on the node. Issue 20: prepare
    runs ahead of incidents, so it needs no incident id."""
    before, pid = _state(node), _rsyslog_pid(node)
    res = ansible.playbook('netdebug.netfilter.prepare', check=True)
    assert res.rc == 0, res
    assert 'Insert the probe LOG rule' not in [task for task, _status in _tasks(res)]
    assert _state(node) == before and _rsyslog_pid(node) == pid


def test_controller_killed_during_the_probe_nothing_left_by_its_ttl(node, ansible, tmp_path):
    """Issue 15: SIGKILL to the whole controller while the kernel-log probe waits for its line. The probe's rule
    is tagged with its own run and expires on the node (probe timeout + 60 s): by then the rulesets, modules,
    bindings, state directory and processes are as before; the drop-in prepare installed is prepare's to keep, and
    goes with the role's state=absent."""
    before = _state(node)
    # An earlier drop-in that swallows every kernel message: the probe waits its whole timeout for its line.
    node.sh("printf '%s\\n' \"if \\$syslogfacility-text == 'kern' then stop\" > /etc/rsyslog.d/10-ndkl-block.conf")
    node.restart_rsyslog()
    argv = ['ansible-playbook', '-i', ansible.inventory, 'netdebug.netfilter.prepare', '-e',
            json.dumps({'netdebug_incident_id': 'prep-kill', 'netdebug_kernlog_probe_timeout': 30})]
    try:
        killed = _kill_controller_when(ansible, argv, tmp_path / 'controller.log',
                                       'TASK [netdebug.netfilter.kernlog : Send the probe packet]',
                                       lambda: not _no_probe_rule(node))
        # ttl 30 + 60 s from the rule's insertion, just before `killed`
        deadline = killed + 90 + 30
        while not _no_probe_rule(node) and time.time() < deadline:
            time.sleep(5)
        assert _no_probe_rule(node), node.sh('iptables-save -t raw; cat /run/netdebug/runs/*/*.log 2>/dev/null; true')
    finally:
        node.sh('rm -f /etc/rsyslog.d/10-ndkl-block.conf')
        cleanup = _play(ansible, tmp_path, 'absent')
        assert cleanup.rc == 0, cleanup
        released = _one(ansible.module(NODE, 'netdebug.netfilter.nf_log', {'run_id': 'prep-kill', 'state': 'absent'}))
        assert released['status'] == 'ok', released
        node.restart_rsyslog()
    assert _state(node) == before


def _kill_controller_when(ansible, argv, log, marker, ready):
    """Run argv (ansible-playbook) as its own process tree until its output shows marker (at most 420 s), check
    ready() on the node once, then SIGKILL every process of it at once; returns when. The controller's own output is
    watched, not the node: an SSH login every half second costs a one-CPU TCG guest more than the play itself."""
    env = dict(ansible._env(os.devnull), PYTHONUNBUFFERED='1')  # pylint: disable=protected-access
    with open(log, 'wb') as out, subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                  start_new_session=True) as proc:
        try:
            deadline = time.time() + 420
            while proc.poll() is None and time.time() < deadline and marker not in log.read_text():
                time.sleep(0.5)
            assert marker in log.read_text() and ready(), log.read_text()[-3000:]
            return time.time()
        finally:
            for victim in _process_tree(proc.pid):
                try:
                    os.kill(victim, 9)
                except ProcessLookupError:
                    pass
            proc.wait(60)


def _process_tree(root):
    """root and every descendant (Ansible's workers leave the process group), read from /proc."""
    children = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open('/proc/%s/stat' % name, encoding='ascii', errors='replace') as handle:
                    children.setdefault(int(handle.read().rsplit(')', 1)[1].split()[1]), []).append(int(name))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def test_role_falls_back_to_the_journal_without_rsyslog(node, ansible, tmp_path):
    before = node.config()
    # rsyslog "not installed": its binary out of the way (the running daemon is not affected); put back below.
    node.sh('mv /usr/sbin/rsyslogd /usr/sbin/rsyslogd.ndkl-away')
    try:
        result = _play(ansible, tmp_path)
        assert result.rc == 0, result
        assert result.by_host('Report the kernel log source')[NODE]['msg'] == 'journal'
        assert ('Wait for the probe line in the kernel log', 'ok') in _tasks(result)
        assert ('Install the netfilter drop-in (validated with rsyslogd -N1 before it is written)', 'ok') \
            not in _tasks(result)
        assert _no_probe_rule(node)
    finally:
        node.sh('mv /usr/sbin/rsyslogd.ndkl-away /usr/sbin/rsyslogd')
        cleanup = _play(ansible, tmp_path, 'absent')
        assert cleanup.rc == 0, cleanup
    assert node.config() == before


# --- netdebug_install_packages ------------------------------------------------------------------------------------

LOCAL_SOURCE = '/etc/apt/sources.list.d/ndkl-local.list'
# What the node's apt needs from the controller: rsyslog (its libraries stay installed when it is removed) and
# python3-apt, which ansible.builtin.apt installs for itself where it is missing (the lab image has none).
SERVED = ('rsyslog', 'python3-apt', 'python-apt-common', 'distro-info-data')


def _installed(node):
    """Names of the packages dpkg has installed on the node."""
    out = node.sh("dpkg-query -W -f '${db:Status-Abbrev}${Package}\\n'")
    return set(line[3:].strip() for line in out.splitlines() if line.startswith('ii '))


def test_role_installs_rsyslog_only_when_asked(node, ansible, tmp_path):
    """rsyslog removed; the repository is reachable, yet with the default the role falls back to the journal and
    installs nothing; with netdebug_install_packages=true it installs rsyslog and its probe line reaches the file."""
    before, packages_before = node.config(), _installed(node)
    assert 'rsyslog' in packages_before
    with LocalAptRepo(SERVED) as repo:
        node.sh('apt-get -y -q remove rsyslog')
        try:
            node.sh("printf '%%s' '%s' > %s" % (repo.source_line, LOCAL_SOURCE))
            # The image's own sources are unreachable from the lab (warnings only), as they are for the apt module.
            node.sh('apt-get -q update', check=False)
            policy = node.sh('apt-cache policy rsyslog')
            assert 'Candidate: ' in policy and 'Candidate: (none)' not in policy, policy

            fallback = _play(ansible, tmp_path)
            assert fallback.rc == 0, fallback
            assert fallback.by_host('Report the kernel log source')[NODE]['msg'] == 'journal'
            assert ('Install rsyslog (netdebug_install_packages is true)', 'skipped') in _tasks(fallback)
            why = [r['result']['msg'] for r in task_results(fallback, 'Say why there is no log file')]
            assert why and 'rsyslog is not installed' in why[0] and 'netdebug_install_packages is false' in why[0]
            assert 'rsyslog' not in _installed(node)
            assert _no_probe_rule(node)

            installed = _play(ansible, tmp_path, extra_vars={'netdebug_install_packages': True})
            assert installed.rc == 0, installed
            install = task_results(installed, 'Install rsyslog (netdebug_install_packages is true)')
            assert install and install[0]['status'] == 'ok' and install[0]['result']['changed'] is True, install
            assert installed.by_host('Report the kernel log source')[NODE]['msg'] == 'rsyslog'
            assert ('Wait for the probe line in the log file', 'ok') in _tasks(installed)
            assert 'rsyslog' in _installed(node)
            assert node.sh('systemctl is-active rsyslog').strip() == 'active'
            prefix = [r['result']['ansible_facts']['__netdebug_kernlog_probe_prefix']
                      for r in task_results(installed, "Make the probe's unique prefix and run id")]
            # This run's LOG line (its prefix is random), written by the rsyslog the role installed.
            assert prefix and prefix[0].strip() in node.sh('cat /var/log/firewall')
            assert _no_probe_rule(node)
        finally:
            cleanup = _play(ansible, tmp_path, 'absent')
            if 'rsyslog' not in _installed(node):
                node.sh('apt-get -y -q install rsyslog')
            extra = sorted(_installed(node) - packages_before)
            if extra:  # python3-apt and its dependencies, installed by the apt module
                node.sh('apt-get -y -q remove %s' % ' '.join(extra))
            node.sh('rm -f %s /var/lib/apt/lists/198.18.1.254*' % LOCAL_SOURCE)
            node.restart_rsyslog()
            assert cleanup.rc == 0, cleanup
    assert _installed(node) == packages_before
    assert node.config() == before
