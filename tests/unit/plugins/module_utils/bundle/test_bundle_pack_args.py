# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What capture_pack packs for one host after a trace (the capture_pack_args filter)."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.filter.capture_pack_args import FilterModule

RUN = '/run/netdebug/runs/INC'
NFT_START = {'started_at': 100, 'expires_at': 190, 'kernel_log': False, 'capture_files': [RUN + '/nft.trace'],
             'record_dir': RUN + '/ruleset'}
LEGACY_START = {'started_at': 100, 'expires_at': 190, 'kernel_log': True, 'capture_files': [],
                'record_dir': RUN + '/ruleset'}


def _args(trace, source='journal'):
    return FilterModule().filters()['capture_pack_args'](trace, source, '/var/log/firewall')


def test_an_nftables_trace_copies_its_capture_and_rulesets_and_reads_no_kernel_log():
    args = _args({'run_id': 'INC', 'phase': 'stopped', 'error': None, 'start': NFT_START, 'record_dir': None})
    assert args['copies'] == [{'src': RUN + '/nft.trace', 'dest': 'trace/nft.trace'},
                              {'src': RUN + '/ruleset', 'dest': 'ruleset'}]
    assert args['kernlog'] is None
    record = args['texts']['trace.json']
    assert (record['run_id'], record['phase'], record['start'], record['log'], record['monitors_died']) == (
        'INC', 'stopped', NFT_START, {}, [])


@pytest.mark.parametrize('log, patterns', [({}, ['TRACE:']), ({'rules': [], 'log_prefix': 'nd:INC '}, ['TRACE:', 'nd:INC '])])
def test_a_kernel_log_trace_reads_its_window_and_the_log_rules_prefix(log, patterns):
    args = _args({'run_id': 'INC', 'phase': 'stopped', 'error': None, 'start': LEGACY_START, 'log': log,
                  'record_dir': RUN + '/ruleset-after'})
    assert args['kernlog'] == {'source': 'journal', 'file': '/var/log/firewall', 'since': 98, 'until': 190,
                               'patterns': patterns}
    assert args['copies'] == [{'src': RUN + '/ruleset-after', 'dest': 'ruleset'}]  # the stop's record first


def test_log_rules_on_an_nftables_node_read_the_kernel_log_too():
    args = _args({'run_id': 'INC', 'phase': 'stopped', 'error': None, 'start': NFT_START,
                  'log': {'rules': [{'rule': '-j LOG'}], 'log_prefix': 'nd:INC '}})
    assert args['kernlog']['patterns'] == ['TRACE:', 'nd:INC ']


@pytest.mark.parametrize('trace', [{}, None])
def test_without_a_trace_nothing_but_the_nodes_own_reads(trace):
    assert _args(trace) == {'texts': {}, 'copies': [], 'kernlog': None, 'conntrack': None}


def test_the_conntrack_snapshot_is_filtered_by_the_match_and_limited():
    args = FilterModule().filters()['capture_pack_args']({}, match={'protocol': 'udp', 'destination_port': '53'},
                                                         conntrack_limit='10000')
    assert args['conntrack'] == {'protocol': 'udp', 'destination_port': 53, 'limit': 10000}


def test_a_trace_that_never_started():
    args = _args({'run_id': 'INC', 'phase': 'starting', 'error': {'task': 'Start', 'msg': 'x'}, 'start': {}})
    assert args['copies'] == [] and args['kernlog'] is None and args['texts']['trace.json']['error']['msg'] == 'x'
