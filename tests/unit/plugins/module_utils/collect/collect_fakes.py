# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test doubles and recorded fixtures shared by the collect package's tests."""

from __future__ import annotations

import json
import pathlib

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ToolNotFoundError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import Result

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures'
COLLECT = FIXTURES / 'collect'
FORMATS = FIXTURES / 'trace' / 'formats'


def recorded(name):
    return json.loads((COLLECT / name).read_text())


class FakeRunner:
    """ToolRunner's find/run with canned (rc, stdout, stderr) per tool name; records the argv lists run."""

    def __init__(self, outputs, missing=()):
        self.outputs = outputs
        self.missing = set(missing)
        self.calls = []

    def find(self, name, required=False, package=None):
        if name in self.missing:
            if required:
                raise ToolNotFoundError(name, package)
            return None
        return '/usr/bin/' + name

    def run(self, argv, data=None, check=True):
        self.calls.append(list(argv))
        rc, out, err = self.outputs[argv[0].rsplit('/', 1)[-1]]
        return Result(argv, rc, out, err)


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
