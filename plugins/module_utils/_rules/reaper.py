# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schedule the removal of a run's rules at their expiry, on the node itself (start() and cancel() also serve
nf_log, whose reaper puts a run's logger bindings back).

Where systemd is PID 1: a transient timer (``systemd-run --on-active``) that runs the reaper program.
Elsewhere: the reaper program as a detached, double-forked process that sleeps until the expiry.
Either way the controller is not needed any more once the rules are in. Stdlib only.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from . import procs
from .errors import RulesError
from .removal import stop_unit

SYSTEMD_DIR = '/run/systemd/system'  # exists exactly when systemd is the running init (sd_booted)
# The timer starts the reaper this much early; the reaper then sleeps until the expiry itself, so that starting
# Python and loading the state do not delay the removal.
SYSTEMD_EARLY = 3
UNIT_PREFIX = 'netdebug-reap-'
_UNIT_BAD = re.compile(r'[^A-Za-z0-9:_.-]')


def systemd_running(systemd_dir=SYSTEMD_DIR):
    return os.path.isdir(systemd_dir)


def unit_name(run_id, expires_at):
    return '%s%s-%d' % (UNIT_PREFIX, _UNIT_BAD.sub('_', run_id), int(expires_at))


def reaper_argv(python, program, root, run_id, expires_at, detached=False):
    argv = [python, program, '--root', root, '--run-id', run_id, '--at', str(int(expires_at))]
    return argv + ['--detached'] if detached else argv


def active(node, record):
    """True when the reaper described by record is still waiting."""
    if record['kind'] == 'process':
        return procs.alive(record['pid'], record['start'])
    systemctl = node.tool('systemctl')
    if not systemctl:
        return False
    result = node.runner.run([systemctl, 'is-active', record['unit'] + '.timer'], check=False)
    return result.stdout.strip() in ('active', 'activating')


def schedule(node, program, python, run_id, expires_at, use_systemd=None):
    """Start a reaper for (run_id, expires_at); returns its record for the run state."""
    return start(node, reaper_argv(python, program, node.root, run_id, expires_at), unit_name(run_id, expires_at),
                 'netdebug: remove the rules of run %s' % run_id, expires_at, use_systemd)


def start(node, argv, unit, description, expires_at, use_systemd=None):
    """Run argv at expires_at (a program that sleeps until then and accepts --detached): a systemd timer named
    unit, or a detached process; returns the record that active() and cancel() take."""
    if use_systemd is None:
        use_systemd = systemd_running() and bool(node.tool('systemd-run'))
    if use_systemd:
        delay = max(1, int(expires_at) - node.now() - SYSTEMD_EARLY)
        node.runner.run([node.tool('systemd-run'), '--unit', unit, '--description', description,
                         '--on-active', '%ds' % delay, '--timer-property', 'AccuracySec=1s', '--collect', '--quiet']
                        + argv)
        return {'kind': 'systemd', 'unit': unit, 'expires_at': int(expires_at)}
    argv = argv + ['--detached']
    pid = popen_detached(argv)
    if pid is None:
        raise RulesError('the detached reaper did not start', cmd=argv)
    deadline = time.time() + 2
    start_ticks = procs.start_time(pid)
    while start_ticks is None and time.time() < deadline:
        time.sleep(0.02)
        start_ticks = procs.start_time(pid)
    if start_ticks is None:
        raise RulesError('the detached reaper (pid %d) exited at once; see its log' % pid, cmd=argv)
    return {'kind': 'process', 'pid': pid, 'start': start_ticks, 'expires_at': int(expires_at)}


def cancel(node, record):
    """Stop a waiting reaper (its timer, or its process); True when there was one to stop."""
    if record['kind'] == 'systemd':
        return stop_unit(node, record['unit'])
    return procs.stop_process(record['pid'], record['start'])


def popen_detached(argv):
    """Start argv in a new session; the program forks once more and prints the daemon's pid on stdout."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            close_fds=True, start_new_session=True, cwd='/')
    try:
        line = proc.stdout.readline()
    finally:
        proc.stdout.close()
        proc.wait()
    line = line.strip()
    return int(line) if line.isdigit() else None
