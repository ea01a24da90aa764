# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entering another network namespace for the rest of the module process.

The module process itself calls setns(2) once, before it opens any socket or reads any /proc/net or
/proc/sys/net file: after that, the netlink sockets, /proc/net/stat/nf_conntrack and the net.netfilter sysctls
all belong to the target namespace, with no helper process to pass sockets back. This is safe because an Ansible
module process is single-threaded (setns changes the calling thread only) and exits when the module is done.
os.setns is used where Python has it (3.12+), pyroute2's netns.setns (a libc syscall) elsewhere.
"""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.deps import pyroute2_netns
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError, param_error
from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs

NETNS_RUN_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000


def resolve(value, run_dir=NETNS_RUN_DIR, proc='/proc'):
    """netns parameter -> path of the namespace file: a name under /run/netns, a path, or a PID."""
    text = str(value).strip()
    if not text:
        raise param_error('netns', 'is empty; give a name under %s, a /proc/PID/ns/net path or a PID' % run_dir)
    if text.isdigit():
        pid_dir = os.path.join(proc, text)
        if not os.path.isdir(pid_dir):
            raise param_error('netns', 'no process with PID %s on the node' % text)
        return os.path.join(pid_dir, 'ns', 'net')
    if text.startswith('/'):
        if not os.path.exists(text):
            raise param_error('netns', '%s does not exist on the node' % text)
        return text
    if '/' in text or text in ('.', '..'):
        raise param_error('netns', '%r is neither a namespace name, an absolute path nor a PID' % text)
    path = os.path.join(run_dir, text)
    if not os.path.exists(path):
        try:
            known = sorted(os.listdir(run_dir))
        except OSError:
            known = []
        raise param_error('netns', 'no network namespace named %r under %s (present: %s)'
                          % (text, run_dir, ', '.join(known) if known else 'none'))
    return path


def _setns(fd):
    setns = getattr(os, 'setns', None)
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    pyroute2_netns.setns(fd, flags=0)


def enter(value):
    """Move this process into the namespace named by the netns parameter; returns facts about it."""
    path = resolve(value)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise param_error('netns', 'cannot open %s: %s' % (path, exc.strerror))
    try:
        try:
            _setns(fd)
        except OSError as exc:
            if exc.errno == 22:  # EINVAL: the file is not a network namespace
                raise param_error('netns', '%s is not a network namespace' % path)
            if exc.errno == 1:  # EPERM
                raise ConntrackError('netns: entering %s needs root (CAP_SYS_ADMIN); use become: true' % path,
                                     param='netns', errno=exc.errno)
            raise ConntrackError('netns: setns(%s) failed: %s' % (path, exc.strerror), param='netns',
                                 errno=exc.errno)
    finally:
        os.close(fd)
    return {'path': path, 'inode': procs.netns_inode()}
