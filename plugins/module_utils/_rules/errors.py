# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the temporary-rules package: the shared ToolError (the on-node reaper gets a copy of the shared
errors file too, see install.py)."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ToolError

# Command failures raised by the shared runner (NetfilterCommandError) are RulesErrors too.
RulesError = ToolError


class ParamError(RulesError):
    """Bad input, found before anything changed on the node; the message starts with the parameter's name."""

    def __init__(self, param, problem):
        super().__init__('%s: %s' % (param, problem))
        self.param = param
