# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module tests from YAML cases, in the shape of community.general's uthelper (written anew for this collection).

cases/<module>.yml holds a list of cases. A case runs the module's main() once, or once per entry of ``steps``
(the steps share one temporary directory, so a case can check, apply, check again and apply again). Each run has:

- ``input``: the module arguments; ``flags``: ``check`` and ``diff``;
- ``tools``: the executables the node has: names under /usr/sbin/, or {name: path} as recorded (default: every
  one asked for, under /usr/sbin/);
- ``run_command``: every command the module must run, in order, with the output recorded on a real node (by
  cases/record.py): ``command`` (each argument literal, or ``re:<pattern>`` for a name that differs each run),
  ``rc``, ``out``, ``err``. A command not in the list, or one left over, fails the case;
- ``output``: keys the result must hold with these values (``re:<pattern>`` for a string searched for);
- ``files``: paths under the temporary directory that must exist (true) or not (false) after the run.

In every string, ``{tmp}`` is the case's temporary directory and ``{python}`` the running interpreter. The modules'
commands go through the collection's real ToolRunner; only AnsibleModule's get_bin_path and run_command answer from
the case (the FakeModule of tests/unit/plugins/fakes.py)."""

from __future__ import annotations

import json
import pathlib
import re
import sys

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import SBIN, AnyTool, FakeModule

CASES = pathlib.Path(__file__).resolve().parent / 'cases'
PATTERN = 're:'


def load(module_name):
    """pytest params of the cases of cases/<module_name>.yml, named by their id."""
    cases = yaml.safe_load((CASES / ('%s.yml' % module_name)).read_text(encoding='utf-8'))
    return [pytest.param(case, id=case['id']) for case in cases]


def expand(value, names):
    """value with {tmp} and {python} replaced, in every string of it."""
    if isinstance(value, str):
        for key, text in names.items():
            value = value.replace('{%s}' % key, text)
        return value
    if isinstance(value, list):
        return [expand(item, names) for item in value]
    if isinstance(value, dict):
        return dict((key, expand(item, names)) for key, item in value.items())
    return value


def same(want, got):
    """True when got is what the case wants: equal, or a string found by want's pattern."""
    if isinstance(want, str) and want.startswith(PATTERN):
        return isinstance(got, str) and re.search(want[len(PATTERN):], got) is not None
    return want == got


class Commands:
    """answer() for FakeModule: the case's commands in order, each answered with its recorded output."""

    def __init__(self, expected):
        self.expected = list(expected or [])
        self.done = 0

    def __call__(self, argv, data):  # pylint: disable=unused-argument
        if self.done == len(self.expected):
            raise AssertionError('command %d was not expected: %r' % (self.done + 1, argv))
        want = self.expected[self.done]
        command = want['command']
        if len(command) != len(argv) or not all(same(w, str(g)) for w, g in zip(command, argv)):
            raise AssertionError('command %d: expected %r, got %r' % (self.done + 1, command, argv))
        self.done += 1
        return want.get('rc', 0), want.get('out', ''), want.get('err', '')

    def check_all_ran(self):
        left = self.expected[self.done:]
        assert not left, 'commands that did not run: %r' % [c['command'] for c in left]


class Exited(Exception):
    def __init__(self, result):
        super().__init__(result.get('msg'))
        self.result = result


def node_tools(tools):
    """FakeModule's tools for a case's tools entry."""
    if tools is None:
        return AnyTool()
    if isinstance(tools, dict):
        return dict(tools)
    return dict((name, SBIN + name) for name in tools)


def run_main(module, args, flags=None, tools=None, answer=None, monkeypatch=None, find=None):
    """The result dict of one main() run with args; commands answered by answer, executables found by find (an
    AnsibleModule.get_bin_path) or from tools."""
    flags = flags or {}
    args = dict(args)
    if flags.get('check'):
        args['_ansible_check_mode'] = True
    if flags.get('diff'):
        args['_ansible_diff'] = True
    node = FakeModule(node_tools(tools), answer)

    def leave(_self, **result):
        raise Exited(result)

    def fail(_self, **result):
        raise Exited(dict(result, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda _self, argv, **kw: node.run_command(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', find or (
        lambda _self, arg, required=False, opt_dirs=None: node.get_bin_path(arg, required, opt_dirs)))
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', leave)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail)
    with patch_module_args(args):
        with pytest.raises(Exited) as caught:
            module.main()
    return caught.value.result


def run_case(module, case, tmp_path, monkeypatch):
    """Run every step of case; returns the results."""
    names = {'tmp': str(tmp_path), 'python': sys.executable}
    results = []
    for number, step in enumerate(case.get('steps') or [case], 1):
        step = expand(step, names)
        for rel, text in (step.get('setup_files') or {}).items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding='utf-8')
        commands = Commands(step.get('run_command'))
        result = run_main(module, step.get('input') or {}, step.get('flags'), step.get('tools'), commands, monkeypatch)
        where = '%s, step %d' % (case['id'], number)
        commands.check_all_ran()
        for key, want in (step.get('output') or {}).items():
            assert key in result and same(want, result[key]), '%s: %s is %r, not %r (%s)' % (
                where, key, result.get(key), want, json.dumps(result, default=str)[:2000])
        for rel, present in (step.get('files') or {}).items():
            assert (tmp_path / rel).exists() == present, '%s: %s should %sexist' % (where, rel, '' if present else 'not ')
        results.append(result)
    return results
