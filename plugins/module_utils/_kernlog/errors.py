# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error type of the kernel-log plumbing; modules turn it into fail_json once, in main()."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.errors import NetdebugError


class KernlogError(NetdebugError):
    """A failure with what the user needs to fix it and, for a command, what the command said (cmd, rc, stdout,
    stderr), like the shared runner's NetfilterCommandError."""

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None, **details):
        super().__init__(msg, **details)
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def to_fail_kwargs(self):
        kwargs = super().to_fail_kwargs()
        for key in ('cmd', 'rc', 'stdout', 'stderr'):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        return kwargs
