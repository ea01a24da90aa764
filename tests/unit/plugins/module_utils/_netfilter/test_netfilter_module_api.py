# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_module: the end of every module's main() (result, warnings, a domain error to fail_json once)."""

from __future__ import annotations

import signal

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import (
    NetfilterCommandError, ParameterError,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module


class Exited(Exception):
    pass


class Module:
    """The three AnsibleModule methods run_module uses; exit_json and fail_json end the call like the real ones."""

    def __init__(self):
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)

    def exit_json(self, **result):
        raise Exited('exit', result)

    def fail_json(self, **result):
        raise Exited('fail', result)


def outcome(call):
    module = Module()
    with pytest.raises(Exited) as caught:
        run_module(module, call)
    return caught.value.args + (module.warnings,)


def fail(exc):
    def call():
        raise exc
    return call


@pytest.mark.parametrize('call, expected', [
    (lambda: {'changed': True, 'x': 1}, ('exit', {'changed': True, 'x': 1}, [])),
    (lambda: ({'changed': False}, ['w1', 'w2']), ('exit', {'changed': False}, ['w1', 'w2'])),
    (fail(ParameterError('ttl', 'must be positive')), ('fail', {'msg': 'ttl: must be positive'}, [])),
    (fail(NetfilterCommandError('nft failed', ['nft', '-f', '-'], 1, '', 'Error: x')),
     ('fail', {'msg': 'nft failed', 'cmd': ['nft', '-f', '-'], 'rc': 1, 'stdout': '', 'stderr': 'Error: x'}, [])),
])
def test_result_warnings_and_domain_errors(call, expected):
    assert outcome(call) == expected


def test_other_exceptions_keep_their_traceback():
    with pytest.raises(KeyError):
        run_module(Module(), fail(KeyError('bug')))


def test_a_lost_controller_does_not_stop_the_module_half_way():
    """SIGHUP (sshd, when the controller's connection goes) is ignored while the module works."""
    seen = []
    previous = signal.getsignal(signal.SIGHUP)
    try:
        outcome(lambda: seen.append(signal.getsignal(signal.SIGHUP)) or {})
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert seen == [signal.SIG_IGN]
