# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conntrack_summary filter (documentation in conntrack_summary.yml); the reading lives in module_utils/_bundle."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.summary import conntrack_summary as _summary


def conntrack_summary(incident_dir, part=''):
    """A conntrack bundle's directory -> one line: where it is, and each host's status and matched entries."""
    return _summary(str(incident_dir), str(part or ''))


class FilterModule:
    def filters(self):
        return {'conntrack_summary': conntrack_summary}
