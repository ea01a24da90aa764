# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The text fallback for nodes without pyroute2 (_conntrack/text.py) against recorded real output: the same
table read over netlink, through conntrack(8) and through /proc gives the same entries."""

from __future__ import annotations

import json

import pytest

import ct_fixtures as fx

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import query, text
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner

NETLINK = json.loads((fx.FIXTURES / 'proc_nf_conntrack-netlink.json').read_text())
CLI = (fx.FIXTURES / 'conntrack_L-text-flows.txt').read_text()
PROC = (fx.FIXTURES / 'proc_nf_conntrack.txt').read_text()
CPU = (fx.FIXTURES / 'conntrack_S.txt').read_text()


def conntrack_runner(installed=True):
    """conntrack -L / -S answered from the fixtures, or no conntrack command."""
    def answer(argv, data):  # pylint: disable=unused-argument
        return 0, by_family(CLI, argv[argv.index('-f') + 1]) if argv[1] == '-L' else CPU, ''
    return FakeRunner(answer, tools={'conntrack': '/usr/sbin/conntrack'} if installed else {})


def by_family(listing, family):
    """What conntrack -L -f FAMILY prints of a recorded listing."""
    return ''.join(line for line in listing.splitlines(True) if line.split()[:1] == [family])


def _key(entry):
    return (entry['family'], entry['protocol'], entry['original'].get('source_port', entry['original'].get('icmp_id')))


def _comparable(entry, drop=('timeout', 'use', 'id')):
    return dict((k, v) for k, v in entry.items() if k not in drop)


@pytest.mark.parametrize('source, drop', [
    ('cli', ('timeout',)),  # the same ids and use counts as netlink
    ('proc', ('timeout', 'use', 'id')),  # /proc has no id, and its own read holds a reference (use=2)
])
def test_text_gives_the_netlink_entries(source, drop):
    lines = (CLI if source == 'cli' else PROC).splitlines()
    parsed = dict((_key(e), e) for e in (text.parse_line(line) for line in lines if line.strip()))
    expected = dict((_key(e), e) for e in NETLINK)
    assert sorted(parsed) == sorted(expected) and len(parsed) == 6
    for key, entry in expected.items():
        assert _comparable(parsed[key], drop) == _comparable(entry, drop), key
        assert abs(parsed[key]['timeout'] - entry['timeout']) <= 2


def test_ipv6_is_written_as_inet_ntop_does():
    line = [l for l in PROC.splitlines() if l.startswith('ipv6') and ' tcp ' in l][0]
    assert '2001:0db8:0000' in line
    assert text.parse_line(line)['original']['source'] == '2001:db8::9'


# Offloaded flows as the kernel prints them (nf_conntrack_standalone.c: no timeout, one of the offload flags).
OFFLOADED = ('ipv4     2 tcp      6 ESTABLISHED src=198.18.0.1 dst=198.18.0.2 sport=40112 dport=8080 '
             'src=198.18.0.2 dst=198.18.0.1 sport=8080 dport=40112 [OFFLOAD] mark=0 zone=0 use=2')
HW_OFFLOADED = ('ipv4     2 udp      17 src=198.18.0.1 dst=198.18.0.2 sport=4000 dport=53 '
                'src=198.18.0.2 dst=198.18.0.1 sport=53 dport=4000 [HW_OFFLOAD] mark=0 zone=0 use=2')


@pytest.mark.parametrize('line, status', [
    (OFFLOADED, ['SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'OFFLOAD']),
    (HW_OFFLOADED, ['SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'OFFLOAD', 'HW_OFFLOAD']),
])
def test_offloaded_flows_have_no_timeout_and_imply_assured(line, status):
    entry = text.parse_line(line)
    assert 'timeout' not in entry and entry['status'] == status
    assert entry['original']['destination_port'] in (8080, 53)


def test_ipv6_addresses_read_as_inet_ntop_writes_them():
    for written, expected in (('0000:0000:0000:0000:0000:ffff:c612:0001', '::ffff:198.18.0.1'),
                              ('2001:0db8:0000:0000:0000:0000:0000:0009', '2001:db8::9')):
        assert text._address(written) == expected  # pylint: disable=protected-access


@pytest.mark.parametrize('line', ['', 'ipv4 2 tcp', 'ipv4 2 tcp 6 x src=1.2.3.4',
                                  'ipv4     2 udp      17 29 src=198.18.9.1 dst=198.18.9.1 sport=1 dport=2 mark=0'])
def test_lines_that_are_not_entries_are_refused(line):
    with pytest.raises(ConntrackError, match='not a conntrack table line'):
        text.parse_line(line)


def test_cpu_counters_by_name():
    cpus = text.parse_cpu_stats(CPU)
    assert len(cpus) == 2 and cpus[0]['cpu'] == 0 and cpus[1]['cpu'] == 1
    assert set(cpus[0]) >= {'found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error'}


def test_list_through_the_command_filters_and_limits_like_netlink(monkeypatch):
    runner = conntrack_runner()
    table = text.TextConntrack(runner, release='6.1.0-28-amd64')
    result = query.run({'operation': 'list', 'protocol': 'tcp', 'limit': 1}, conntrack=table)
    assert result['matched'] == 2 and result['truncated'] is True and len(result['entries']) == 1
    assert result['entries'][0]['protocol'] == 'tcp' and result['kernel_release'] == '6.1.0-28-amd64'
    assert runner.argvs() == [['/usr/sbin/conntrack', '-L', '-f', 'ipv4', '-o', 'extended,id'],
                              ['/usr/sbin/conntrack', '-L', '-f', 'ipv6', '-o', 'extended,id']]
    assert table.source == text.CLI_SOURCE
    # stats: /proc/net/stat/nf_conntrack first; without it, conntrack -S
    monkeypatch.setattr(query, 'PROC_STAT', '/nonexistent/nf_conntrack')
    stats = query.run({'operation': 'stats'}, conntrack=table)
    assert stats['source'] == 'conntrack -S' and stats['per_cpu'] == text.parse_cpu_stats(CPU)


def test_without_the_command_the_proc_table_is_read(tmp_path):
    proc = tmp_path / 'nf_conntrack'
    proc.write_text(PROC)
    table = text.TextConntrack(conntrack_runner(installed=False), proc_table=str(proc), release='6.1.0')
    result = query.run({'operation': 'list', 'destination_port': 8443}, conntrack=table)
    assert table.source == str(proc)
    assert [e['original']['destination'] for e in result['entries']] == ['2001:db8::9']
    with pytest.raises(ConntrackError, match='conntrack command'):
        table.cpu_stats()


def test_without_any_source_the_error_names_what_to_install(tmp_path):
    with pytest.raises(ConntrackError, match='install one of the first two'):
        text.TextConntrack(conntrack_runner(installed=False), proc_table=str(tmp_path / 'missing'))
