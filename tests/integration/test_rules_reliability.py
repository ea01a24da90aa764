# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node cleans up by itself: expiry with no controller, a controller killed with SIGKILL, an agent rewriting
its chains meanwhile, two runs side by side. On the netns lab (no systemd there: the detached reaper runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import rules_support as rs

TRACE = 'netdebug.netfilter.iptables_trace'
LOG = 'netdebug.netfilter.iptables_log'
AGENT_RULES = """*raw
:AGENT-RAW - [0:0]
-A AGENT-RAW -s 198.18.0.99/32 -m comment --comment "agent rule 1" -j ACCEPT
-A AGENT-RAW -s 198.18.0.98/32 -m comment --comment "agent rule 2" -j ACCEPT
-A AGENT-RAW -m mark --mark 0x40 -m comment --comment "agent rule 3" -j ACCEPT
COMMIT
*filter
:AGENT-FILTER - [0:0]
-A AGENT-FILTER -s 198.18.0.97/32 -m comment --comment "agent rule 4" -j DROP
-A AGENT-FILTER -p tcp -m tcp --dport 7 -m comment --comment "agent rule 5" -j DROP
COMMIT
"""


@pytest.fixture(scope='module')
def lab(netns_lab, lab_ansible):
    with rs.SshRetries():
        yield from _lab(netns_lab, lab_ansible)


def _lab(netns_lab, lab_ansible):
    for node in ('node1', 'node2'):
        rs.reset(netns_lab, node)
    rs.load(netns_lab, 'node1', 'iptables-legacy-restore')
    rs.load(netns_lab, 'node2', 'iptables-nft-restore')
    yield netns_lab
    lab_ansible.module('node1,node2', TRACE, {'run_id': '*', 'state': 'absent'})
    for node in ('node1', 'node2'):
        rs.reset(netns_lab, node)


def ok(result, host):
    assert result.statuses().get(host) == 'ok', result
    return result.by_host()[host]


def clean(lab, node, run_id):
    """No rule, monitor or reaper of run_id left on the node."""
    return (not rs.tagged_lines(lab, node, run_id) and not rs.processes(lab, node, '--run-id %s ' % run_id)
            and not rs.processes(lab, node, 'monitor --trace') and not rs.processes(lab, node, 'monitor trace'))


@pytest.mark.parametrize('node, backend', [('node1', 'auto'), ('node2', 'auto'), ('node2', 'nftables')])
def test_expiry_without_the_controller(lab, lab_ansible, node, backend):
    before = rs.ruleset(lab, node)
    res = ok(lab_ansible.module(node, TRACE, {'run_id': 'ttl6', 'ttl': 6, 'backend': backend, 'protocol': 'icmp'}),
             node)
    assert rs.tagged_lines(lab, node, 'ttl6') and res['reapers'][0]['kind'] == 'process'
    expires_at = res['expires_at']
    assert len(rs.tagged_lines(lab, node, 'ttl6')) == (2 if backend == 'nftables' else 4)  # + iptables count rules
    late = rs.removed_at(lab, node, 'ttl6', expires_at, expires_at - time.time() + 10) - expires_at
    assert late <= 2.5, 'removed %.1f s after the ttl' % late
    rs.wait_until(lambda: clean(lab, node, 'ttl6'), 10, what='the reaper')
    assert rs.ruleset(lab, node) == before
    # and the node's state directory went with the run (issue 15 footprint)
    rs.wait_until(lambda: not rs.run(lab, node, ['sh', '-c', 'ls -A /run/netdebug 2>/dev/null || true']).strip(), 10,
                  what='the state directory to go')


def test_expiry_after_the_controller_is_killed(lab, lab_ansible):
    before = rs.ruleset(lab, 'node2')
    playbook = ('- hosts: node2\n  gather_facts: false\n  tasks:\n'
                '    - netdebug.netfilter.iptables_trace: {run_id: killed, ttl: 8, protocol: icmp}\n'
                '    - netdebug.netfilter.iptables_log: {run_id: killed, ttl: 9, table: filter, chain: app-guard}\n'
                '    - ansible.builtin.pause: {seconds: 300}\n')
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        handle.write(playbook)
    env = lab_ansible._env(os.devnull)  # pylint: disable=protected-access
    proc = subprocess.Popen(['ansible-playbook', '-i', lab.inventory(), handle.name], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # two TRACE rules with their count rules, one LOG rule
        rs.wait_until(lambda: len(rs.tagged_lines(lab, 'node2', 'killed')) == 5, 60, what='the rules of the run')
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        expiries = sorted(set(int(rs.TAG_RE.search(line).group(2)) for _tool, line in rs.tagged_lines(lab, 'node2')))
        assert len(expiries) == 2  # the TRACE rules (ttl 8) and the LOG rule (ttl 9), each with its reaper
        assert len(rs.processes(lab, 'node2', '--run-id killed ')) == 2
        for expiry in expiries:
            late = rs.removed_at(lab, 'node2', 'killed', expiry, expiry - time.time() + 10) - expiry
            assert late <= 2.5, 'removed %.1f s after the ttl' % late
        rs.wait_until(lambda: clean(lab, 'node2', 'killed'), 10, what='the reapers after SIGKILL')
    finally:
        if proc.poll() is None:
            proc.kill()
        os.unlink(handle.name)
    assert rs.ruleset(lab, 'node2') == before


class Agent:
    """Rewrites its own chains with iptables-restore --noflush every 100 ms, as Calico or kube-proxy do."""

    def __init__(self, lab, node, tool, seconds):
        self.lab, self.node, self.tool, self.seconds = lab, node, tool, seconds
        self.output = None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        script = ('cat > /tmp/agent.rules <<"EOF"\n%sEOF\nend=$((SECONDS+%d)); n=0; fail=0\n'
                  'while [ $SECONDS -lt $end ]; do %s -w 10 --noflush < /tmp/agent.rules || fail=$((fail+1)); '
                  'n=$((n+1)); sleep 0.1; done\necho "runs=$n failures=$fail"\n' % (AGENT_RULES, self.seconds, self.tool))
        self.output = rs.sh(self.lab, self.node, script, timeout=self.seconds + 60)

    def __enter__(self):
        rs.run(self.lab, self.node, [self.tool, '-w', '10', '--noflush'], data=AGENT_RULES)
        for table, chain, hook in (('raw', 'AGENT-RAW', 'PREROUTING'), ('filter', 'AGENT-FILTER', 'INPUT')):
            rs.run(self.lab, self.node, [self.tool.replace('-restore', ''), '-w', '10', '-t', table, '-I', hook, '1',
                                         '-j', chain])
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join()


@pytest.mark.parametrize('node, tool', [('node1', 'iptables-legacy-restore'), ('node2', 'iptables-nft-restore')])
def test_agent_rewriting_its_chains(lab, lab_ansible, node, tool):
    ipt = tool.replace('-restore', '')
    with Agent(lab, node, tool, 20) as agent:
        time.sleep(1)
        for i in range(4):
            res = lab_ansible.module(node, TRACE, {'run_id': 'agent%d' % i, 'protocol': 'icmp', 'ttl': 120})
            ok(res, node)
            res = lab_ansible.module(node, LOG, {'run_id': 'agent%d' % i, 'table': 'filter', 'chain': 'INPUT',
                                                 'protocol': 'tcp', 'ttl': 120})
            ok(res, node)
            ok(lab_ansible.module(node, TRACE, {'run_id': 'agent%d' % i, 'state': 'absent'}), node)
    assert agent.output.strip().endswith('failures=0'), agent.output
    runs = int(agent.output.split('runs=')[1].split()[0])
    assert runs > 50, agent.output
    raw = rs.run(lab, node, [ipt, '-w', '10', '-t', 'raw', '-S', 'AGENT-RAW'])
    filt = rs.run(lab, node, [ipt, '-w', '10', '-t', 'filter', '-S', 'AGENT-FILTER'])
    assert [l for l in raw.splitlines() if l.startswith('-A')] == [
        '-A AGENT-RAW -s 198.18.0.99/32 -m comment --comment "agent rule 1" -j ACCEPT',
        '-A AGENT-RAW -s 198.18.0.98/32 -m comment --comment "agent rule 2" -j ACCEPT',
        '-A AGENT-RAW -m mark --mark 0x40 -m comment --comment "agent rule 3" -j ACCEPT']
    assert len([l for l in filt.splitlines() if l.startswith('-A')]) == 2
    assert '-A PREROUTING -j AGENT-RAW' in rs.run(lab, node, [ipt, '-w', '10', '-t', 'raw', '-S', 'PREROUTING'])
    assert not rs.tagged_lines(lab, node)
    for table, chain, hook in (('raw', 'AGENT-RAW', 'PREROUTING'), ('filter', 'AGENT-FILTER', 'INPUT')):
        rs.sh(lab, node, '{0} -w 10 -t {1} -D {2} -j {3} && {0} -w 10 -t {1} -F {3} && {0} -w 10 -t {1} -X {3}'.format(
            ipt, table, hook, chain))


# A run's processes that name its monitor: timeout, the stamper, the restart loop and the monitor itself.
MONITOR_PROCESSES = 4


def test_two_runs_do_not_interfere(lab, lab_ansible):
    before = rs.ruleset(lab, 'node2')
    try:
        long_run = ok(lab_ansible.module('node2', TRACE, {'run_id': 'long', 'protocol': 'icmp', 'ttl': 300}), 'node2')
        short = ok(lab_ansible.module('node2', TRACE, {'run_id': 'short', 'protocol': 'udp', 'ttl': 6}), 'node2')
        assert long_run['capture_files'] != short['capture_files']
        assert len(rs.processes(lab, 'node2', 'xtables-monitor --trace')) == 2 * MONITOR_PROCESSES
        rs.wait_until(lambda: not rs.tagged_lines(lab, 'node2', 'short'), short['expires_at'] - time.time() + 5,
                      what='the short run to expire')
        # The reaper removes the rules first, then stops the monitor's process group: on a loaded machine the check
        # can land in between. The monitor must go well before its own timeout (ttl + 10 s).
        rs.wait_until(lambda: len(rs.processes(lab, 'node2', 'xtables-monitor --trace')) == MONITOR_PROCESSES,
                      short['expires_at'] + 8 - time.time(), what="the short run's monitor to be stopped by its reaper")
        assert len(rs.tagged_lines(lab, 'node2', 'long')) == 4
        assert rs.processes(lab, 'node2', '--run-id long ')
        again = ok(lab_ansible.module('node2', TRACE, {'run_id': 'long', 'protocol': 'icmp', 'ttl': 300}), 'node2')
        assert not again['changed']
        gone = ok(lab_ansible.module('node2', TRACE, {'run_id': 'short', 'state': 'absent'}), 'node2')
        assert not gone['changed']
        assert len(rs.tagged_lines(lab, 'node2', 'long')) == 4
    finally:
        # A failed assertion must not leave the long run's rules to the tests that follow.
        for run_id in ('long', 'short'):
            lab_ansible.module('node2', TRACE, {'run_id': run_id, 'state': 'absent'})
    assert rs.ruleset(lab, 'node2') == before and not rs.processes(lab, 'node2', 'reap.py')


def test_duration_in_one_call(lab, lab_ansible):
    before = rs.ruleset(lab, 'node2')
    dport = 40000 + os.getpid() % 20000

    def send():
        for dummy in range(12):
            rs.udp_probe(lab, 'node1', '198.18.0.2', dport, count=1)
            time.sleep(0.5)

    sender = threading.Thread(target=send)
    sender.start()
    res = ok(lab_ansible.module('node2', TRACE, {'protocol': 'udp', 'destination_port': str(dport), 'duration': 4,
                                                 'ttl': 60}), 'node2')
    sender.join()
    assert res['changed'] and res['run_id'] and res['removed']['rules']
    assert any('DPT=%d' % dport in line or 'dport %d' % dport in line for line in res['lines']), res['lines'][:5]
    assert rs.ruleset(lab, 'node2') == before and not rs.processes(lab, 'node2', 'reap.py')
