# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse_trace filter (documentation in parse_trace.yml); parsing lives in module_utils/_analysis."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.parse import parse_trace as _parse_trace


def parse_trace(data, host=None, year=None):
    """Netfilter trace lines (a list, or one string) -> one event dict per line."""
    if isinstance(data, Mapping) or not isinstance(data, (str, bytes, list, tuple)):
        raise AnsibleFilterError('parse_trace expects a list of lines or one string of lines, got %s; for a '
                                 'registered command result pass its stdout_lines (or stdout)'
                                 % type(data).__name__)
    if host is not None and not isinstance(host, str):
        raise AnsibleFilterError('parse_trace: host must be a string, got %s' % type(host).__name__)
    if year is not None:
        try:
            year = int(year)
        except (TypeError, ValueError):
            raise AnsibleFilterError('parse_trace: year must be a number such as 2024, got %r' % (year,))
    return _parse_trace(data, host=host, year=year)


class FilterModule:
    def filters(self):
        return {'parse_trace': parse_trace}
