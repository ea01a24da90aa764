# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes we started (monitors, reapers), identified by pid AND start time so that a reused pid is never hit.

Reads /proc only. Stdlib only.
"""

from __future__ import annotations

import os
import signal
import time

NETLINK_NETFILTER = 12
NFNLGRP_NFTRACE_BIT = 1 << (9 - 1)  # group 9, shown as a bitmap of the first 32 groups in /proc/net/netlink


def _stat_fields(pid, proc='/proc'):
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    try:
        with open('%s/%d/stat' % (proc, pid)) as handle:
            data = handle.read()
    except (OSError, ValueError):
        return None
    return data[data.rfind(')') + 2:].split()


def start_time(pid, proc='/proc'):
    """Start time in clock ticks since boot, or None when the process does not exist."""
    fields = _stat_fields(pid, proc)
    return int(fields[19]) if fields and len(fields) > 19 else None


def alive(pid, start, proc='/proc'):
    """True when pid runs and is the process that started at `start` (zombies count as dead)."""
    fields = _stat_fields(pid, proc) if pid else None
    return bool(fields) and fields[0] != 'Z' and int(fields[19]) == start


def group_members(pgid, proc='/proc'):
    pids = []
    for name in os.listdir(proc):
        if name.isdigit():
            fields = _stat_fields(int(name), proc)
            if fields and len(fields) > 2 and int(fields[2]) == pgid and fields[0] != 'Z':
                pids.append(int(name))
    return pids


def group_cpu_seconds(pgid, proc='/proc'):
    """User and system CPU seconds of a process group's members, their waited-for children included."""
    ticks = 0
    for pid in group_members(pgid, proc):
        fields = _stat_fields(pid, proc)
        if fields and len(fields) > 14:
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return round(ticks / float(os.sysconf('SC_CLK_TCK')), 2)


def stop_group(pid, start, grace=3.0):
    """SIGTERM the process group led by pid (ours: it was started in its own session), then SIGKILL."""
    if not alive(pid, start):
        # The leader is gone: its pid cannot be reused while members still carry it as their group id,
        # but a process now running under that pid with another start time is not ours.
        if start_time(pid) is not None or not group_members(pid):
            return False
    return _signal_until_gone(os.killpg, pid, lambda: not alive(pid, start) and not group_members(pid), grace)


def stop_process(pid, start, grace=3.0):
    """SIGTERM one process (a detached reaper), then SIGKILL."""
    if not alive(pid, start):
        return False
    return _signal_until_gone(os.kill, pid, lambda: not alive(pid, start), grace)


def _signal_until_gone(send, pid, gone, grace):
    """send(pid, SIGTERM), wait up to grace seconds for gone(), then the same with SIGKILL; True when sent."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            send(pid, sig)
        except OSError:
            return True
        deadline = time.time() + wait
        while time.time() < deadline:
            _reap_child(pid)
            if gone():
                return True
            time.sleep(0.05)
    return True


def _reap_child(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except OSError:
        pass  # not our child: init reaps it


def socket_inodes(pids, proc='/proc'):
    inodes = set()
    for pid in pids:
        fd_dir = '%s/%d/fd' % (proc, pid)
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(os.path.join(fd_dir, name))
            except OSError:
                continue
            if target.startswith('socket:['):
                inodes.add(int(target[8:-1]))
    return inodes


def parse_netlink(text):
    """(protocol, groups bitmap, inode) of each line of /proc/net/netlink."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 10:
            entries.append((int(fields[1]), int(fields[3], 16), int(fields[9])))
    return entries


def subscribed_to_trace(pids, proc='/proc'):
    """True when one of pids holds a netfilter netlink socket that joined the nftrace group."""
    inodes = socket_inodes(pids, proc)
    if not inodes:
        return False
    try:
        with open('%s/net/netlink' % proc) as handle:
            entries = parse_netlink(handle.read())
    except OSError:
        return False
    return any(p == NETLINK_NETFILTER and groups & NFNLGRP_NFTRACE_BIT and inode in inodes
               for p, groups, inode in entries)


def netns_inode(proc='/proc'):
    """The inode of this process's network namespace (what tells namespaces apart), or 0 when it cannot be read."""
    try:
        return os.stat('%s/self/ns/net' % proc).st_ino
    except OSError:
        return 0


def in_initial_netns(proc='/proc'):
    """False when this process runs in another network namespace than PID 1 (a container, a netns node)."""
    try:
        return os.readlink('%s/self/ns/net' % proc) == os.readlink('%s/1/ns/net' % proc)
    except OSError:
        return True  # cannot tell (no access to PID 1): do not warn
