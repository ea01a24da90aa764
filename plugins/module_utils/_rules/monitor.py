# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trace monitors: nf_tables TRACE never reaches the kernel log, so a monitor process writes it to a file.

``xtables-monitor --trace`` (iptables-nft rules) or ``nft monitor trace`` (native rules), started in its own
session under ``timeout`` so that it ends by itself shortly after the ttl even if every reaper is gone.
It must be listening before the rule goes in: start() returns only once its netlink socket joined the trace
group. Stdlib and the shared runner only (the reaper imports it).

Between ``timeout`` and the monitor runs a fixed /bin/sh loop (SUPERVISOR) that runs the monitor again when it
exits with a non-zero status: xtables-monitor exits ("error: No such file or directory") when a traced rule is
deleted before it looks the rule up by handle, which an agent rewriting its chains does all the time. ``timeout``
and stop() signal the whole process group, so the loop ends with the monitor.

Between ``timeout`` and the loop runs the stamper (stamp_main.py, installed with the reaper): it writes each line
the monitor prints to the capture file with the node's wall-clock time in front, so that every packet record of an
nf_tables node has a time as kernel-log records do. The file has a size cap, which the stamper keeps: at the cap
it writes no more but goes on reading (so neither the monitor nor the kernel ever blocks) and the run goes on; the
stop cuts the file back to its last whole line and reports it truncated.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import C_LOCALE
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import ensure_dir

KILL_AFTER = 5  # seconds between timeout's TERM and KILL
GRACE = 10  # the monitor outlives the ttl by this much at most, so the reaper can stop it first
READY_TIMEOUT = 5.0
# The cap is a rate, not a lifetime count: a monitor that cannot run at all fails at once, so about every 50 ms
# pause plus its start-up (some 15 times a second) and gives up within ~2 s; the agent race hits a few percent of
# an agent's rewrites (under 1 a second even at a rewrite every 100 ms) and is restarted for as long as the ttl.
MAX_FAILURES = 20  # failures within FAILURE_WINDOW after which the loop gives up
FAILURE_WINDOW = 10  # seconds (whole)
RESTART_PAUSE = '0.05'  # seconds (sleep(1) syntax) before a restart: no busy loop when it fails at once
DEFAULT_PATH = '/usr/sbin:/usr/bin:/sbin:/bin'  # date and sleep for the loop, whatever PATH the module got
CAPTURE_MAX_BYTES = 32 * 1024 * 1024  # default cap of one capture file
CAPTURE_MIN_BYTES = 64 * 1024  # a smaller cap holds too few lines to be of use
CAPTURE_MAX_BYTES_LIMIT = 1024 * 1024 * 1024
FREE_SHARE = 4  # a capture file takes at most this fraction of its file system's free space at the start
BLOCK = 512  # caps are whole blocks (file system allocation unit)

# $1 failures and $2 window (seconds) of the rate cap, $3 pause, $4 the monitor's name for the log lines, then the
# monitor's argv. Its stdout is the stamper's pipe: the newline ends a line the monitor may have left half-written.
# Its stderr is <backend>.stderr: one line per exit, read back by restarts(). Failure times come from /proc/uptime
# in centiseconds (monotonic, no fork); $recent keeps those within the window.
SUPERVISOR = r"""max=$1 window=$2 pause=$3 name=$4
shift 4
recent=
while :; do
  "$@"
  rc=$?
  [ "$rc" -eq 0 ] && exit 0
  read -r up rest < /proc/uptime
  now=${up%.*}${up#*.}
  kept=
  n=0
  for t in $recent $now; do
    if [ $((now - t)) -lt $((window * 100)) ]; then
      kept="$kept $t"
      n=$((n + 1))
    fi
  done
  recent=$kept
  if [ "$n" -ge "$max" ]; then
    echo "netdebug: $name exited with status $rc at $(date +%s); not restarted: $n failures within $window s" >&2
    exit "$rc"
  fi
  echo "netdebug: $name exited with status $rc at $(date +%s); restarted" >&2
  printf '\n'
  sleep "$pause"
done
"""
RESTART_LINE = re.compile(r'^netdebug: \S+ exited with status \d+ at \d*; restarted$')


def capture_file(run_path, backend):
    return os.path.join(run_path, '%s.trace' % backend)


def monitor_argv(backend, tools):
    if backend == 'nft':
        return [tools['xtables-monitor'], '--trace']
    return [tools['nft'], 'monitor', 'trace']


def check_max_bytes(value):
    """The capture_max_bytes parameter, or ParamError."""
    wrong_type = isinstance(value, bool) or not isinstance(value, int)
    if wrong_type or not CAPTURE_MIN_BYTES <= value <= CAPTURE_MAX_BYTES_LIMIT:
        raise ParamError('capture_max_bytes', '%r is not a byte count from %d (64 KiB) to %d (1 GiB)'
                         % (value, CAPTURE_MIN_BYTES, CAPTURE_MAX_BYTES_LIMIT))
    return value


def effective_cap(max_bytes, free_bytes):
    """The cap a capture file gets: max_bytes, or less when its file system has little room (whole blocks)."""
    cap = min(max_bytes, free_bytes // FREE_SHARE) // BLOCK * BLOCK
    if cap < CAPTURE_MIN_BYTES:
        raise RulesError('the file system of the capture files has %d bytes free: a trace monitor needs at least %d '
                         '(a quarter of the free space, at least 64 KiB); free some space under /run'
                         % (free_bytes, CAPTURE_MIN_BYTES * FREE_SHARE))
    return cap


def free_bytes(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def start(run_path, backend, tools, stamper, expires_at, now=None, max_bytes=CAPTURE_MAX_BYTES):
    """Start a monitor for backend ('nft' or 'nftables') under the stamper (the argv that runs stamp_main.py);
    returns (record, Popen)."""
    now = time.time() if now is None else now
    ensure_dir(run_path)
    cap = effective_cap(max_bytes, free_bytes(run_path))
    seconds = max(1, int(expires_at - now) + GRACE)
    watched = monitor_argv(backend, tools)
    capture = capture_file(run_path, backend)
    argv = ([tools['timeout'], '--kill-after=%d' % KILL_AFTER, str(seconds)] + list(stamper) + [str(cap), capture]
            + supervised(watched))
    errors = stderr_file(run_path, backend)
    env = dict(os.environ)
    env.update(C_LOCALE, PATH=':'.join(p for p in (env.get('PATH'), DEFAULT_PATH) if p))
    with open(errors, 'ab') as err:
        offset = err.seek(0, os.SEEK_END)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                close_fds=True, start_new_session=True, env=env, cwd='/')
    record = {'backend': backend, 'pid': proc.pid, 'start': procs.start_time(proc.pid), 'argv': argv,
              'capture_file': capture, 'stderr_file': errors, 'stderr_offset': offset,
              'started_at': int(now), 'expires_at': int(expires_at), 'max_bytes': cap}
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
                     % (' '.join(watched), READY_TIMEOUT, ': ' + detail if detail else ''), cmd=argv,
                     rc=proc.returncode, stderr=detail)


def stderr_file(run_path, backend):
    return os.path.join(run_path, '%s.stderr' % backend)


def supervised(argv, max_failures=MAX_FAILURES, window=FAILURE_WINDOW, pause=RESTART_PAUSE):
    """The restart loop running argv; argv's words are the loop's arguments, never shell text."""
    return ['/bin/sh', '-c', SUPERVISOR, 'netdebug-monitor', str(max_failures), str(int(window)), pause,
            os.path.basename(argv[0])] + list(argv)


def parse_restarts(text):
    """(restarts, last error) from the loop's stderr: how many times the monitor was restarted and the line it
    wrote last before the last restart (None when it said nothing since the restart before)."""
    count, said, last_error = 0, None, None
    for line in text.splitlines():
        if RESTART_LINE.match(line):
            count += 1
            last_error, said = said, None
        elif line.strip() and not line.startswith('netdebug: '):
            said = line.strip()
    return count, last_error


def restarts(record):
    """parse_restarts of what this monitor's loop wrote; (0, None) for records from before the loop."""
    path = record.get('stderr_file')
    if not path:
        return 0, None
    try:
        with open(path, 'rb') as handle:
            handle.seek(record.get('stderr_offset', 0))
            data = handle.read()
    except OSError:
        return 0, None
    return parse_restarts(data.decode('utf-8', 'replace'))


def running(record):
    return procs.alive(record.get('pid'), record.get('start'))


def stop(record):
    """Stop the monitor if it is still ours and running; True when it was running."""
    return procs.stop_group(record['pid'], record['start'])


def cpu_seconds(record):
    """CPU time the monitor's process group used so far (restarted monitors included); None when it is gone."""
    if not running(record):
        return None
    return procs.group_cpu_seconds(record['pid'])


def settle_capture(record):
    """After the stop: (bytes, truncated). A file that reached its cap ends in a cut line, which goes."""
    path, cap = record['capture_file'], record.get('max_bytes')
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0, False
    truncated = cap is not None and size >= cap
    if truncated:
        with open(path, 'rb+') as handle:
            handle.seek(max(0, size - 65536))
            tail = handle.read()
            cut = tail.rfind(b'\n')
            handle.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))
            size = handle.seek(0, os.SEEK_END)
    return size, truncated


def read_capture(path, offset=0):
    """Lines written to a capture file from byte offset on."""
    try:
        with open(path, 'rb') as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return []
    return [line for line in data.decode('utf-8', 'replace').splitlines() if line.strip()]
