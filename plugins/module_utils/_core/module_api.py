# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end of every module's main(): one place where a domain error becomes fail_json."""

from __future__ import annotations

import signal

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError


def run_module(module, call):
    """Run call() and exit the module with its result; never returns.

    call returns the result dict, or a (result, warnings) pair whose warnings go to module.warn. A NetdebugError
    becomes fail_json(**exc.to_fail_kwargs()); any other exception is a bug and keeps its traceback.
    """
    # Ansible runs modules on a pty (ssh -tt): a controller that goes away (Ctrl-C, SIGTERM, SIGKILL, a lost link)
    # makes sshd send SIGHUP. The module finishes what it started instead, so that the node is never left half-way
    # (a run recorded before its reaper was scheduled stayed forever); its answer is then lost, its reaper is not.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        outcome = call()
    except NetdebugError as exc:
        module.fail_json(**exc.to_fail_kwargs())
        return
    result, warnings = outcome if isinstance(outcome, tuple) else (outcome, ())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)
