# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables-save parsing and normalisation, from the output recorded for both variants."""

from __future__ import annotations

import re

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParseError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import (
    normalise_save, parse_save, render_save, rule_target,
)
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import SAVE_TOOLS, SCENARIOS, fixture

FAMILY = {'iptables-legacy-save': 'ipv4', 'iptables-nft-save': 'ipv4',
          'ip6tables-legacy-save': 'ipv6', 'ip6tables-nft-save': 'ipv6'}
COUNTERS = re.compile(r'^\[\d+:\d+\] | \[\d+:\d+\]$', re.M)
ALL_SAVES = [(scenario, tool, counters) for scenario in SCENARIOS for tool in SAVE_TOOLS for counters in ('', '-c')]


@pytest.mark.parametrize('scenario, tool, counters', ALL_SAVES)
def test_every_recorded_save_parses_and_normalises_stably(scenario, tool, counters):
    text = fixture(scenario, tool + counters + '.txt')
    assert bool(COUNTERS.search(text)) is bool(text)  # chain counters are always printed; -c adds rule counters
    family = FAMILY[tool]
    ruleset = parse_save(text, family)
    assert all(table.family == family for table in ruleset.tables)
    normal = normalise_save(text, family)
    assert normalise_save(normal, family) == normal  # a fixed point: normalising twice changes nothing
    assert '#' not in ''.join(line[:1] for line in normal.splitlines())
    assert not COUNTERS.search(normal)
    # rules survive normalisation one for one
    assert sum(len(c.rules) for t in ruleset.tables for c in t.chains.values()) == normal.count('\n-A ')


# The Kubernetes/Calico ruleset loaded once with iptables-legacy-restore and once with iptables-nft-restore:
# iptables-legacy-save lists tables in load order (filter, nat, mangle, raw), iptables-nft-save differently
# (mangle, raw, filter, nat); normalised, the two are the same text.
@pytest.mark.parametrize('family, legacy, nft', [
    ('ipv4', 'iptables-legacy-save', 'iptables-nft-save'),
    ('ipv6', 'ip6tables-legacy-save', 'ip6tables-nft-save'),
])
def test_both_variants_normalise_to_the_same_text(family, legacy, nft):
    from_legacy = fixture('legacy', legacy + '.txt')
    from_nft = fixture('nft', nft + '.txt')
    assert from_legacy != from_nft
    assert normalise_save(from_legacy, family) == normalise_save(from_nft, family)
    assert normalise_save(fixture('legacy', legacy + '-c.txt'), family) == normalise_save(from_legacy, family)


def test_listed_table_order_differs_between_variants_and_normalised_order_is_fixed():
    assert [t.name for t in parse_save(fixture('legacy', 'iptables-legacy-save.txt')).tables] == \
        ['filter', 'nat', 'mangle', 'raw']
    assert [t.name for t in parse_save(fixture('nft', 'iptables-nft-save.txt')).tables] == \
        ['mangle', 'raw', 'filter', 'nat']
    normal = normalise_save(fixture('nft', 'iptables-nft-save.txt'))
    assert [line for line in normal.splitlines() if line.startswith('*')] == ['*raw', '*mangle', '*nat', '*filter']


def test_normalised_text_starts_like_this():
    normal = normalise_save(fixture('legacy', 'iptables-legacy-save-c.txt'))
    assert normal.splitlines()[:8] == [
        '*raw',
        ':PREROUTING ACCEPT',
        ':OUTPUT ACCEPT',
        ':cali-OUTPUT -',
        ':cali-PREROUTING -',
        ':cali-from-host-endpoint -',
        '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING',
        '-A OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT',
    ]


@pytest.mark.parametrize('scenario', ['empty-fresh', 'native'])
def test_nothing_normalises_to_the_empty_string(scenario):
    assert normalise_save(fixture(scenario, 'iptables-legacy-save.txt')) == ''


# (scenario, save tool, table, chain) -> rules in that chain, user chain?, policy
CHAINS = [
    ('legacy', 'iptables-legacy-save', 'filter', 'INPUT', 5, 'ACCEPT'),
    ('legacy', 'iptables-legacy-save', 'filter', 'FORWARD', 2, 'DROP'),
    ('legacy', 'iptables-legacy-save', 'filter', 'cali-from-host-endpoint', 1, None),
    ('legacy', 'iptables-legacy-save', 'raw', 'cali-from-host-endpoint', 1, None),
    ('legacy', 'iptables-legacy-save', 'nat', 'KUBE-SERVICES', 2, None),
    ('legacy', 'iptables-legacy-save', 'nat', 'KUBE-NODEPORTS', 0, None),
    ('legacy', 'iptables-legacy-save', 'mangle', 'KUBE-IPTABLES-HINT', 0, None),
    ('legacy', 'ip6tables-legacy-save', 'filter', 'cali-INPUT', 2, None),
    ('nft', 'iptables-nft-save', 'nat', 'KUBE-SVC-NPX46M4PTMTKRN6Y', 2, None),
    ('mixed', 'iptables-legacy-save', 'filter', 'DOCKER-ISOLATION-STAGE-1', 2, None),
    ('mixed', 'iptables-legacy-save', 'nat', 'PREROUTING', 1, 'ACCEPT'),
    ('cilium', 'iptables-nft-save', 'raw', 'CILIUM_PRE_raw', 1, None),
    ('cilium', 'iptables-legacy-save', 'filter', 'FORWARD', 0, 'DROP'),
]


@pytest.mark.parametrize('scenario, tool, table, chain, count, policy', CHAINS)
def test_chains(scenario, tool, table, chain, count, policy):
    parsed = parse_save(fixture(scenario, tool + '.txt'), FAMILY[tool]).table(table).chain(chain)
    assert len(parsed.rules) == count
    assert parsed.policy == policy
    assert parsed.is_base is (policy is not None)
    assert [rule.position for rule in parsed.rules] == list(range(1, count + 1))


# (table, chain, position) -> text, target, goto, jumps, comment, counters (from the -c recording of 'legacy')
RULES = [
    ('filter', 'INPUT', 1, '-i lo -p icmp -m comment --comment "count loopback pings" -j ACCEPT',
     'ACCEPT', False, (), 'count loopback pings', (6, 504)),
    ('filter', 'INPUT', 2, '-m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT',
     'cali-INPUT', False, ('cali-INPUT',), 'cali:Cz_u1IQiXIMmKD4c', (2, 100)),
    ('filter', 'INPUT', 4, '-j KUBE-FIREWALL', 'KUBE-FIREWALL', False, ('KUBE-FIREWALL',), None, (2, 100)),
    ('filter', 'cali-INPUT', 2, '-m comment --comment "cali:Sb1hkLYFMrKS6r01" -g cali-from-host-endpoint',
     'cali-from-host-endpoint', True, ('cali-from-host-endpoint',), 'cali:Sb1hkLYFMrKS6r01', (2, 100)),
    # an escaped quote inside a comment
    ('filter', 'cali-from-host-endpoint', 1, '-m comment --comment "cali:a \\"quoted\\" word" -j RETURN',
     'RETURN', False, (), 'cali:a "quoted" word', (2, 100)),
    # LOG is a target, not a chain; its prefix contains a blank
    ('filter', 'app-guard', 1, '-p tcp -m tcp --dport 8080 -m limit --limit 5/min --limit-burst 3 -j LOG '
     '--log-prefix "app-guard drop: " --log-level 7', 'LOG', False, (), None, (1, 60)),
    ('raw', 'cali-from-host-endpoint', 1, '-s 198.18.0.1/32 -p icmp -m comment --comment "netdebug:r1:1700000000" '
     '-j TRACE', 'TRACE', False, (), 'netdebug:r1:1700000000', (0, 0)),
    ('nat', 'KUBE-SERVICES', 2, '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last '
     'rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS', 'KUBE-NODEPORTS', False,
     ('KUBE-NODEPORTS',), 'kubernetes service nodeports; NOTE: this must be the last rule in this chain', (2, 144)),
]


@pytest.mark.parametrize('table, chain, position, text, target, goto, jumps, comment, counters', RULES)
def test_rules(table, chain, position, text, target, goto, jumps, comment, counters):
    ruleset = parse_save(fixture('legacy', 'iptables-legacy-save-c.txt'))
    rule = ruleset.rule(table, chain, position)
    assert (rule.chain, rule.position, rule.text) == (chain, position, text)
    assert (rule.target, rule.goto, rule.jumps, rule.comment, rule.counters) == (target, goto, jumps, comment, counters)
    without = parse_save(fixture('legacy', 'iptables-legacy-save.txt')).rule(table, chain, position)
    assert without.text == text and without.counters is None


def test_rule_arguments_are_split_like_a_shell_would():
    rule = parse_save(fixture('legacy', 'iptables-legacy-save.txt')).rule('filter', 'app-guard', 1)
    assert rule.args[-4:] == ['--log-prefix', 'app-guard drop: ', '--log-level', '7']


@pytest.mark.parametrize('table, chain, position', [
    ('filter', 'INPUT', 0), ('filter', 'INPUT', 6), ('filter', 'NOPE', 1), ('security', 'INPUT', 1)])
def test_rule_lookup_outside_the_ruleset(table, chain, position):
    assert parse_save(fixture('legacy', 'iptables-legacy-save.txt')).rule(table, chain, position) is None


def test_chain_counters_are_kept_in_the_model_and_rendered_on_request():
    ruleset = parse_save(fixture('legacy', 'iptables-legacy-save-c.txt'))
    assert ruleset.table('filter').chain('INPUT').counters == (1, 40)
    text = render_save(ruleset, counters=True)
    assert ':INPUT ACCEPT [1:40]' in text
    assert '[6:504] -A INPUT -i lo -p icmp -m comment --comment "count loopback pings" -j ACCEPT' in text
    assert render_save(ruleset) == normalise_save(fixture('legacy', 'iptables-legacy-save.txt'))


@pytest.mark.parametrize('text, lineno, problem', [
    ('-A INPUT -j ACCEPT\n', 1, 'line outside a table'),
    ('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n', 4, 'table filter is not closed with COMMIT'),
    ('*filter\n:INPUT ACCEPT [0:0]\n*nat\nCOMMIT\n', 3, 'table filter is not closed with COMMIT'),
    ('*filter\n:INPUT ACCEPT [0:0]\n-A OUTPUT -j ACCEPT\nCOMMIT\n', 3, 'rule for chain OUTPUT, which the table'),
    ('*filter\n:INPUT\nCOMMIT\n', 2, 'bad chain line'),
    ('*filter\n:INPUT ACCEPT [0:0]\n-I INPUT 1 -j ACCEPT\nCOMMIT\n', 3, 'expected a -A rule'),
    ('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "open -j ACCEPT\nCOMMIT\n', 3,
     'cannot split the rule'),
])
def test_parse_errors_name_the_line(text, lineno, problem):
    with pytest.raises(ParseError) as caught:
        parse_save(text, source='/usr/sbin/iptables-nft-save')
    assert caught.value.lineno == lineno
    assert caught.value.msg.startswith('cannot parse /usr/sbin/iptables-nft-save line %d: %s' % (lineno, problem))


def test_a_rule_without_arguments():
    ruleset = parse_save('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT\nCOMMIT\n')
    rule = ruleset.rule('filter', 'INPUT', 1)
    assert (rule.text, rule.args, rule.target) == ('', [], None)
    assert render_save(ruleset) == '*filter\n:INPUT ACCEPT\n-A INPUT\nCOMMIT\n'


@pytest.mark.parametrize('text, expected', [
    ('-A INPUT -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset', ('REJECT', False)),
    ('-4 -t filter -A INPUT -j app-check', ('app-check', False)),  # as xtables-monitor prints it
    ('-A app -m comment --comment "say -j X" -g app-deep', ('app-deep', True)),
    ('-A app -m comment --comment "unclosed -j LOG', ('LOG', False)),
    ('-6 -t filter', (None, False)),
])
def test_rule_target(text, expected):
    assert rule_target(text) == expected
