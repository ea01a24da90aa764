# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import nft_parse
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import Tag


def test_own_table(fixture_text):
    rules = nft_parse.parse_table_text(fixture_text('nftables-own-table.txt'))
    assert [(r.chain, r.handle) for r in rules] == [('raw_prerouting', 3), ('raw_prerouting', 5), ('raw_output', 8),
                                                    ('raw_output', 7)]
    assert [r.tag for r in rules] == [Tag('run-1', 1790000000), Tag('run-1', 1790000000),
                                      Tag('run.2_x', 1790000001), Tag('run.2_x', 1790000001)]
    assert rules[2].text == 'meta nftrace set 1 comment "netdebug:run.2_x:1790000001"'
    assert not any('# handle' in r.text for r in rules)


def test_echo_handle(fixture_text):
    assert nft_parse.parse_echo_handle(fixture_text('nftables-echo.txt')) == 8
    with pytest.raises(RulesError):
        nft_parse.parse_echo_handle('')


def test_table_json_summary(fixture_text):
    raw = nft_parse.parse_table_json(fixture_text('nft-ip-raw.json'))
    assert raw['chains']['PREROUTING'] == {'hook': 'prerouting', 'rules': 6}
    assert raw['chains']['OUTPUT'] == {'hook': 'output', 'rules': 5}
    assert raw['chains']['cali-PREROUTING'] == {'hook': None, 'rules': 1}
    assert raw['other'] == 0
    filt = nft_parse.parse_table_json(fixture_text('nft-ip-filter.json'))
    assert filt['chains']['app-guard']['rules'] == 2


def test_bad_json():
    with pytest.raises(RulesError, match='JSON'):
        nft_parse.parse_table_json('{')


def test_counters_are_kept_apart_from_the_text():
    """nft 1.0.6 lists a rate-limited trace rule's two counters with their values; the text names the rule without
    them, so that it stays the same while packets come."""
    text = ('table inet netdebug { # handle 7\n\tchain raw-prerouting { # handle 1\n'
            '\t\ttype filter hook prerouting priority raw - 1; policy accept;\n'
            '\t\tip protocol icmp counter packets 50000 bytes 4200000 limit rate 100/second burst 200 packets '
            'counter packets 3200 bytes 268800 meta nftrace set 1 comment "netdebug:run-1:1700000300" # handle 4\n'
            '\t}\n}\n')
    rule = nft_parse.parse_table_text(text)[0]
    assert rule.packets == [50000, 3200] and rule.verified
    assert rule.text == ('ip protocol icmp counter limit rate 100/second burst 200 packets counter meta nftrace set 1 '
                         'comment "netdebug:run-1:1700000300"')
