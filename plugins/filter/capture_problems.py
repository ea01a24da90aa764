# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture_problems filter (documentation in capture_problems.yml); the checks live in
module_utils/_capture/limits.py."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import limits


def capture_problems(incident_id, duration, margin=None, trace_rate=0, capture_max_bytes=None):
    return limits.problems(incident_id, duration, margin, trace_rate, capture_max_bytes)


class FilterModule:
    def filters(self):
        return {'capture_problems': capture_problems}
