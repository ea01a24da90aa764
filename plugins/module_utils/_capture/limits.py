# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture variables an argument spec cannot check (ranges, the incident id's form), checked before anything
changes: one line per variable that is wrong, naming it, what it got and what it takes. The limits are the node's
own (the run id's form, a rule's longest ttl, a capture file's cap), imported from where the node checks them."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.monitor import (
    CAPTURE_MAX_BYTES_LIMIT, CAPTURE_MIN_BYTES,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import RUN_ID_MAX, RUN_ID_RE, TTL_MAX

DURATION_MAX = 3600  # an hour: a longer window is a job for a log pipeline, not a capture
MARGIN_MIN = 30  # the margin is also the collect step's time after the window
TRACE_RATE_MAX = 100000  # packets per second per rule: more is a flood the kernel log and the monitors cannot keep


def _int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _range(name, value, low, high, unit=''):
    number = _int(value)
    if number is None or not low <= number <= high:
        return '%s must be %d to %d%s (got %s)' % (name, low, high, unit, value)
    return None


def problems(incident_id, duration, margin, trace_rate, capture_max_bytes):
    """The lines that say what is wrong; [] when nothing is. margin None or '' is the default."""
    found = []
    if not isinstance(incident_id, str) or not RUN_ID_RE.match(incident_id):
        found.append("netdebug_incident_id must be 1 to %d letters, digits, '.', '_' or '-' (got %r)"
                     % (RUN_ID_MAX, incident_id))
    found.append(_range('netdebug_duration', duration, 1, DURATION_MAX, ' seconds'))
    if margin not in (None, ''):
        number = _int(margin)
        if number is None or number < MARGIN_MIN:
            found.append('netdebug_ttl_margin must be at least %d seconds, or unset for the default (got %s)'
                         % (MARGIN_MIN, margin))
        elif _int(duration) is not None and _int(duration) + number > TTL_MAX:
            found.append('netdebug_duration plus netdebug_ttl_margin must be at most %d seconds, the longest a rule '
                         'may stay on a node (got %s + %s)' % (TTL_MAX, duration, margin))
    found.append(_range('netdebug_trace_rate', trace_rate, 0, TRACE_RATE_MAX, ' (0: every matching packet)'))
    found.append(_range('netdebug_capture_max_bytes', capture_max_bytes, CAPTURE_MIN_BYTES, CAPTURE_MAX_BYTES_LIMIT,
                        ' (64 KiB to 1 GiB)'))
    return [line for line in found if line]
