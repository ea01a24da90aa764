# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the temporary-rules package (stdlib only: the on-node reaper imports this file too)."""

from __future__ import annotations


class RulesError(Exception):
    """A failure with the command that caused it, if any; converted to fail_json once, in the module."""

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None):
        super().__init__(msg)
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def to_fail_kwargs(self):
        """Keyword arguments for fail_json: msg plus whichever command details are known (the same interface
        as the foundation's NetdebugError, so a module converts both alike)."""
        result = {'msg': self.msg}
        for key in ('cmd', 'rc', 'stdout', 'stderr'):
            value = getattr(self, key)
            if value is not None:
                result[key] = value
        return result


class ParamError(RulesError):
    """Bad input, found before anything changed on the node; the message starts with the parameter's name."""

    def __init__(self, param, problem):
        super().__init__('%s: %s' % (param, problem))
        self.param = param
