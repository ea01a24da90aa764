# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one scheduler of everything that expires on the node itself: a run's rules (rules_main), its logger
bindings (nflog) and a capture's rsyslog drop-in (kernlog).

Where systemd is PID 1: a transient timer (``systemd-run --on-active``) that runs the expiry program.
Elsewhere: the expiry program as a detached, double-forked process that sleeps until the expiry.
Either way the controller is not needed any more once the rules are in. Stdlib only.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs, program
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError

SYSTEMD_DIR = '/run/systemd/system'  # exists exactly when systemd is the running init (sd_booted)
# The timer starts the reaper this much early; the reaper then sleeps until the expiry itself, so that starting
# Python and loading the state do not delay the removal.
SYSTEMD_EARLY = 3
UNIT_PREFIX = 'netdebug-reap-'
_UNIT_BAD = re.compile(r'[^A-Za-z0-9:_.-]')
TOOLS = ('systemd-run', 'systemctl')


class Host:
    """What the scheduler needs of the node: a runner, the paths of systemd-run and systemctl, a clock. The rules'
    Node offers the same three."""

    def __init__(self, runner, clock=None):
        self.runner = runner
        self.tools = dict((name, path) for name, path in ((n, runner.find(n)) for n in TOOLS) if path)
        self.clock = clock or time.time

    def now(self):
        return int(self.clock())

    def tool(self, name):
        return self.tools.get(name)


def systemd_running(systemd_dir=SYSTEMD_DIR):
    return os.path.isdir(systemd_dir)


def unit_name(run_id, expires_at):
    return '%s%s-%d' % (UNIT_PREFIX, _UNIT_BAD.sub('_', run_id), int(expires_at))


def reaper_argv(python, launcher, root, run_id, expires_at, detached=False):
    argv = program.expiry_argv(python, launcher, expires_at, root=root, run_id=run_id)
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


def schedule(node, launcher, python, run_id, expires_at, use_systemd=None):
    """Start a reaper for (run_id, expires_at); returns its record for the run state."""
    return start(node, reaper_argv(python, launcher, node.root, run_id, expires_at), unit_name(run_id, expires_at),
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


def stop_unit(node, unit):
    """Stop a reaper's timer and service; True when systemctl did."""
    systemctl = node.tool('systemctl')
    if not systemctl:
        return False
    result = node.runner.run([systemctl, 'stop', unit + '.timer', unit + '.service'], check=False)
    return result.rc == 0


def stray_reapers(state_dir, launcher, match=()):
    """Detached reaper processes started as <state_dir>/lib/.../launcher, with every item of match in their argv (the
    caller keeps those that no record lists, for run_id '*')."""
    lib = os.path.join(program.lib_dir(state_dir), '')
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as handle:
                argv = handle.read().decode('utf-8', 'replace').split('\0')
        except OSError:
            continue
        if (any(a.startswith(lib) and a.endswith(launcher) for a in argv) and '--detached' in argv
                and all(m in argv for m in match)):
            pid = int(name)
            found.append({'pid': pid, 'start': procs.start_time(pid)})
    return found


def stray_units(node):
    """The rules' reaper timers (and services) systemd still knows of, by unit name."""
    systemctl = node.tool('systemctl')
    if not systemctl or not systemd_running():
        return []
    result = node.runner.run([systemctl, 'list-units', '--all', '--plain', '--no-legend', UNIT_PREFIX + '*'],
                             check=False)
    units = set()
    for line in result.stdout.splitlines():
        name = line.split()[0] if line.split() else ''
        if name.startswith(UNIT_PREFIX):
            units.add(name.rsplit('.', 1)[0])
    return sorted(units)
