# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Legacy tables our rules made. Once the kernel has made a legacy table (iptables-legacy's first use of it loads
its module, iptable_raw for instance), iptables-legacy cannot delete it: it goes only with its module.

Unloading a table module removes that table in every network namespace, so it happens only when all of these hold:
our insert loaded the module (it was not loaded when the call began; a check-mode dry run unloads what it loaded
itself), our namespace's table holds nothing (built-in chains with policy ACCEPT), and no other network namespace
on the node has the table (those of every process, and those kept by a bind mount, read through nsenter). Any
doubt keeps the module. Stdlib only (part of the reaper program).
"""

from __future__ import annotations

import os

from .iptables_backend import legacy_table_names

MODULE_NAMES = {'ipv4': 'iptable_%s', 'ipv6': 'ip6table_%s'}
NAMES_FILES = {'ipv4': 'ip_tables_names', 'ipv6': 'ip6_tables_names'}
PROC = '/proc'
PROC_MODULES = '/proc/modules'


def module_for(family, table):
    return MODULE_NAMES[family] % table


def loaded_modules():
    """Names of the loaded kernel modules, or None when they cannot be read (no module support)."""
    try:
        with open(PROC_MODULES, encoding='ascii', errors='replace') as handle:
            return set(line.split(' ', 1)[0] for line in handle if line.strip())
    except OSError:
        return None


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


def other_namespaces_have(node, family, table):
    """True when another network namespace than ours has the legacy table, or when one cannot be read."""
    names_file, proc = NAMES_FILES[family], PROC
    ours = os.stat(os.path.join(proc, 'self', 'ns', 'net')).st_ino
    seen = {ours}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            inode = os.stat(os.path.join(proc, pid, 'ns', 'net')).st_ino
        except OSError:
            continue  # gone, or a kernel thread
        if inode in seen:
            continue
        text = _read(os.path.join(proc, pid, 'net', names_file))
        if text is None and os.path.isdir(os.path.join(proc, pid)):
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
    return False


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
    """After a check-mode dry run: unload the table modules it loaded (it ran in a throwaway namespace, which is
    gone), so that check mode leaves the node's modules as they were."""
    after = loaded_modules()
    gone = []
    for family, table in placements:
        module = loaded_by_us(family, table, before, after)
        if module:
            said = unload(node, family, table, module)
            gone += [said] if said else []
    return gone
