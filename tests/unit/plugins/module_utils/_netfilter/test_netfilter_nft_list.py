# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nft list ruleset parsing and normalisation, from the listings recorded in every scenario."""

from __future__ import annotations

import re

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParseError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import (
    normalise_nft, parse_nft, rule_text,
)
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import SCENARIOS, fixture

CHANGING = re.compile(r'packets \d+ bytes \d+|# handle|used \d+|expires')


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_listings_with_and_without_handles_normalise_to_the_same_text(scenario):
    plain = fixture(scenario, 'nft-list-ruleset.txt')
    handles = fixture(scenario, 'nft-a-list-ruleset.txt')
    normal = normalise_nft(handles)
    assert normal == normalise_nft(plain)
    assert normalise_nft(normal) == normal
    assert not CHANGING.search(normal)
    # the same tables, chains and rule count either way
    with_handles, without = parse_nft(handles), parse_nft(plain)
    assert [(t.family, t.name, list(t.chains)) for t in with_handles.tables] == \
        [(t.family, t.name, list(t.chains)) for t in without.tables]
    assert [r.text for t in with_handles.tables for r in t.rules()] == [r.text for t in without.tables for r in t.rules()]


def test_the_recorded_listings_do_change_with_traffic_and_time():
    # what normalisation removes is really in the recordings
    text = fixture('native', 'nft-a-list-ruleset.txt')
    for changing in ('counter packets 6 bytes 504', 'packets 3 bytes 252', 'used 504 bytes', 'expires ', '# handle 1'):
        assert changing in text


def test_empty_listing():
    assert normalise_nft(fixture('empty-fresh', 'nft-list-ruleset.txt')) == ''
    assert parse_nft('').tables == []


def test_native_tables_objects_and_order():
    ruleset = parse_nft(fixture('native', 'nft-a-list-ruleset.txt'))
    assert [(t.family, t.name, t.handle) for t in ruleset.tables] == [
        ('inet', 'ndrec_native', 1), ('netdev', 'ndrec_ingress', 2), ('ip', 'kube-proxy', 3)]
    native = ruleset.table('ndrec_native', 'inet')
    assert native.objects == [('counter', 'pings'), ('quota', 'lab_quota'), ('set', 'lab_hosts'), ('set', 'recent')]
    assert list(native.chains) == ['trace_pre', 'input', 'app_checks']
    normal = normalise_nft(fixture('native', 'nft-a-list-ruleset.txt'))
    headers = [line.strip() for line in normal.splitlines() if line.endswith('{')]
    assert headers == ['table inet ndrec_native {', 'chain app_checks {', 'chain input {', 'chain trace_pre {',
                       'counter pings {', 'quota lab_quota {', 'set lab_hosts {', 'set recent {',
                       'table ip kube-proxy {', 'chain nat-prerouting {', 'chain service-kubernetes {',
                       'chain services {', 'table netdev ndrec_ingress {', 'chain lo_ingress {']


def test_normalised_objects():
    normal = normalise_nft(fixture('native', 'nft-a-list-ruleset.txt'))
    # the wrapped set is one line, whatever width nft wrapped it at
    assert '\t\telements = { 198.18.0.1, 198.18.0.2, 198.18.0.3, 198.18.0.4, 198.18.0.5, 198.18.0.6, 198.18.0.7, ' \
           '198.18.0.8, 198.18.0.9, 198.18.0.10, 198.18.0.11, 198.18.0.12, 198.18.0.13, 198.18.0.20-198.18.0.29 }\n' \
           in normal
    assert '\tcounter pings {\n\t}\n' in normal
    assert '\tquota lab_quota {\n\t\tover 100 mbytes\n\t}\n' in normal
    assert '\t\telements = { 127.0.0.1 }\n' in normal
    assert '\t\tip6 nexthdr ipv6-icmp quota 10 mbytes counter accept\n' in normal


# (scenario, family, table, chain) -> hook, type, priority, policy, comment, number of rules
CHAINS = [
    ('native', 'inet', 'ndrec_native', 'trace_pre', 'prerouting', 'filter', 'raw - 10', 'accept',
     'netdebug style trace hook {not a block}', 1),
    ('native', 'inet', 'ndrec_native', 'input', 'input', 'filter', 'filter', 'accept', None, 7),
    ('native', 'inet', 'ndrec_native', 'app_checks', None, None, None, None, None, 2),
    ('native', 'netdev', 'ndrec_ingress', 'lo_ingress', 'ingress', 'filter', '-500', 'accept', None, 1),
    ('native', 'ip', 'kube-proxy', 'nat-prerouting', 'prerouting', 'nat', 'dstnat', 'accept', None, 1),
    ('nft', 'ip', 'raw', 'PREROUTING', 'prerouting', 'filter', 'raw', 'accept', None, 1),
    ('nft', 'ip', 'filter', 'FORWARD', 'forward', 'filter', 'filter', 'drop', None, 2),
    ('nft', 'ip6', 'filter', 'cali-INPUT', None, None, None, None, None, 2),
    ('empty-loaded', 'ip', 'filter', 'INPUT', 'input', 'filter', 'filter', 'accept', None, 0),
]


@pytest.mark.parametrize('scenario, family, table, chain, hook, kind, priority, policy, comment, count', CHAINS)
def test_chains(scenario, family, table, chain, hook, kind, priority, policy, comment, count):
    parsed = parse_nft(fixture(scenario, 'nft-a-list-ruleset.txt')).table(table, family).chain(chain)
    assert (parsed.hook, parsed.chain_type, parsed.priority, parsed.policy) == (hook, kind, priority, policy)
    assert parsed.comment == comment
    assert len(parsed.rules) == count
    assert parsed.is_base is (hook is not None)


# (scenario, family, table, chain, position) -> text, handle, target, goto, jumps, comment
RULES = [
    ('native', 'inet', 'ndrec_native', 'trace_pre', 1,
     'ip saddr @lab_hosts meta nftrace set 1 comment "netdebug:r2:1700000000"', 8, None, False, (),
     'netdebug:r2:1700000000'),
    ('native', 'inet', 'ndrec_native', 'input', 4, 'iifname "lo" ip protocol icmp counter accept', 12, 'accept',
     False, (), None),
    ('native', 'inet', 'ndrec_native', 'input', 7, 'jump app_checks', 16, 'app_checks', False, ('app_checks',), None),
    ('native', 'inet', 'ndrec_native', 'app_checks', 2, 'tcp dport 8080 counter reject with tcp reset', 18, 'reject',
     False, (), None),
    ('native', 'ip', 'kube-proxy', 'services', 1, 'ip daddr 198.18.96.1 tcp dport 443 counter jump service-kubernetes',
     4, 'service-kubernetes', False, ('service-kubernetes',), None),
    # iptables-nft rules as nft shows them (it pads them with blanks; normalised to single ones)
    ('nft', 'ip', 'raw', 'PREROUTING', 1, 'counter jump cali-PREROUTING', 6, 'cali-PREROUTING', False,
     ('cali-PREROUTING',), None),
    ('nft', 'ip', 'filter', 'cali-INPUT', 2, 'counter goto cali-from-host-endpoint', None, 'cali-from-host-endpoint',
     True, ('cali-from-host-endpoint',), None),
]


@pytest.mark.parametrize('scenario, family, table, chain, position, text, handle, target, goto, jumps, comment', RULES)
def test_rules(scenario, family, table, chain, position, text, handle, target, goto, jumps, comment):
    rule = parse_nft(fixture(scenario, 'nft-a-list-ruleset.txt')).rule(table, chain, position, family)
    if handle is None:  # handles differ between recordings; the nft scenario's are not pinned here
        handle = rule.handle
        assert isinstance(handle, int)
    assert (rule.text, rule.handle) == (text, handle)
    assert (rule.target, rule.goto, rule.jumps, rule.comment) == (target, goto, jumps, comment)


def test_rules_without_handles_have_none():
    rule = parse_nft(fixture('native', 'nft-list-ruleset.txt')).rule('ndrec_native', 'trace_pre', 1)
    assert rule.handle is None and rule.comment == 'netdebug:r2:1700000000'


@pytest.mark.parametrize('text, lineno, problem', [
    ('}\n', 1, 'unmatched }'),
    ('chain x {\n}\n', 1, 'expected "table FAMILY NAME {"'),
    ('accept\n', 1, 'statement outside a table'),
    ('table ip t {\n\tchain c {\n\t\taccept\n', 4, 'unclosed block at the end'),
    ('table ip t {\n\tset s {\n\t\telements = { 1.2.3.4,\n', 4, 'unclosed block at the end'),
    ('table ip t {\n\tchain c {\n\t\tset x {\n\t\t}\n\t}\n}\n', 3, 'unexpected block inside chain c'),
    ('table ip t {\n\tx } }\n}\n', 2, 'more } than {'),
])
def test_parse_errors_name_the_line(text, lineno, problem):
    with pytest.raises(ParseError) as caught:
        parse_nft(text, source='nft -a list ruleset')
    assert caught.value.lineno == lineno
    assert caught.value.msg.startswith('cannot parse nft -a list ruleset line %d: %s' % (lineno, problem))


def test_braces_and_hashes_inside_strings_do_not_count():
    text = 'table ip t {\n\tchain c {\n\t\tcomment "a { b # c"\n\t\tlog prefix "x } # y" # handle 3\n\t}\n}\n'
    chain = parse_nft(text).table('t').chain('c')
    assert chain.comment == 'a { b # c'
    assert [(rule.text, rule.handle) for rule in chain.rules] == [('log prefix "x } # y"', 3)]


def test_creation_order_of_tables_and_chains_does_not_matter():
    # The same ruleset with the tables, and two chains, listed in another order (as after re-creating them).
    text = fixture('native', 'nft-list-ruleset.txt')
    tables = re.split(r'(?m)^(?=table )', text)[1:]
    assert len(tables) == 3
    first = tables[0]
    trace = re.search(r'(?ms)^\tchain trace_pre \{.*?^\t\}\n', first).group(0)
    checks = re.search(r'(?ms)^\tchain app_checks \{.*?^\t\}\n', first).group(0)
    swapped = first.replace(trace, '@@').replace(checks, trace).replace('@@', checks)
    assert swapped != first
    reordered = tables[2] + tables[1] + swapped
    assert normalise_nft(reordered) == normalise_nft(text)


def test_rule_text_of_a_monitor_line_equals_the_parsed_rule():
    """nft monitor trace prints counters with their values; a listing line also has the handle comment."""
    listing = 'table ip t {\n\tchain c {\n\t\tip  saddr 198.18.0.1 counter packets 3 bytes 252 drop # handle 7\n\t}\n}\n'
    rule = parse_nft(listing).table('t').chain('c').rules[0]
    assert rule_text('ip saddr 198.18.0.1 counter packets 9 bytes 756 drop') == rule.text
    assert rule_text('\t\tip  saddr 198.18.0.1 counter packets 3 bytes 252 drop # handle 7') == rule.text
    assert rule_text('meta nftrace set 1 comment "a # b"') == 'meta nftrace set 1 comment "a # b"'
