# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conntrack entries of the match in the Findings (issue 18): never answered, and UDP DNATed where no DNAT rule
sends any more. Entries from real `conntrack -L` output (fixtures/conntrack/conntrack_L.txt) and conntrack_query's
JSON (fixtures/collect/conntrack_query-list.json); DNAT rules in kube-proxy's iptables and nftables shapes."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis import conntrack_entries
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.correlate import (
    parse_conntrack_json, parse_conntrack_text,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.findings import findings

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')
# kube-proxy's endpoint chain (iptables mode) and its nftables mode's endpoint rule, to an endpoint that moved
IPTABLES_DNAT = ('*nat\n:KUBE-SEP-A - [0:0]\n-A KUBE-SEP-A -p udp -m comment --comment "ns1/dns:dns" -m udp '
                 '-j DNAT --to-destination 198.18.0.3:53\nCOMMIT\n')
NFT_DNAT = ('table ip kube-proxy {\n\tchain endpoint-X {\n\t\tip saddr 198.18.0.4 jump mark-for-masquerade\n'
            '\t\tmeta l4proto udp dnat to 198.18.0.4:53\n\t}\n}\n')


def _text(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


def udp_entry(src, dst, dport, reply_src, reply_sport):
    return {'proto': 'udp', 'original': {'src': src, 'dst': dst, 'sport': 41000, 'dport': dport},
            'reply': {'src': reply_src, 'dst': src, 'sport': reply_sport, 'dport': 41000}, 'replied': True}


def test_unreplied_entries_from_conntrack_text():
    entries = parse_conntrack_text(_text('conntrack', 'conntrack_L.txt'))
    found = conntrack_entries.findings(entries, [])
    assert len(found['unreplied']) == 6 and found['stale_dnat'] == {}
    assert conntrack_entries.example(found['unreplied'][0]) == 'UDP 198.18.210.1:41006 -> 198.18.210.2:7778'


def test_replied_entries_from_conntrack_query_json():
    entries = parse_conntrack_json(_text('collect', 'conntrack_query-list.json'))
    assert [e['replied'] for e in entries] == [True]


@pytest.mark.parametrize('texts, stale', [
    ([IPTABLES_DNAT], {'198.18.0.9:53': 1}),  # the endpoint moved from .9 to .3: the old entry black-holes
    ([NFT_DNAT], {'198.18.0.9:53': 1}),
    ([IPTABLES_DNAT.replace('198.18.0.3:53', '198.18.0.9:53')], {}),  # the rule still sends there
    ([IPTABLES_DNAT.replace(':53\n', '\n')], {'198.18.0.9:53': 1}),  # a rule without port sends to .3 only
    ([], {}),  # a node without DNAT rules: nothing to compare with
    ([IPTABLES_DNAT + '*nat\n-A PREROUTING -p udp -j REDIRECT --to-ports 5353\nCOMMIT\n'], {}),  # local targets
])
def test_stale_udp_dnat(texts, stale):
    entries = [udp_entry('198.18.0.1', '198.19.0.53', 53, '198.18.0.9', 53),
               udp_entry('198.18.0.1', '198.18.0.2', 9, '198.18.0.2', 9)]  # not DNATed
    found = conntrack_entries.findings(entries, texts)
    assert dict((k, len(v)) for k, v in found['stale_dnat'].items()) == stale


def test_the_findings_lines():
    hosts = {'node2': {'conntrack_findings': {
        'unreplied': 2, 'unreplied_examples': ['UDP 198.18.0.1:41000 -> 198.18.0.2:9', 'UDP 198.18.0.1:41001 -> 198.18.0.2:9'],
        'stale_dnat': [{'target': '198.18.0.9:53', 'entries': 3, 'example': 'UDP 198.18.0.1:41000 -> 198.19.0.53:53'}]}}}
    assert findings([], [], hosts) == [
        'node2: 3 stale UDP DNAT entries to 198.18.0.9:53: no DNAT rule sends there now '
        '(UDP 198.18.0.1:41000 -> 198.19.0.53:53)',
        'node2: 2 conntrack entries of the match never answered [UNREPLIED] (UDP 198.18.0.1:41000 -> 198.18.0.2:9, '
        'UDP 198.18.0.1:41001 -> 198.18.0.2:9)']
