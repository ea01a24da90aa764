# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trace monitors: nf_tables TRACE never reaches the kernel log, so a monitor process writes it to a file.

``xtables-monitor --trace`` (iptables-nft rules) or ``nft monitor trace`` (native rules), started in its own
session under ``timeout`` so that it ends by itself shortly after the ttl even if every reaper is gone.
It must be listening before the rule goes in: start() returns only once its netlink socket joined the trace
group. Stdlib and the shared runner only (the reaper imports it).
"""

from __future__ import annotations

import os
import subprocess
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.runner import C_LOCALE

from . import procs
from .errors import RulesError
from .state import ensure_dir

KILL_AFTER = 5  # seconds between timeout's TERM and KILL
GRACE = 10  # the monitor outlives the ttl by this much at most, so the reaper can stop it first
READY_TIMEOUT = 5.0


def capture_file(run_path, backend):
    return os.path.join(run_path, '%s.trace' % backend)


def monitor_argv(backend, tools):
    if backend == 'nft':
        return [tools['xtables-monitor'], '--trace']
    return [tools['nft'], 'monitor', 'trace']


def start(run_path, backend, tools, expires_at, now=None):
    """Start a monitor for backend ('nft' or 'nftables'); returns (record, Popen)."""
    now = time.time() if now is None else now
    ensure_dir(run_path)
    seconds = max(1, int(expires_at - now) + GRACE)
    argv = [tools['timeout'], '--kill-after=%d' % KILL_AFTER, str(seconds)] + monitor_argv(backend, tools)
    capture = capture_file(run_path, backend)
    errors = os.path.join(run_path, '%s.stderr' % backend)
    env = dict(os.environ)
    env.update(C_LOCALE)
    with open(capture, 'ab') as out, open(errors, 'ab') as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, close_fds=True,
                                start_new_session=True, env=env, cwd='/')
    record = {'backend': backend, 'pid': proc.pid, 'start': procs.start_time(proc.pid), 'argv': argv,
              'capture_file': capture, 'started_at': int(now), 'expires_at': int(expires_at)}
    deadline = time.time() + READY_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        if procs.subscribed_to_trace(procs.group_members(proc.pid)):
            return record, proc
        time.sleep(0.05)
    procs.stop_group(proc.pid, record['start'])
    proc.poll()
    try:
        with open(errors) as handle:
            detail = handle.read().strip()[-2000:]
    except OSError:
        detail = ''
    raise RulesError('the trace monitor %s did not start listening within %s seconds%s'
                     % (' '.join(argv[3:]), READY_TIMEOUT, ': ' + detail if detail else ''), cmd=argv,
                     rc=proc.returncode, stderr=detail)


def running(record):
    return procs.alive(record.get('pid'), record.get('start'))


def stop(record):
    """Stop the monitor if it is still ours and running; True when it was running."""
    return procs.stop_group(record['pid'], record['start'])


def read_capture(path, offset=0):
    """Lines written to a capture file from byte offset on."""
    try:
        with open(path, 'rb') as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return []
    return [line for line in data.decode('utf-8', 'replace').splitlines() if line.strip()]
