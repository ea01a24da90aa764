# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``iptables -S`` parsing, on output recorded from both variants (see tests/unit/fixtures/rules/README.md)."""

from __future__ import annotations

import shlex

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import iptables_parse as ip
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import restore_line
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import Tag

RUN1 = Tag('run-1', 1790000000)
RUN2 = Tag('run.2_x', 1790000001)


@pytest.mark.parametrize('name', ['legacy-ipv4-raw.S', 'nft-ipv4-raw.S'])
def test_raw_table_of_both_variants(name, fixture_text):
    rules = ip.parse_rules(fixture_text(name))
    assert [(r.chain, r.position) for r in rules] == [
        ('PREROUTING', 1), ('PREROUTING', 2), ('PREROUTING', 3), ('PREROUTING', 4), ('PREROUTING', 5),
        ('PREROUTING', 6), ('OUTPUT', 1), ('OUTPUT', 2), ('OUTPUT', 3), ('OUTPUT', 4), ('OUTPUT', 5),
        ('cali-PREROUTING', 1)]
    assert [r.tag for r in rules] == [RUN2, RUN1, RUN1, RUN1, None, None, RUN1, RUN1, None, RUN1, None, None]
    assert [r.jump for r in rules] == ['TRACE', 'LOG', 'LOG', 'TRACE', 'cali-PREROUTING', 'CILIUM_PRE_raw', 'TRACE',
                                       'NFLOG', 'CT', 'TRACE', 'TRACE', 'ACCEPT']
    assert ip.parse_chains(fixture_text(name)) == ['PREROUTING', 'OUTPUT', 'CILIUM_PRE_raw', 'cali-PREROUTING']


def test_variants_print_the_same_rules(fixture_text):
    legacy = [r.line for r in ip.parse_rules(fixture_text('legacy-ipv4-raw.S'))]
    nft = [r.line for r in ip.parse_rules(fixture_text('nft-ipv4-raw.S'))]
    assert legacy == nft


def test_quoted_comment_and_options_are_unquoted(fixture_text):
    rules = ip.parse_rules(fixture_text('legacy-ipv4-raw.S'))
    assert rules[8].comments == ['foreign "quoted" comment']
    assert rules[1].args[-8:-6] == ['--log-prefix', 'nd:run-1 ']
    assert rules[7].args[-4:] == ['--nflog-prefix', 'nd x', '--nflog-group', '5']


def test_only_a_sole_exact_tag_makes_a_rule_ours(fixture_text):
    rules = ip.parse_rules(fixture_text('legacy-ipv4-raw.S'))
    two_comments, look_alike = rules[9], rules[10]
    # A second comment does not hide our tag (issue 15): the rule is ours, but not as we insert them.
    assert two_comments.comments == ['netdebug:run-1:1790000000', 'second comment']
    assert two_comments.tag.run_id == 'run-1' and not two_comments.verified
    assert look_alike.comments == ['netdebug:not a tag'] and look_alike.tag is None


@pytest.mark.parametrize('run_id, count', [('run-1', 6), ('run.2_x', 1), ('*', 7), ('run', 0)])
def test_tagged(run_id, count, fixture_text):
    rules = ip.parse_rules(fixture_text('nft-ipv4-raw.S'))
    assert len(ip.tagged(rules, run_id)) == count


def test_delete_args_rebuild_the_exact_spec(fixture_text):
    for name in ('legacy-ipv4-raw.S', 'legacy-ipv4-filter.S', 'legacy-ipv6-raw.S', 'nft-ipv4-filter.S'):
        for rule in ip.parse_rules(fixture_text(name)):
            args = rule.delete_args()
            assert args[:2] == ['-D', rule.chain]
            # Quoted back the way iptables-restore reads it, the tokens are the line's own.
            assert shlex.split(restore_line(args[2:])) == shlex.split(rule.line)[2:]


def test_agents_of_jump_targets(fixture_text):
    """The engine names foreign hooks with the foundation's chain_agent over these jump targets."""
    from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.hooks import chain_agent
    raw = ip.parse_rules(fixture_text('legacy-ipv4-raw.S'))
    filt = ip.parse_rules(fixture_text('legacy-ipv4-filter.S'))
    agents = sorted(filter(None, (chain_agent(r.jump or '') for r in raw + filt)))
    assert agents == ['calico', 'cilium', 'docker', 'kube-proxy']


def test_ipv6_rules(fixture_text):
    rules = ip.parse_rules(fixture_text('legacy-ipv6-raw.S'))
    assert [r.tag for r in rules] == [RUN1, RUN2]
    assert '-s' in rules[0].args and '2001:db8::/64' in rules[0].args


def test_save_output_and_warning_lines(fixture_text):
    rules = ip.parse_rules(fixture_text('nft-ipv4-mixed.save'))
    assert len(rules) == 12 + 5  # raw and filter tables
    assert not any(r.line.startswith('#') for r in rules)


def test_unparsable_line():
    with pytest.raises(RulesError, match='cannot parse'):
        ip.parse_rules('-A PREROUTING -m comment --comment "unterminated\n')


# -v -S prints '-c packets bytes' before the target (legacy and nf_tables variants alike, iptables 1.8.9)
VERIFIED_CASES = [
    ('-A PREROUTING -p icmp -m comment --comment "netdebug:run-1:1700000300" -c 50000 4200000', True, None, 50000),
    ('-A PREROUTING -p icmp -m limit --limit 100/sec --limit-burst 200 -m comment --comment '
     '"netdebug:run-1:1700000300" -c 3200 268800 -j TRACE', True, 'TRACE', 3200),
    ('-A PREROUTING -p icmp -m comment --comment "netdebug:run-1:1700000300" -j TRACE', True, 'TRACE', None),
    ('-A PREROUTING -p icmp -m comment --comment "netdebug:run-1:1700000300" -g x', False, 'x', None),
    ('-A PREROUTING -p icmp -m comment --comment "netdebug:run-1:1700000300" -j TRACE -j ACCEPT', False, 'TRACE',
     None),
]


@pytest.mark.parametrize('line, verified, jump, packets', VERIFIED_CASES)
def test_counters_and_at_most_one_jump(line, verified, jump, packets):
    rule = ip.parse_rules(line)[0]
    assert (rule.verified, rule.jump, rule.packets) == (verified, jump, packets)
    assert '-c' not in rule.args  # the counters are not part of the rule's spec (-C, -D)
