# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which hosts' lines go through the kernel log (the capture prepares it there only)."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.filter.kernel_log_needed import FilterModule
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import kernel_log


@pytest.mark.parametrize('check, log_rules, backend, info, expected', [
    ({'variant': 'nf_tables'}, False, 'auto', None, False),
    ({'variant': 'legacy'}, False, 'auto', None, True),
    ({'variant': 'mixed'}, False, 'auto', None, True),
    ({'variant': 'nf_tables'}, True, 'auto', None, True),  # LOG rules always write to the kernel log
    ({'variant': 'nf_tables'}, 'true', 'auto', None, True),  # as a survey or -e gives it
    ({'variant': 'nf_tables'}, 'false', 'auto', None, False),
    ({'variant': 'nf_tables'}, ' Yes ', 'auto', None, True),  # read as Ansible reads a boolean
    ({'variant': 'nf_tables'}, 'on', 'auto', None, True),
    ({'variant': 'nf_tables'}, '0', 'auto', None, False),
    ({'variant': 'nf_tables'}, False, 'legacy', None, True),
    ({'variant': 'legacy'}, False, 'nft', None, False),
    ({'variant': 'legacy'}, False, 'nftables', None, False),
    ({}, False, 'auto', {'variant': 'mixed'}, True),  # the check gave no answer: netfilter_info did
    ({'failed': True}, False, 'auto', {'skipped': True}, False),
    (None, False, 'auto', None, False),
])
def test_needed(check, log_rules, backend, info, expected):
    assert kernel_log.needed(check, log_rules, backend, info) is expected


def test_hosts_needing_reads_each_hosts_variables_in_order():
    hostvars = {
        'node1': {'netdebug_trace_check': {'variant': 'nf_tables'}},
        'node2': {'netdebug_trace_check': {'variant': 'legacy'}},
        'node3': {'netdebug_trace_check': {'variant': 'nf_tables'}, 'netdebug_log_rules': True},
        'node4': {'netdebug_trace_check': {'variant': 'legacy'}, 'netdebug_backend': 'nft'},
        'node5': {},  # unreachable in the check: no result
    }
    assert kernel_log.hosts_needing(hostvars, ['node5', 'node4', 'node3', 'node2', 'node1']) == ['node3', 'node2']
    filters = FilterModule().filters()
    assert filters['kernel_log_hosts'](hostvars, ['node1', 'node2']) == ['node2']
    assert filters['kernel_log_needed']({'variant': 'mixed'}) is True
