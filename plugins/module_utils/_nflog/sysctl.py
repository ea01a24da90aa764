# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sysctl wrapper: read and write the netfilter logging sysctls through /proc/sys.

Writing the file directly (rather than running sysctl(8)) gives the kernel's own errno: ENOENT for a logger the
kernel does not have, EPERM/EACCES for a setting that cannot be changed from here.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError

PROC_SYS = '/proc/sys'
ALL_NETNS = 'net/netfilter/nf_log_all_netns'


def logger_key(family):
    """Sysctl key (a path under /proc/sys) of the logger bound to a protocol family number."""
    return 'net/netfilter/nf_log/%d' % family


def dotted(key):
    """net/netfilter/nf_log/2 -> net.netfilter.nf_log.2 (how people write sysctl names)."""
    return key.replace('/', '.')


class Sysctl:
    """Reads and writes /proc/sys keys (paths relative to /proc/sys, as in logger_key)."""

    def __init__(self, root=PROC_SYS):
        self.root = root

    def path(self, key):
        return os.path.join(self.root, key)

    def exists(self, key):
        return os.path.exists(self.path(key))

    def read(self, key):
        """The value as text without the trailing newline, or None when the key does not exist here."""
        try:
            with open(self.path(key)) as handle:
                return handle.read().strip()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise KmodError('cannot read sysctl %s: %s' % (dotted(key), exc))

    def write(self, key, value):
        try:
            with open(self.path(key), 'w') as handle:
                handle.write('%s\n' % value)
        except (IOError, OSError) as exc:
            raise KmodError('cannot set sysctl %s=%s: %s%s' % (dotted(key), value, exc, _hint(key, exc)))


def _hint(key, exc):
    if key == ALL_NETNS and exc.errno == errno.ENOENT:
        return (' (net.netfilter.nf_log_all_netns exists only in the initial network namespace: set it on the host '
                'that runs this namespace)')
    if exc.errno == errno.ENOENT:
        return ' (the kernel has no logger of that name: load its module first)'
    if exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        return ' (not permitted here: run as root in the initial network namespace, or with /proc/sys writable)'
    return ''
