# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error type of the kernel-module package, in the collection's one hierarchy (NetdebugError, ToolError)."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ToolError


class KmodError(ToolError):
    """A kernel module or sysctl problem; carries cmd/rc/stdout/stderr when a command failed."""
