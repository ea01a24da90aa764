# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the node's tools for the kernel-log plumbing: argv lists only, C locale, errors with cmd/rc/stdout/stderr.

Kept as one small class so that the tool wrappers (rsyslogd, modprobe) can switch to the collection's shared
runner in one place.
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C', 'LANGUAGE': 'C'}
SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin']


class Runner:
    """Thin layer over AnsibleModule.run_command."""

    def __init__(self, module):
        self.module = module

    def find(self, name):
        """Absolute path of a tool, or None when the node does not have it."""
        return self.module.get_bin_path(name, required=False, opt_dirs=SBIN_DIRS)

    def run(self, argv, check=True, data=None, cwd='/'):
        """Run argv; returns (rc, stdout, stderr). With check, a non-zero rc raises KernlogError."""
        rc, out, err = self.module.run_command(list(argv), check_rc=False, environ_update=C_LOCALE, data=data,
                                               binary_data=data is not None, cwd=cwd)
        if check and rc != 0:
            raise KernlogError('%s failed (rc=%d): %s' % (argv[0], rc, (err or out).strip()),
                               cmd=list(argv), rc=rc, stdout=out, stderr=err)
        return rc, out, err
