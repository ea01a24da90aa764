# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nf_log's ttl on this machine: after the ttl the node has put the run's changes back by itself - no controller
call, no reaper left - and a binding someone else changed meanwhile stays as they set it.

- in a throwaway network namespace (bindings are per namespace), like test_kernlog_local;
- in the initial namespace for net.netfilter.nf_log_all_netns, which is host-wide: only that sysctl is asked for
  (no family), and its value from before the test is written back whatever happens. Run under the lab lock
  (tests/run integration takes it), as the netns lab sets that sysctl too.
"""

from __future__ import annotations

import os
import subprocess
import time

from test_kernlog_local import LocalRun, _in_ns, _one, inventory, netns  # noqa: F401  pylint: disable=unused-import

ALL_NETNS = '/proc/sys/net/netfilter/nf_log_all_netns'
TTL = 6


def _reapers(state_dir):
    """Processes running the installed expiry program of state_dir."""
    out = subprocess.run(['ps', '-ww', '-eo', 'pid,args'], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(state_dir) in line and 'nflog_expire.py' in line]


def _records(state_dir):
    if not os.path.isdir(str(state_dir)):
        return []
    return sorted(name for name in os.listdir(str(state_dir)) if name.endswith('.json'))


def _wait(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and not predicate():
        time.sleep(0.5)
    return predicate()


def test_bindings_come_back_at_the_ttl_without_the_controller(inventory, netns, tmp_path):  # noqa: F811
    run = LocalRun(inventory, netns)
    state_dir = tmp_path / 'state'
    args = {'run_id': 'ndttl-a', 'state_dir': str(state_dir), 'ttl': TTL}
    planned = _one(run.module('localhost', 'netdebug.netfilter.nf_log', args, check=True))['result']
    assert planned['changed'] and planned['expires_at'] and _reapers(state_dir) == []
    started = time.time()
    result = _one(run.module('localhost', 'netdebug.netfilter.nf_log', args, diff=True))['result']
    assert result['changed'] and abs(result['expires_at'] - (started + TTL)) <= 3, result
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'nf_log_ipv4'
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/10') == 'nf_log_ipv6'
    assert len(_reapers(state_dir)) == 1
    # Someone else rebinds IPv6 meanwhile: the reaper must leave that one alone.
    subprocess.run(['ip', 'netns', 'exec', netns, 'sh', '-c', 'echo NONE > /proc/sys/net/netfilter/nf_log/10'],
                   check=True)
    subprocess.run(['ip', 'netns', 'exec', netns, 'sh', '-c',
                    'echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/10'], check=True)

    assert _wait(lambda: _records(state_dir) == [] and _reapers(state_dir) == [], TTL + 15), \
        (_records(state_dir), _reapers(state_dir))
    assert time.time() >= result['expires_at']
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'NONE'
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/10') == 'nfnetlink_log'
    # The last record went, and with it the whole state directory: the program's copy, its log, the lock.
    assert _wait(lambda: not state_dir.exists(), 5), sorted(os.listdir(str(state_dir)))
    # Nothing left to release or cancel afterwards.
    after = _one(run.module('localhost', 'netdebug.netfilter.nf_log', dict(args, state='absent', ttl=None)))
    assert after['result']['changed'] is False and after['result']['reapers'] == []


def test_absent_cancels_the_restore(inventory, netns, tmp_path):  # noqa: F811
    run = LocalRun(inventory, netns)
    state_dir = tmp_path / 'state'
    args = {'run_id': 'ndttl-b', 'state_dir': str(state_dir)}
    first = _one(run.module('localhost', 'netdebug.netfilter.nf_log', dict(args, ttl=600)))['result']
    again = _one(run.module('localhost', 'netdebug.netfilter.nf_log', dict(args, ttl=900)))['result']
    assert first['changed'] and not again['changed'] and again['expires_at'] == first['expires_at']  # kept
    assert len(_reapers(state_dir)) == 1
    released = _one(run.module('localhost', 'netdebug.netfilter.nf_log', dict(args, state='absent')))['result']
    assert len(released['reapers']) == 1 and released['restored']
    assert _wait(lambda: _reapers(state_dir) == [], 10)
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'NONE'


def test_nf_log_all_netns_comes_back_at_the_ttl(inventory, tmp_path):  # noqa: F811
    with open(ALL_NETNS) as handle:
        saved = handle.read().strip()
    state_dir = tmp_path / 'state'
    try:
        with open(ALL_NETNS, 'w') as handle:
            handle.write('0\n')
        run = LocalRun(inventory)
        result = _one(run.module('localhost', 'netdebug.netfilter.nf_log',
                                 {'run_id': 'ndttl-c', 'state_dir': str(state_dir), 'ttl': TTL, 'families': [],
                                  'all_netns': True}))['result']
        assert result['set'] == {'net.netfilter.nf_log_all_netns': '1'}, result
        assert _wait(lambda: _records(state_dir) == [] and _reapers(state_dir) == [], TTL + 15)
        with open(ALL_NETNS) as handle:
            assert handle.read().strip() == '0'
        assert _wait(lambda: not state_dir.exists(), 5)
    finally:
        with open(ALL_NETNS, 'w') as handle:
            handle.write(saved + '\n')
