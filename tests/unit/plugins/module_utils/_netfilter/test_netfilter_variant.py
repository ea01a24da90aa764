# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Variant detection: -V parsing, which backend holds rules (recorded saves), the decision, and detect()."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParseError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import has_content, parse_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.variant import (
    decide_variant, detect, disagreement, parse_version,
)
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import (
    DEBIAN12_TOOLS, FakeModule, OLD_TOOLS, ScenarioNode, fixture,
)

# iptables 1.6.1 (Ubuntu 18.04, Debian 9 backports) prints no variant: it predates iptables-nft. This machine
# cannot install it, so this line is written by hand in the format that release prints.
OLD_161 = 'iptables v1.6.1\n'


@pytest.mark.parametrize('text, tool, version, variant', [
    (fixture('version', 'iptables-nft-V.txt'), 'iptables', (1, 8, 9), 'nf_tables'),
    (fixture('version', 'iptables-legacy-V.txt'), 'iptables', (1, 8, 9), 'legacy'),
    (fixture('version', 'ip6tables-nft-V.txt'), 'ip6tables', (1, 8, 9), 'nf_tables'),
    (fixture('version', 'ip6tables-legacy-V.txt'), 'ip6tables', (1, 8, 9), 'legacy'),
    (OLD_161, 'iptables', (1, 6, 1), 'legacy'),
    ('iptables v1.8.7 (legacy)\n', 'iptables', (1, 8, 7), 'legacy'),
    ('ip6tables v1.4.21\n', 'ip6tables', (1, 4, 21), 'legacy'),
    # a warning line before the version (some wrappers print one) does not matter
    ('# Warning: iptables-legacy tables present\niptables v1.8.9 (nf_tables)\n', 'iptables', (1, 8, 9), 'nf_tables'),
])
def test_parse_version(text, tool, version, variant):
    info = parse_version(text)
    assert (info.tool, info.version, info.variant) == (tool, version, variant)
    assert info.version_string == '.'.join(str(part) for part in version)


@pytest.mark.parametrize('text, problem', [
    ('', 'no "iptables vX.Y.Z" version line'),
    (fixture('version', 'nft-v.txt'), 'no "iptables vX.Y.Z" version line'),
    ('iptables v1.8.9 (something else)\n', "unknown iptables variant 'something else'"),
])
def test_parse_version_refuses(text, problem):
    with pytest.raises(ParseError) as caught:
        parse_version(text, source='/usr/sbin/iptables -V')
    assert caught.value.msg.startswith('cannot parse /usr/sbin/iptables -V: ' + problem)


# Which backend holds rules in each recorded scenario, per save command: the heart of the decision.
HOLDS = [
    # scenario, iptables-legacy-save, ip6tables-legacy-save, iptables-nft-save, ip6tables-nft-save
    ('legacy', True, True, False, False),
    ('nft', False, False, True, True),
    ('mixed', True, False, True, True),
    ('empty-fresh', False, False, False, False),  # nothing printed at all
    ('empty-loaded', False, False, False, False),  # tables listed, but only ACCEPT policies
    ('native', False, False, False, False),  # native nftables tables are not iptables rules
    ('cilium', True, False, True, False),  # legacy: no rule at all, only a FORWARD DROP policy
]


@pytest.mark.parametrize('scenario, legacy4, legacy6, nft4, nft6', HOLDS)
@pytest.mark.parametrize('counters', ['', '-c'])
def test_has_content_from_recorded_saves(scenario, legacy4, legacy6, nft4, nft6, counters):
    expected = {'iptables-legacy-save': legacy4, 'ip6tables-legacy-save': legacy6,
                'iptables-nft-save': nft4, 'ip6tables-nft-save': nft6}
    for tool, holds in expected.items():
        family = 'ipv6' if tool.startswith('ip6') else 'ipv4'
        ruleset = parse_save(fixture(scenario, tool + counters + '.txt'), family)
        assert has_content(ruleset) is holds, tool


def test_empty_loaded_really_lists_tables():
    # the point of the scenario: "empty" is not "no output"
    ruleset = parse_save(fixture('empty-loaded', 'iptables-legacy-save.txt'))
    assert [table.name for table in ruleset.tables] == ['nat', 'filter']
    ruleset = parse_save(fixture('empty-loaded', 'iptables-nft-save.txt'))
    assert [table.name for table in ruleset.tables] == ['raw', 'filter']


@pytest.mark.parametrize('default, legacy, nft, variant', [
    ('nf_tables', False, False, 'nf_tables'),
    ('legacy', False, False, 'legacy'),
    (None, False, False, None),
    ('nf_tables', True, False, 'legacy'),
    ('legacy', False, True, 'nf_tables'),
    ('legacy', True, False, 'legacy'),
    ('nf_tables', False, True, 'nf_tables'),
    ('nf_tables', True, True, 'mixed'),
    ('legacy', True, True, 'mixed'),
    (None, True, True, 'mixed'),
])
def test_decide_variant(default, legacy, nft, variant):
    decided, reason = decide_variant(default, legacy, nft)
    assert decided == variant
    assert reason


@pytest.mark.parametrize('default, variant, warns', [
    ('nf_tables', 'nf_tables', False),
    ('nf_tables', 'mixed', False),
    ('nf_tables', 'legacy', True),
    ('legacy', 'nf_tables', True),
    (None, 'legacy', False),
])
def test_disagreement(default, variant, warns):
    warning = disagreement(default, variant)
    assert bool(warning) is warns
    if warns:
        assert 'iptables-%s' % ('legacy' if variant == 'legacy' else 'nft') in warning


# detect() on a Debian 12 node (plain iptables = nf_tables) for each recorded scenario
@pytest.mark.parametrize('scenario, variant, holds', [
    ('legacy', 'legacy', ['legacy']),
    ('nft', 'nf_tables', ['nf_tables']),
    ('mixed', 'mixed', ['legacy', 'nf_tables']),
    ('empty-fresh', 'nf_tables', []),
    ('empty-loaded', 'nf_tables', []),
    ('native', 'nf_tables', []),
    ('cilium', 'mixed', ['legacy', 'nf_tables']),
])
def test_detect_on_recorded_scenarios(scenario, variant, holds):
    module = FakeModule(DEBIAN12_TOOLS, ScenarioNode(scenario))
    found = detect(ToolRunner(module))
    assert found.variant == variant
    assert [name for name in ('legacy', 'nf_tables') if found.holds[name]] == holds
    assert found.version.version_string == '1.8.9' and found.version.variant == 'nf_tables'
    assert module.argvs() == [
        ['/usr/sbin/iptables', '-V'],
        ['/usr/sbin/iptables-legacy-save'], ['/usr/sbin/ip6tables-legacy-save'],
        ['/usr/sbin/iptables-nft-save'], ['/usr/sbin/ip6tables-nft-save'],
    ]
    assert sorted(found.saves) == [('legacy', 'ipv4'), ('legacy', 'ipv6'), ('nf_tables', 'ipv4'), ('nf_tables', 'ipv6')]
    legacy_warning = [w for w in found.warnings if 'rules are in the legacy backend' in w]
    assert bool(legacy_warning) is (variant == 'legacy')


def test_detect_on_a_legacy_default_node_with_no_rules():
    module = FakeModule(DEBIAN12_TOOLS, ScenarioNode('empty-fresh', version='iptables-legacy-V.txt'))
    assert detect(ToolRunner(module)).variant == 'legacy'


def test_detect_one_family_reads_only_that_family():
    module = FakeModule(DEBIAN12_TOOLS, ScenarioNode('mixed'))
    found = detect(ToolRunner(module), families=['ipv6'])
    # IPv6 holds nothing in legacy in this scenario: Docker's rules are IPv4 only
    assert found.variant == 'nf_tables'
    assert module.argvs() == [['/usr/sbin/ip6tables', '-V'], ['/usr/sbin/ip6tables-legacy-save'],
                              ['/usr/sbin/ip6tables-nft-save']]


def test_detect_on_iptables_before_1_8_uses_the_plain_save_for_legacy():
    def answer(argv, data):
        if argv == ['/sbin/iptables', '-V']:
            return 0, OLD_161, ''
        return ScenarioNode('legacy')(argv, data)

    module = FakeModule(OLD_TOOLS, answer)
    found = detect(ToolRunner(module))
    assert found.variant == 'legacy' and found.version.version == (1, 6, 1)
    assert module.argvs() == [['/sbin/iptables', '-V'], ['/sbin/iptables-save'], ['/sbin/ip6tables-save']]
    assert sorted(found.saves) == [('legacy', 'ipv4'), ('legacy', 'ipv6')]


def test_detect_without_iptables():
    module = FakeModule({'nft': '/usr/sbin/nft'}, ScenarioNode('native'))
    found = detect(ToolRunner(module))
    assert found.variant is None and found.version is None and found.saves == {}
    assert module.argvs() == []
    assert any('install the iptables package' in warning for warning in found.warnings)
