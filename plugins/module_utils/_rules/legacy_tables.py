# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Legacy tables our rules made. Once the kernel has made a legacy table (iptables-legacy's first use of it loads
its module, iptable_raw for instance), iptables-legacy cannot delete it: it goes only with its module.

Unloading a table module removes that table in every network namespace, so it happens only when all of these hold:
our insert loaded the module (it was not loaded when the call began; a check-mode dry run unloads what it loaded
itself), our namespace's table holds nothing (built-in chains with policy ACCEPT), and no other network namespace
on the node has the table (those of every process, and those kept by a bind mount, read through nsenter). Any
doubt keeps the module. A check-mode dry run also unloads the extension modules (targets, matches, loggers) it
loaded, unless they are in use by then. Stdlib and the _kmod parsers only (part of the reaper program).
"""

from __future__ import annotations

import os
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.index import PROC_MODULES
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.parsers import parse_proc_modules
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import legacy_table_names

MODULE_NAMES = {'ipv4': 'iptable_%s', 'ipv6': 'ip6table_%s'}
LOGGER_PREFIX = 'nf_log_'
EXTENSION_PREFIXES = ('xt_', 'ipt_', 'ip6t_', LOGGER_PREFIX)
EXTENSION_WAIT = 2.0
EXTENSION_RETRY = 0.2
NAMES_FILES = {'ipv4': 'ip_tables_names', 'ipv6': 'ip6_tables_names'}
PROC = '/proc'


def module_for(family, table):
    return MODULE_NAMES[family] % table


def loaded_modules():
    """Names of the loaded kernel modules, or None when they cannot be read (no module support)."""
    text = _read(PROC_MODULES)
    try:
        return None if text is None else set(parse_proc_modules(text))
    except KmodError:
        return None  # unreadable as /proc/modules: in doubt, nothing is counted as ours


def loaded_throughout(before):
    """The modules of before that are still loaded now (None when either cannot be read)."""
    now = loaded_modules()
    return None if before is None or now is None else before & now


def loaded_by_us(family, table, before, after):
    """The table module the call loaded: not loaded before it, loaded after it (None otherwise)."""
    module = module_for(family, table)
    if before is None or after is None or module in before or module not in after:
        return None
    return module


def table_empty(listing):
    """True when `iptables-legacy -t T -S` shows nothing but built-in chains with policy ACCEPT."""
    return all(line.startswith('-P ') and line.endswith(' ACCEPT') for line in listing.splitlines() if line.strip())


def _read(path):
    try:
        with open(path, encoding='ascii', errors='replace') as handle:
            return handle.read()
    except OSError:
        return None


def nsfs_mounts(mountinfo_text):
    """{netns inode: mount point} of the network namespaces kept by a bind mount (ip netns, container runtimes)."""
    found = {}
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if ' - nsfs ' not in line or len(fields) < 5 or not fields[3].startswith('net:['):
            continue
        inode = fields[3][len('net:['):].rstrip(']')
        if inode.isdigit():
            found.setdefault(int(inode), fields[4].replace('\\040', ' '))
    return found


def _tasks(proc):
    """(directory, pid) of every thread of every process: a thread may have a network namespace of its own."""
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            tids = os.listdir(os.path.join(proc, pid, 'task'))
        except OSError:
            continue  # gone
        for tid in tids:
            yield os.path.join(proc, pid, 'task', tid), pid


def _netns_fds(proc, pid):
    """Inodes of the network namespaces that pid holds open (a namespace may live on through a descriptor)."""
    found = set()
    try:
        fds = os.listdir(os.path.join(proc, pid, 'fd'))
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(os.path.join(proc, pid, 'fd', fd))
        except OSError:
            continue
        if target.startswith('net:[') and target[5:-1].isdigit():
            found.add(int(target[5:-1]))
    return found


def other_namespaces_have(node, family, table):
    """True when another network namespace than ours has the legacy table, or when one cannot be read: those of
    every thread (read through /proc), and those kept by a bind mount of this mount namespace (read through
    nsenter). A namespace held only by a descriptor or by a bind mount in another mount namespace cannot be read
    from here: in doubt."""
    names_file, proc = NAMES_FILES[family], PROC
    ours = os.stat(os.path.join(proc, 'self', 'ns', 'net')).st_ino
    our_mounts = os.stat(os.path.join(proc, 'self', 'ns', 'mnt')).st_ino
    seen, held, pids, mount_namespaces = {ours}, set(), set(), {our_mounts}
    for task, pid in _tasks(proc):
        try:
            inode = os.stat(os.path.join(task, 'ns', 'net')).st_ino
        except OSError:
            continue  # gone, or a zombie
        if pid not in pids:  # per process: its open namespaces, and the bind mounts of its mount namespace
            pids.add(pid)
            held |= _netns_fds(proc, pid)
            try:
                mounts = os.stat(os.path.join(proc, pid, 'ns', 'mnt')).st_ino
            except OSError:
                mounts = our_mounts
            if mounts not in mount_namespaces:
                mount_namespaces.add(mounts)
                held |= set(nsfs_mounts(_read(os.path.join(proc, pid, 'mountinfo')) or ''))
        if inode in seen:
            continue
        text = _read(os.path.join(task, 'net', names_file))
        if text is None and os.path.isdir(task):
            return True  # a namespace we cannot read: in doubt, it may have the table
        seen.add(inode)
        if text is not None and table in text.split():
            return True
    for inode, mount_point in nsfs_mounts(_read(os.path.join(proc, 'self', 'mountinfo')) or '').items():
        if inode in seen:
            continue
        nsenter = node.tool('nsenter')
        if not nsenter:
            return True
        result = node.runner.run([nsenter, '--net=' + mount_point, '--', 'cat', '/proc/self/net/' + names_file],
                                 check=False)
        if result.rc != 0 or table in result.stdout.split():
            return True
        seen.add(inode)
    return bool(held - seen)  # held open or bound elsewhere, never read: in doubt


def unload(node, family, table, module):
    """Unload module if the table holds nothing here and exists in no other namespace; returns a description
    when it went, else None (it stays, safely)."""
    backend = node.iptables('legacy', family)
    rmmod = node.tool('rmmod')
    if backend is None or rmmod is None:
        return None
    if table in (legacy_table_names(family) or '').split():  # not listed otherwise: listing would make it
        listing = backend.listing(table)
        if listing.rc != 0 or not table_empty(listing.stdout):
            return None
    if other_namespaces_have(node, family, table):
        return None
    if node.runner.run([rmmod, '--', module], check=False).rc != 0:
        return None  # in use after all: it stays, as a built-in table would
    return 'legacy %s table %s (module %s unloaded)' % (family, table, module)


def unload_dry_run_leftovers(node, before, placements):
    """After a check-mode dry run: unload the table modules and the extension modules it loaded (it ran in a
    throwaway namespace, which is gone), so that check mode leaves the node's modules as they were."""
    after = loaded_modules()
    gone = []
    for family, table in placements:
        module = loaded_by_us(family, table, before, after)
        if module:
            said = unload(node, family, table, module)
            gone += [said] if said else []
    return gone + unload_extensions(node, before, after)


def extensions_loaded_by_us(before, after):
    """The extension modules (targets, matches, the kernel's loggers) loaded between before and after, the targets
    and matches first: they hold the loggers. A TRACE or LOG rule's check loads nf_log_syslog, whose load binds the
    kernel's loggers in every namespace."""
    if before is None or after is None:
        return []
    return sorted((name for name in after - before if name.startswith(EXTENSION_PREFIXES)),
                  key=lambda name: (name.startswith(LOGGER_PREFIX), name))


def unload_extensions(node, before, after):
    """Unload the extension modules the call loaded; rmmod refuses one in use (a rule needs it), which stays. The
    kernel frees a dry run's namespace, and with it the rule's hold on its modules, a moment after the namespace's
    last process exits: a refusal is tried again until EXTENSION_WAIT seconds have passed, for all the modules
    together."""
    rmmod = node.tool('rmmod')
    if rmmod is None:
        return []
    gone, deadline = [], time.monotonic() + EXTENSION_WAIT
    for name in extensions_loaded_by_us(before, after):
        while node.runner.run([rmmod, '--', name], check=False).rc != 0:
            if time.monotonic() >= deadline:
                break
            time.sleep(EXTENSION_RETRY)
        else:
            gone.append('module %s unloaded' % name)
    return gone
