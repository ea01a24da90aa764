# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one test double of the node for every unit test: an AnsibleModule stand-in (FakeModule) whose commands are
answered from recorded output, and the real ToolRunner on it (FakeRunner).

Only get_bin_path and run_command are faked: argv, the C locale, the xtables lock arguments and every error go
through the collection's own runner, as on a node. Commands nobody expected fail the test, so a test cannot pass
on a command it did not state. Answers come from:

- Answers: a list of (predicate, (rc, stdout, stderr)); a predicate is a tool name (the basename of argv[0]), a
  tuple of tokens that must stand in argv as one contiguous slice, or a callable of argv;
- ScenarioNode: a node whose rulesets are those recorded for one scenario under fixtures/netfilter/;
- any callable answer(argv, data) -> (rc, stdout, stderr).

The module-level tests (tests/unit/plugins/modules/uthelper.py) drive the same FakeModule from YAML cases.
"""

from __future__ import annotations

import os
import pathlib

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import DEFAULT_LOCK_WAIT, ToolRunner

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / 'fixtures'
NETFILTER = FIXTURES / 'netfilter'
SBIN = '/usr/sbin/'

# The scenarios recorded by fixtures/netfilter/record.sh, and what each holds.
SCENARIOS = ('legacy', 'nft', 'mixed', 'empty-fresh', 'empty-loaded', 'native', 'cilium')
SAVE_TOOLS = ('iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save')
FAMILY_OF = {'iptables': 'ipv4', 'ip6tables': 'ipv6'}

# What Debian 12 with the iptables and nftables packages has (the machine the fixtures come from).
DEBIAN12_TOOLS = dict((name, SBIN + name) for name in (
    'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'ip6tables-restore',
    'iptables-legacy', 'ip6tables-legacy', 'iptables-nft', 'ip6tables-nft',
    'iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save',
    'iptables-legacy-restore', 'ip6tables-legacy-restore', 'iptables-nft-restore', 'ip6tables-nft-restore',
    'nft'))
# iptables before 1.8 (Ubuntu 18.04's 1.6.1): only the plain names, all legacy; no nft.
OLD_TOOLS = dict((name, '/sbin/' + name) for name in (
    'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'ip6tables-restore'))


class AnyTool(dict):
    """Tool paths for a node that has every tool under tool_dir, except those named missing."""

    def __init__(self, tool_dir=SBIN, missing=()):
        super().__init__()
        self.tool_dir = tool_dir
        self.missing = set(missing)

    def get(self, key, default=None):
        return default if key in self.missing else self.tool_dir + key


def fixture(*parts):
    """Text of a recorded netfilter fixture file."""
    return NETFILTER.joinpath(*parts).read_text(encoding='utf-8')


def fixture_or_empty(*parts):
    path = NETFILTER.joinpath(*parts)
    return path.read_text(encoding='utf-8') if path.exists() else ''


class FakeModule:
    """Stands in for AnsibleModule: get_bin_path from tools (a dict, or AnyTool), run_command answered by
    answer(argv, data); params and check_mode for the code that reads them.

    Every call is recorded with its keyword arguments so that tests can check argv, locale and flags.
    """

    def __init__(self, tools=None, answer=None, params=None, check_mode=False):
        self.tools = AnyTool() if tools is None else tools
        self.answer = answer
        self.params = dict(params or {})
        self.check_mode = check_mode
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


class Answers:
    """answer() for FakeModule from a list of (predicate, (rc, stdout, stderr)); the first match answers."""

    def __init__(self, answers=()):
        self.answers = list(answers)

    def add(self, predicate, rc=0, stdout='', stderr=''):
        self.answers.append((predicate, (rc, stdout, stderr)))
        return self

    @staticmethod
    def matches(predicate, argv):
        if callable(predicate):
            return predicate(argv)
        if isinstance(predicate, str):
            return os.path.basename(argv[0]) == predicate
        size = len(predicate)
        return any(tuple(argv[i:i + size]) == tuple(predicate) for i in range(len(argv) - size + 1))

    def __call__(self, argv, data):
        for predicate, reply in self.answers:
            if self.matches(predicate, argv):
                return reply
        raise AssertionError('unexpected command: %r' % (argv,))


class FakeRunner(ToolRunner):
    """The collection's ToolRunner on a FakeModule answered by Answers (add() more as the test goes), or by any
    answer callable (a simulated tool that keeps state, say)."""

    def __init__(self, answers=(), tools=None, lock_wait=DEFAULT_LOCK_WAIT, lock_param='wait'):
        self.answers = answers if callable(answers) else Answers(answers)
        self.fake = FakeModule(tools, self.answers)
        super().__init__(self.fake, lock_wait=lock_wait, lock_param=lock_param)

    def add(self, predicate, rc=0, stdout='', stderr=''):
        self.answers.add(predicate, rc, stdout, stderr)
        return self

    @property
    def calls(self):
        """(argv, data) of every command run, in order."""
        return [(argv, kwargs.get('data')) for argv, kwargs in self.fake.calls]

    def argvs(self):
        return self.fake.argvs()

    def commands(self, *tokens):
        """The argv lists run that contain the token slice."""
        return [argv for argv in self.argvs() if Answers.matches(tokens, argv)]


class ScenarioNode:
    """answer() for FakeModule: replies like a node whose rulesets are those recorded for scenario.

    version names the recorded ``-V`` output of the plain iptables command (iptables-nft-V.txt on Debian 12).
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
