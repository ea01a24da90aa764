# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the kernel-module package: the kernel-log error type, so one except clause serves both."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError


class KmodError(KernlogError):
    """A kernel module or sysctl problem; carries cmd/rc/stdout/stderr when a command failed."""
