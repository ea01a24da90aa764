# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest's host entries and the run's manifest (the host_entry and bundle_manifest filters)."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.filter.bundle_manifest import FilterModule
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import manifest

PACK = {'problems': [], 'pack_warnings': [], 'files': [{'path': 'facts.json', 'sha256': 'ab', 'size': 3}],
        'sha256': 'cd'}
CAPTURE = '/run/netdebug/runs/INC/nft.trace'
STOPPED = {'run_id': 'INC', 'phase': 'stopped', 'error': None, 'start': {'started_at': 1796550000},
           'ruleset_restored': True, 'monitors_died': [], 'monitors_truncated': [], 'monitors_restarted': [],
           'packets': {'matched': 4, 'untraced': 0}, 'clock': {'offset': 0.01, 'error': 0.002},
           'removed': {'monitors': [{'pid': 1, 'cpu_seconds': 0.104}, {'pid': 2, 'cpu_seconds': 0.2}, {'pid': 3}]}}


def _trace(**changes):
    return dict(STOPPED, **changes)


@pytest.mark.parametrize('trace, pack, status, reasons, notes', [
    (STOPPED, PACK, 'ok', [], []),
    ({}, PACK, 'ok', [], []),  # the conntrack playbook: no trace
    (STOPPED, dict(PACK, problems=['conntrack: no ctnetlink'], pack_warnings=['copies: x is missing on the node']),
     'partial', ['conntrack: no ctnetlink', 'copies: x is missing on the node'], []),
    (_trace(ruleset_restored=False), PACK, 'partial', [manifest.RULESET_CHANGED], []),
    (_trace(window={'start': 1796550000, 'end': 1796550060, 'late': 0}), PACK, 'ok', [], []),
    (_trace(clock={'offset': -2.54, 'error': 0.01}), PACK, 'ok', [],
     ["the node's clock is -2.5 s off the controller's: its trace window was moved by that much so that it covers the "
      "same interval (fix its time sync; the report orders its packets by the corrected time)"]),
    (_trace(window={'start': 1796550000, 'end': 1796550060, 'late': 7}), PACK, 'partial',
     ["the trace was armed 7 s after the window's start (the check step's estimate was short, or netdebug_window_start "
      "had passed): the first 7 s of the window are missing here"], []),
    (_trace(monitors_died=[{'backend': 'nft', 'pid': 12, 'capture_file': CAPTURE}]), PACK, 'partial',
     ['the trace monitor of backend nft (pid 12) stopped before the window ended: trace lines after that are '
      'missing from nft.trace'], []),
    (_trace(monitors_truncated=[{'backend': 'nft', 'capture_file': CAPTURE, 'max_bytes': 65536}]), PACK, 'partial',
     ['the capture file nft.trace reached its cap of 65536 bytes (netdebug_capture_max_bytes): trace lines after '
      'that are missing'], []),
    (_trace(error={'task': 'Start the trace', 'msg': 'boom', 'unreachable': False}), PACK, 'failed',
     ['trace: Start the trace: boom'], []),
    (_trace(error={'task': 'Stop the trace', 'msg': 'timed out', 'unreachable': True}, ruleset_restored=False),
     PACK, 'unreachable', ['trace: Stop the trace: timed out'], []),
    # restarts and the rate limit's untraced packets are notes: the host stays ok
    (_trace(monitors_restarted=[{'backend': 'nft', 'pid': 12, 'restarts': 2, 'last_error': None}],
            packets={'matched': 10, 'untraced': 3}), PACK, 'ok', [],
     ['the trace monitor of backend nft exited 2 time(s) and was restarted on the node (last error: none): trace '
      'lines of the few milliseconds of each restart may be missing',
      '3 of 10 matching packets were not traced: over the rate limit of the TRACE rules (netdebug_trace_rate)']),
])
def test_host_entry(trace, pack, status, reasons, notes):
    entry = manifest.host_entry(trace, pack, 'node1')
    assert entry['status'] == status
    assert entry['reason'] == ('; '.join(reasons) if reasons else None)
    assert entry['warnings'] == reasons + notes
    assert (entry['dir'], entry['files'], entry['archive_sha256']) == ('node1', PACK['files'], 'cd')


def test_host_entry_counts_and_clock():
    entry = manifest.host_entry(STOPPED, PACK, 'node1')
    assert entry['monitor_cpu_seconds'] == 0.3 and entry['clock'] == STOPPED['clock']
    assert (entry['matched_packets'], entry['untraced_packets']) == (4, 0)
    bare = manifest.host_entry({}, PACK, 'node1')
    assert (bare['monitor_cpu_seconds'], bare['clock'], bare['matched_packets']) == (0, None, None)


@pytest.mark.parametrize('trace, phase, reason', [
    (_trace(phase='checking', error={'task': 'Check the match on each node', 'msg': 'ssh: no route',
                                     'unreachable': True}), None,
     'unreachable while checking (Check the match on each node): ssh: no route; nothing was changed on it'),
    (_trace(phase='starting', error={'task': 'Start the trace', 'msg': 'ssh: timeout', 'unreachable': True}), None,
     'unreachable while starting (Start the trace): ssh: timeout; what the run left on it goes at the ttl, by the '
     'node itself'),
    (None, 'preparing', 'the host dropped out of the run during preparing (unreachable, or a failure outside the '
                        'rescued steps; see the play output); what the run left on it goes at the ttl, by the node '
                        'itself'),
    (None, None, 'the host dropped out of the run during the start (unreachable, or a failure outside the rescued '
                 'steps; see the play output); what the run left on it goes at the ttl, by the node itself'),
])
def test_a_host_that_dropped_out(trace, phase, reason):
    assert manifest.dropped_out(trace, phase) == {'status': 'unreachable', 'reason': reason, 'dir': None,
                                                  'files': [], 'warnings': []}


def test_manifest_keeps_finished_entries_and_explains_the_others():
    done = manifest.host_entry(STOPPED, PACK, 'node1')
    # the entry the collect role starts each host with (host_entry of no capture_pack result)
    unfinished = FilterModule().filters()['host_entry'](None, host_dir='node2')
    assert unfinished == {'status': 'failed', 'reason': 'the collect step did not finish', 'dir': 'node2',
                          'files': [], 'warnings': []}
    failed = {'status': 'failed', 'reason': 'Unpack beside the bundle: bad', 'dir': 'node3', 'files': [],
              'warnings': []}
    later = _trace(start={'started_at': 1796550009})
    result = FilterModule().filters()['bundle_manifest'](
        {'node1': {'collect': done, 'trace': STOPPED, 'phase': None},
         'node2': {'collect': unfinished, 'trace': later, 'phase': 'tracing'},
         'node3': {'collect': failed, 'trace': later, 'phase': None},
         'node4': {'collect': None, 'trace': None, 'phase': 'preparing'}},
        'INC', match={'protocol': 'icmp'}, duration='30')
    assert list(result['hosts']) == ['node1', 'node2', 'node3', 'node4']
    assert result['hosts']['node1'] is done and result['hosts']['node3'] is failed
    assert result['hosts']['node2']['status'] == 'unreachable' and 'during stopped' in result['hosts']['node2']['reason']
    assert 'during preparing' in result['hosts']['node4']['reason']
    assert result['summary'] == {'ok': 1, 'unreachable': 2, 'failed': 1}
    assert (result['started_at'], result['duration'], result['kind'], result['format']) == (
        '2026-12-06T09:40:00Z', 30, 'capture', 1)
    assert result['ended_at'].endswith('Z') and result['match'] == {'protocol': 'icmp'}


def test_the_host_entry_filter():
    assert FilterModule().filters()['host_entry'](PACK, trace={}, host_dir='n1') == manifest.host_entry({}, PACK, 'n1')


@pytest.mark.parametrize('published, reason', [
    ({'hosts': {'n1': {'ok': True}}}, None),
    ({'hosts': {'n1': {'ok': False, 'step': 'sha256', 'msg': 'the archive is not what the node packed'}}},
     'sha256: the archive is not what the node packed'),
    ({'failed': True, 'msg': 'incoming: no such directory'},
     manifest.PUBLISH_STEP + ': incoming: no such directory'),
    ({'hosts': {}}, manifest.PUBLISH_STEP + ': failed'),
])
def test_a_host_whose_archive_was_not_published_fails(published, reason):
    entry = FilterModule().filters()['host_entry'](PACK, trace={}, host_dir='n1', published=published, host='n1')
    if reason is None:
        assert entry == manifest.host_entry({}, PACK, 'n1')
    else:
        assert entry == {'status': 'failed', 'reason': reason, 'dir': 'n1', 'files': [], 'warnings': []}
