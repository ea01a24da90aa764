# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kmod wrapper: load a module with modprobe, unload exactly one module with rmmod.

Unloading uses rmmod rather than ``modprobe -r`` because ``modprobe -r`` also removes dependencies that look
unused, which may be modules this collection did not load.
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError


class Kmod:
    """modprobe and rmmod on the node, through the collection's ToolRunner (argv lists, C locale)."""

    def __init__(self, runner):
        self.runner = runner

    def _tool(self, name):
        path = self.runner.find(name)
        if not path:
            raise KmodError('%s was not found on this node: install kmod (Debian: apt-get install kmod)' % name)
        return path

    def load(self, name):
        """modprobe name; raises KmodError with modprobe's message."""
        argv = [self._tool('modprobe'), '--', name]
        result = self.runner.run(argv, check=False)
        rc, out, err = result.rc, result.stdout, result.stderr
        if rc != 0:
            raise KmodError('modprobe %s failed (rc=%d): %s' % (name, rc, (err or out).strip()),
                            cmd=argv, rc=rc, stdout=out, stderr=err)

    def unload(self, name):
        """rmmod name; returns (ok, message) instead of raising: an unload that fails leaves the module loaded,
        which is safe, and the caller reports it."""
        argv = [self._tool('rmmod'), '--', name]
        result = self.runner.run(argv, check=False)
        return result.rc == 0, (result.stderr or result.stdout).strip()
