# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entry point of the on-node nf_log expiry program (installed under <state_dir>/lib/<digest>/ by expiry.py).

    nflog_expire.py --state-dir DIR --run-id RUN --netns INODE --at EPOCH [--detached]

Sleeps until EPOCH, then releases RUN's record in network namespace INODE as state=absent would: a binding or
sysctl that still holds what the run set goes back to its value from before; one changed by someone else since
is left alone and logged; modules the run loaded are unloaded unless another run needs them. Nothing happens if
the record is gone or names another expiry. Each outcome is a line in <state_dir>/expiry.log. Stdlib and the
installed copies of the collection files it imports only.
"""

from __future__ import annotations

import os
import sys
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.program import expiry_argv, expiry_options, log_line, sleep_until
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ProcessModule, ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import runstate
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.manage import NfLogManager
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import wait_for_runs

LOG = 'expiry.log'
ATTEMPTS = 3


class Unattended:
    """What NfLogManager asks of its module when no Ansible task runs it."""

    check_mode = False


def argv(python, launcher, state_dir, run_id, netns, at):
    return expiry_argv(python, launcher, at, state_dir=state_dir, run_id=run_id, netns=netns)


def log(state_dir, message, clock=time.time):
    """One line in <state_dir>/expiry.log (best effort: never stops a restore)."""
    log_line(os.path.join(state_dir, LOG), message, clock)


def describe(run_id, netns, at, result):
    """The log line for one expiry's outcome (None: nothing was due)."""
    head = 'run %s netns %d expiry %d: ' % (run_id, netns, at)
    if result is None:
        return head + 'nothing to do (released already, or a later call moved the expiry)'
    parts = ['restored ' + (', '.join('%s=%s' % kv for kv in sorted(result['restored'].items())) or 'nothing')]
    if result['unloaded']:
        parts.append('unloaded ' + ', '.join(result['unloaded']))
    parts += ['left %s alone: %s' % kv for kv in sorted(result['kept'].items())]
    return head + '; '.join(parts)


def expire(manager, state_dir, run_id, netns, at, attempts=ATTEMPTS, pause=2.0):
    """Release the run (retrying a failed attempt); returns the process exit status."""
    for attempt in range(1, attempts + 1):
        try:
            result = manager.release_expired(state_dir, run_id, netns, at)
        except NetdebugError as exc:
            log(state_dir, 'run %s netns %d expiry %d: attempt %d failed: %s' % (run_id, netns, at, attempt, exc))
            time.sleep(pause)
            continue
        said = describe(run_id, netns, at, result)
        log(state_dir, said)
        # The log goes with the state directory when this was the last run; under systemd this line stays in the
        # journal.
        sys.stderr.write('netdebug nf_log: %s\n' % said)
        runstate.tidy_state(state_dir)
        return 0
    return 1


def wait_for_rules(state_dir, run_id, netns, at, clock=time.time, sleep=time.sleep):
    """The run's rules may outlive the loggers' ttl (it counts from the prepare step, theirs from the trace start):
    while the run lasts on the node, the loggers stay, at most until the run's own expiry."""
    wait_for_runs(os.path.dirname(os.path.abspath(state_dir)), lambda: runstate.expiry_due(state_dir, run_id, netns, at),
                  lambda text: log(state_dir, 'run %s netns %d expiry %d: %s' % (run_id, netns, at, text)),
                  run_ids=[run_id], clock=clock, sleep=sleep)


def main(args=None):
    opts = expiry_options('netdebug-nflog-expire', {'state_dir': str, 'run_id': str, 'netns': int}, args)
    log(opts.state_dir, 'run %s netns %d: reaper pid %d waiting for expiry %d'
        % (opts.run_id, opts.netns, os.getpid(), opts.at))
    sleep_until(opts.at)
    wait_for_rules(opts.state_dir, opts.run_id, opts.netns, opts.at)
    manager = NfLogManager(Unattended(), ToolRunner(ProcessModule()))
    return expire(manager, opts.state_dir, opts.run_id, opts.netns, opts.at)
