# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test doubles and recorded fixtures shared by the collect package's tests."""

from __future__ import annotations

import json
import pathlib

from ansible_collections.netdebug.netfilter.tests.unit.plugins import fakes

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures'
COLLECT = FIXTURES / 'collect'
FORMATS = FIXTURES / 'trace' / 'formats'


def recorded(name):
    return json.loads((COLLECT / name).read_text())


def tool_runner(outputs, missing=()):
    """The shared FakeRunner for a node with every tool under /usr/bin/ but missing, each answering its canned
    (rc, stdout, stderr) of outputs (by tool name)."""
    return fakes.FakeRunner(list(outputs.items()), tools=fakes.AnyTool('/usr/bin/', missing))


class FakeLoggerManager:
    """NfLogManager.run for state=query: the recorded nf_log result, or an error to raise."""

    def __init__(self, error=None):
        self.error = error
        self.params = None

    def run(self, params):
        self.params = params
        if self.error is not None:
            raise self.error
        return recorded('nf_log-query.json')
