# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the kernel-log plumbing; modules turn it into fail_json once, in main()."""

from __future__ import annotations


class KernlogError(Exception):
    """A failure with what the user needs to fix it and, for a command, what the command said.

    Same shape as the collection's shared runner error (cmd, rc, stdout, stderr) so that the wrappers can move
    onto the shared runner without changing callers.
    """

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None, **details):
        super().__init__(msg)
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.details = details

    def fail_kwargs(self):
        """Keyword arguments for AnsibleModule.fail_json: the message plus whatever is known."""
        kwargs = dict(self.details)
        kwargs['msg'] = self.msg
        for key in ('cmd', 'rc', 'stdout', 'stderr'):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        return kwargs
