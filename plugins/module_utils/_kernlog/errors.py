# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error type of the kernel-log plumbing; modules turn it into fail_json once, in main()."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ToolError


class KernlogError(ToolError):
    """A failure with what the user needs to fix it and, for a command, what the command said (cmd, rc, stdout,
    stderr)."""
