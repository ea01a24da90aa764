# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""xtables-monitor and nft monitor step lines: handles, verdicts, jump targets, rule text (real and doc lines)."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.parse import parse_trace

KEYS = ('format', 'family', 'trace_id', 'table', 'chain', 'kind', 'handle', 'verdict', 'target_chain', 'rule')

CASES = [
    pytest.param('nft/node2/trace/xtables-monitor.log', 'raw:PREROUTING:rule:0x3:CONTINUE',
                 ('xtables-monitor', 'ip', '76dbf975', 'raw', 'PREROUTING', 'rule', 3, 'continue', None,
                  '-A PREROUTING -s 198.18.200.1/32 -j TRACE'), id='xt-continue'),
    pytest.param('nft/node2/trace/xtables-monitor.log', 'filter:INPUT:rule:0x9:JUMP:app-check',
                 ('xtables-monitor', 'ip', '76dbf975', 'filter', 'INPUT', 'rule', 9, 'jump', 'app-check',
                  '-A INPUT -j app-check'), id='xt-jump-dash-chain'),
    pytest.param('nft/node2/trace/xtables-monitor.log', 'app-check:rule:0xe:0xfffffffb',
                 ('xtables-monitor', 'ip', '76dbf975', 'filter', 'app-check', 'rule', 14, 'return', None,
                  '-A app-check -p icmp -j RETURN'), id='xt-raw-return-code'),
    pytest.param('nft/node2/trace/xtables-monitor.log', 'filter:INPUT:policy:DROP',
                 ('xtables-monitor', 'ip', '24d066b7', 'filter', 'INPUT', 'policy', None, 'drop', None, None),
                 id='xt-policy'),
    pytest.param('nft/node2/trace/xtables-monitor.log', '0x4:DROP  -6 -t filter',
                 ('xtables-monitor', 'ip6', 'a1cf86ae', 'filter', 'INPUT', 'rule', 4, 'drop', None, '-6 -t filter'),
                 id='xt-ip6-truncated-rule'),
    pytest.param('docs/xtables-monitor-manpage.log', 'raw:PREROUTING:return:',
                 ('xtables-monitor', 'ip', 'fc475095', 'raw', 'PREROUTING', 'return', None, None, None, None),
                 id='doc-xt-return'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'jump app-check # handle 10',
                 ('nft-monitor', 'inet', '67073d25', 'ndtrace', 'input', 'rule', 10, 'jump', 'app-check',
                  'jump app-check'), id='nft-jump'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'reject with tcp reset # handle 13',
                 ('nft-monitor', 'inet', 'e63542b4', 'ndtrace', 'input', 'rule', 13, 'drop', None,
                  'tcp dport 8080 reject with tcp reset'), id='nft-reject-reported-as-drop'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'input policy drop',
                 ('nft-monitor', 'inet', 'c171b564', 'ndtrace', 'input', 'policy', None, 'drop', None, None),
                 id='nft-policy'),
    pytest.param('nftables/node1/trace/nft-monitor.log', 'out rule ip daddr 198.18.200.0/23',
                 ('nft-monitor', 'inet', 'c68d9e32', 'ndtrace', 'out', 'rule', None, 'continue', None,
                  'ip daddr 198.18.200.0/23 meta nftrace set 1'), id='nft-without-handles'),
    pytest.param('docs/nft-monitor-conntrack-commit.log', 'rule jump rpfilter',
                 ('nft-monitor', None, '32', 't', 'ct_new_pre', 'rule', None, 'jump', 'rpfilter', 'jump rpfilter'),
                 id='doc-nft-no-family'),
]


@pytest.mark.parametrize('rel, pick, expected', CASES)
def test_monitor_step_lines(line_with, rel, pick, expected):
    line = line_with(rel, pick)
    event = parse_trace([line])[0]
    assert tuple(event[key] for key in KEYS) == expected


def test_nft_conntrack_lines_are_packet_events(lines):
    events = parse_trace(lines('docs/nft-monitor-conntrack-commit.log'))
    assert [e['kind'] for e in events] == ['packet', 'rule', 'policy', 'packet', 'packet', 'rule', 'policy',
                                           'packet', 'packet', 'rule']
    assert events[7]['packet'] == {'ct_direction': 'original', 'ct_state': 'new', 'ct_status': 'dnat-done',
                                   'ct_id': 2641368242}
    assert events[0]['packet']['in'] == 'enp0s3'


def test_xtables_monitor_error_output_is_unparsed(lines):
    events = parse_trace(lines('nft/node2/trace/xtables-monitor.log'))
    errors = [e for e in events if e['kind'] == 'unparsed']
    assert [e['text'] for e in errors] == [
        'Error: match extension not found',
        'xtables-monitor v1.8.9 (nf_tables): Parsing nftables rule failed',
        'Perhaps xtables-monitor or your kernel needs to be upgraded.']
    assert all(e['format'] is None for e in errors)


def test_monitor_line_inside_journal_json_record():
    """A monitor run under systemd logs to the journal; its records carry host and time."""
    record = ('{"MESSAGE":"trace id 67073d25 inet ndtrace input policy drop ","_HOSTNAME":"node2",'
              '"__REALTIME_TIMESTAMP":"1795543952562666"}')
    event = parse_trace([record])[0]
    assert (event['format'], event['kind'], event['verdict'], event['host'], event['clock']) == \
        ('nft-monitor', 'policy', 'drop', 'node2', 'wall')
