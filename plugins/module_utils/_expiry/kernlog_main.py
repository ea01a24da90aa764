# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entry point of the on-node drop-in expiry program (installed under <state_dir>/lib/<digest>/ by expiry.py).

    kernlog_expire.py --state-dir DIR --conf-path PATH --at EPOCH [--detached]

Sleeps until EPOCH, then removes the drop-in PATH as its record says (kernlog_state.expire), unless the record is
gone or names another expiry. Stdlib and the installed copies of the files it imports only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.program import expiry_argv, expiry_options, sleep_until
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import kernlog_state
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import NodeLock, RulesError, wait_for_runs

LOCK_TIMEOUT = 60.0
WAIT_STEP = 30
RESTART_TIMEOUT = 90
ATTEMPTS = 3


def argv(python, launcher, state_dir, conf_path, at):
    return expiry_argv(python, launcher, at, state_dir=state_dir, conf_path=conf_path)


def restart(command):
    """Run the recorded restart command; None when it worked, else what went wrong."""
    try:
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=RESTART_TIMEOUT, check=False, env=dict(os.environ, LC_ALL='C'))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return '%s: %s' % (' '.join(command), exc)
    if proc.returncode != 0:
        return '%s: rc %d %s' % (' '.join(command), proc.returncode, proc.stdout.decode('utf-8', 'replace').strip())
    return None


def wait_for_collect(state_dir, conf_path, at, clock=time.time, sleep=time.sleep):
    """While a run on the node lasts (its rules, or its files waiting for the collect step), the log file may still
    be written or read: the expiry waits, at most until the runs' own expiry (the window's end plus the margin),
    unless its record goes or moves meanwhile."""
    wait_for_runs(os.path.dirname(os.path.abspath(state_dir)), lambda: kernlog_state.still_due(state_dir, conf_path, at),
                  lambda text: kernlog_state.log(state_dir, 'drop-in %s expiry %d: %s' % (conf_path, at, text)),
                  clock=clock, sleep=sleep, step=WAIT_STEP)


def run(state_dir, conf_path, at, attempts=ATTEMPTS, pause=2.0):
    wait_for_collect(state_dir, conf_path, at)
    for attempt in range(1, attempts + 1):
        try:
            with NodeLock(state_dir, LOCK_TIMEOUT, create=False):
                said = kernlog_state.expire(state_dir, conf_path, at, restart)
                kernlog_state.log(state_dir, said)
                # The log goes with the directory when this was the last record; under systemd this line stays
                # in the journal.
                sys.stderr.write('netdebug kernlog: %s\n' % said)
                kernlog_state.tidy(state_dir)
            return 0
        except (RulesError, OSError) as exc:
            kernlog_state.log(state_dir, 'drop-in %s expiry %d: attempt %d failed: %s' % (conf_path, at, attempt, exc))
            time.sleep(pause)
    return 1


def main(args=None):
    opts = expiry_options('netdebug-kernlog-expire', {'state_dir': str, 'conf_path': str}, args)
    kernlog_state.log(opts.state_dir, 'drop-in %s: expiry pid %d waiting for %d' % (opts.conf_path, os.getpid(), opts.at))
    sleep_until(opts.at)
    return run(opts.state_dir, opts.conf_path, opts.at)
