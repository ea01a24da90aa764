# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test doubles for the _netfilter unit tests: recorded fixtures, an AnsibleModule stand-in, and a node that
answers the netfilter tools with the output recorded for one scenario (see tests/unit/fixtures/netfilter)."""

from __future__ import annotations

import os
import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'netfilter'

# The scenarios recorded by record.sh, and what each holds.
SCENARIOS = ('legacy', 'nft', 'mixed', 'empty-fresh', 'empty-loaded', 'native', 'cilium')
SAVE_TOOLS = ('iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save')
FAMILY_OF = {'iptables': 'ipv4', 'ip6tables': 'ipv6'}

# What Debian 12 with the iptables and nftables packages has (the machine the fixtures come from).
DEBIAN12_TOOLS = dict((name, '/usr/sbin/' + name) for name in (
    'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'ip6tables-restore',
    'iptables-legacy', 'ip6tables-legacy', 'iptables-nft', 'ip6tables-nft',
    'iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save',
    'iptables-legacy-restore', 'ip6tables-legacy-restore', 'iptables-nft-restore', 'ip6tables-nft-restore',
    'nft'))
# iptables before 1.8 (Ubuntu 18.04's 1.6.1): only the plain names, all legacy; no nft.
OLD_TOOLS = dict((name, '/sbin/' + name) for name in (
    'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'ip6tables-restore'))


def fixture(*parts):
    """Text of a recorded fixture file."""
    return FIXTURES.joinpath(*parts).read_text(encoding='utf-8')


def fixture_or_empty(*parts):
    path = FIXTURES.joinpath(*parts)
    return path.read_text(encoding='utf-8') if path.exists() else ''


class FakeModule:
    """Stands in for AnsibleModule: get_bin_path from a dict, run_command answered by answer(argv, data).

    Every call is recorded with its keyword arguments so that tests can check argv, locale and flags.
    """

    def __init__(self, tools=None, answer=None):
        self.tools = dict(tools or {})
        self.answer = answer
        self.calls = []
        self.lookups = []

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        self.lookups.append((arg, required, opt_dirs))
        return self.tools.get(arg)

    def run_command(self, args, **kwargs):
        self.calls.append((list(args), kwargs))
        if self.answer is None:
            raise AssertionError('unexpected command: %r' % (args,))
        return self.answer(list(args), kwargs.get('data'))

    def argvs(self):
        return [argv for argv, _kwargs in self.calls]


class ScenarioNode:
    """answer() for FakeModule: replies like a node whose rulesets are those recorded for scenario.

    version names the recorded ``-V`` output of the plain iptables command (iptables-nft-V.txt on Debian 12).
    Commands it does not know fail the test, so a test cannot pass on a command nobody expected.
    """

    def __init__(self, scenario, version='iptables-nft-V.txt'):
        self.scenario = scenario
        self.version = version

    def __call__(self, argv, data):
        name = os.path.basename(argv[0])
        args = argv[1:]
        if args == ['-V'] and name in FAMILY_OF:
            text = fixture('version', self.version)
            return 0, text.replace('iptables', name, 1) if name == 'ip6tables' else text, ''
        if name.endswith('-save'):
            return self._save(name, args)
        if name == 'nft' and args in (['list', 'ruleset'], ['-a', 'list', 'ruleset']):
            base = 'nft-a-list-ruleset' if args[0] == '-a' else 'nft-list-ruleset'
            return 0, fixture(self.scenario, base + '.txt'), fixture_or_empty(self.scenario, base + '.stderr')
        raise AssertionError('unexpected command: %r' % (argv,))

    def _save(self, name, args):
        if name in ('iptables-save', 'ip6tables-save'):
            # the plain save of iptables before 1.8 is the legacy one
            name = name.replace('tables-save', 'tables-legacy-save')
        if args not in ([], ['-c']):
            raise AssertionError('unexpected save arguments: %r' % (args,))
        base = name + ('-c' if args else '')
        return 0, fixture(self.scenario, base + '.txt'), fixture_or_empty(self.scenario, name + '.stderr')
