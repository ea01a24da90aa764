# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables_trace's, iptables_log's and trace_progress's main(): bad input is refused naming the option, before any
command runs on the node; the match given as one dict is read like the separate options."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.modules import iptables_log, iptables_trace, trace_progress

MODULES = {'iptables_trace': iptables_trace, 'iptables_log': iptables_log, 'trace_progress': trace_progress}


@pytest.mark.parametrize('name, args, message', [
    ('iptables_trace', {'ttl': 0}, 'ttl: '),
    ('iptables_trace', {'protocol': 'udp', 'destination_port': 'ssh'}, 'destination_port: '),
    ('iptables_trace', {'match': {'protocol': 'udp', 'destination_port': 'ssh'}}, 'destination_port: '),
    ('iptables_trace', {'match': {'source': '198.18.0.300'}}, 'source: '),
    ('iptables_trace', {'match_extra': ['-m', 'comment', '--comment', 'x']}, 'match_extra: '),
    ('iptables_trace', {'run_id': '..'}, 'run_id: '),
    ('iptables_trace', {'wait': 0}, 'wait: '),
    ('iptables_log', {'log_prefix': 'x' * 30}, 'log_prefix: '),
    ('trace_progress', {'run_id': '..'}, 'run_id: '),
    ('trace_progress', {'wait': 0}, 'wait: '),
    ('iptables_log', {'match': {'protocol': 'icmp', 'destination_port': '22'}}, 'destination_port: '),
])
def test_bad_input_is_refused_naming_the_option(name, args, message, main_without_commands):
    result = main_without_commands(MODULES[name], dict({'run_id': 'unit-1'}, **args))
    assert result['failed'] is True and result['msg'].startswith(message), result['msg']


def test_progress_of_a_run_that_is_not_on_the_node_reads_nothing(main_without_commands):
    result = main_without_commands(trace_progress, {'run_id': 'unit-not-armed-here'})
    assert result == {'changed': False, 'run_id': 'unit-not-armed-here', 'armed': False, 'matched': None,
                      'traced': None, 'untraced': None, 'invocation': result['invocation']}


@pytest.mark.parametrize('name', ['iptables_trace', 'iptables_log'])
@pytest.mark.parametrize('args, message', [
    ({'match': {'protocol': 'udp'}, 'source': '198.18.0.1'}, 'parameters are mutually exclusive: match|source'),
    ({'match': {'proto': 'udp'}}, 'match.proto'),
])
def test_the_match_comes_one_way(name, args, message, main_without_commands):
    result = main_without_commands(MODULES[name], dict({'run_id': 'unit-1'}, **args))
    assert result['failed'] is True and message in result['msg'], result['msg']
