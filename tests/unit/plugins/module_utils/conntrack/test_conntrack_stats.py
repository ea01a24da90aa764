# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stats from real /proc/net/stat/nf_conntrack text and real CTA_STATS replies, and the table_full verdict."""

from __future__ import annotations

import pytest

import ct_fixtures as fx

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import stats
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.decode import nested_u32
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError


def _proc(name):
    return (fx.FIXTURES / name).read_text()


def _netlink_cpus(name):
    return stats.netlink_cpu_stats([(int.from_bytes(m[18:20], 'big'), nested_u32(m, 20, len(m)))
                                    for m in fx.messages(name)])


def test_proc_stat_by_name():
    cpus = stats.parse_proc_stat(_proc('proc_stat.txt'))
    assert len(cpus) == 2
    assert set(cpus[0]) >= {'entries', 'found', 'insert_failed', 'drop', 'early_drop', 'search_restart'}
    assert [cpu['entries'] for cpu in cpus] == [14, 14]  # the table size, repeated on every row


def test_proc_stat_full_table():
    cpus = stats.parse_proc_stat(_proc('proc_stat_full.txt'))
    total = stats.summarize(cpus)
    assert 'entries' not in total
    assert total['early_drop'] == sum(cpu['early_drop'] for cpu in cpus) > 0
    assert cpus[0]['entries'] == 262144
    full, reasons = stats.verdict(total, cpus[0]['entries'], 262144, 90)
    assert full
    assert reasons[0] == 'early_drop=%d' % total['early_drop']
    assert reasons[1] == 'count 262144 is 100% of max 262144 (threshold 90%)'


def test_quiet_table_is_not_full():
    total = stats.summarize(stats.parse_proc_stat(_proc('proc_stat.txt')))
    assert stats.verdict(total, 14, 262144, 90) == (False, [])
    assert stats.verdict({'insert_failed': 3}, 14, 262144, 90) == (True, ['insert_failed=3'])
    assert stats.verdict({}, 236000, 262144, 90)[0] is True
    assert stats.verdict({}, 235000, 262144, 90)[0] is False


def test_counters_are_parsed_by_name_whatever_the_column_set():
    """An older kernel's column set (searched, no clashres/chainlength) parses the same way."""
    text = ('entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop '
            'icmp_error  expect_new expect_create expect_delete search_restart\n'
            '00000010  00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 '
            '00000000 00000000  00000000 00000000 00000000 00000000\n')
    cpus = stats.parse_proc_stat(text)
    assert cpus[0]['searched'] == 0 and cpus[0]['drop'] == 2 and 'clashres' not in cpus[0]


@pytest.mark.parametrize('text,message', [
    ('', 'is empty'),
    ('entries found\n00000001\n', 'has 1 columns, the header names 2'),
    ('entries found\n0000000g 00000000\n', 'not hexadecimal'),
])
def test_bad_proc_stat(text, message):
    with pytest.raises(ConntrackError) as err:
        stats.parse_proc_stat(text)
    assert message in err.value.msg


def test_netlink_cpu_stats_agree_with_proc():
    """CTA_STATS_CPU (what conntrack -S shows) and /proc were recorded together: shared counters agree."""
    for suffix in ('', '_full'):
        netlink = stats.summarize(_netlink_cpus('stats_cpu%s.bin' % suffix))
        proc = stats.summarize(stats.parse_proc_stat(_proc('proc_stat%s.txt' % suffix)))
        for name in ('found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'search_restart'):
            assert netlink[name] == proc[name], name
    cpus = _netlink_cpus('stats_cpu_full.bin')
    assert [cpu['cpu'] for cpu in cpus] == [0, 1]


def test_global_stats():
    values = [nested_u32(m, 20, len(m)) for m in fx.messages('stats_global_full.bin')]
    assert values == [{1: 262144, 2: 262144}]  # entries, max
