# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the drop-reason capture: the shared ToolError."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ToolError

DropsError = ToolError
