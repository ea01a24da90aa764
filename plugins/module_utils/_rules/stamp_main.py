# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time stamps for trace monitor lines (installed with the reaper program, run by its launcher stamp.py).

    stamp.py CAP CAPTURE_FILE ARGV...

Runs ARGV (the monitor's restart loop) with its stdout on a pipe and appends each line it prints to CAPTURE_FILE
as ``@<epoch seconds, 6 decimals> <line>``: xtables-monitor and nft monitor print no time, and both flush every
line, so the moment a line is read is the moment the node saw the packet, to within a millisecond. The report
reads the stamp as the node's wall-clock time (correlate.wall_time takes the node's clock offset off).

The file grows to at most CAP bytes: past it nothing more is written (the last line may be cut; the stop cuts it
back) but the pipe is still read, so the monitor never blocks and neither does the kernel. A SIGTERM (the stop, or
``timeout`` at the expiry, sent to the whole process group) gives the monitor's last lines DRAIN seconds to
arrive. Stdlib only.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

PREFIX = b'@'
DRAIN = 1.0  # seconds after a SIGTERM to read what the monitor still printed
CHUNK = 65536


def stamp(chunk, rest, now):
    """(stamped bytes of the complete lines in rest + chunk, the incomplete rest); blank lines go."""
    lines = (rest + chunk).split(b'\n')
    rest = lines.pop()
    head = PREFIX + (b'%.6f ' % now)
    return b''.join(head + line + b'\n' for line in lines if line.strip()), rest


class Capped:
    """Appends to a file up to cap bytes in all (what the file held before counts)."""

    def __init__(self, path, cap):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self.fd).st_size
        self.cap = cap

    def write(self, data):
        room = self.cap - self.size
        if room > 0 and data:
            part = data[:room]
            while part:
                done = os.write(self.fd, part)
                self.size += done
                part = part[done:]


def pump(fd, out, clock=time.time, stopping=lambda: None):
    """Copy stamped lines from fd to out until end of file, or until stopping() returns a deadline that passed."""
    rest = b''
    while True:
        deadline = stopping()
        wait = 0.5 if deadline is None else deadline - clock()
        if wait <= 0:
            break
        ready, _w, _x = select.select([fd], [], [], wait)
        if not ready:
            continue
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        data, rest = stamp(chunk, rest, clock())
        out.write(data)
    if rest.strip():
        out.write(stamp(b'\n', rest, clock())[0])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cap, path, command = int(argv[0]), argv[1], argv[2:]
    term = []
    # A handler that returns (PEP 475 retries the interrupted select/read): the monitor, in the same process
    # group, got the signal too; its last lines are read before this ends.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: term.append(time.time() + DRAIN) if not term else None)
    out = Capped(path, cap)
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, close_fds=True)
    pump(proc.stdout.fileno(), out, stopping=lambda: term[0] if term else None)
    if term:
        return 128 + signal.SIGTERM
    return proc.wait()
