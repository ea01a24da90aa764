# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture variables an argument spec cannot check: one line for each variable that is wrong, none for the
others."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.filter.capture_problems import FilterModule
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.limits import problems

GOOD = dict(incident_id='INC-42', duration=30, margin=None, trace_rate=1000, capture_max_bytes=33554432)


@pytest.mark.parametrize('change, expected', [
    ({}, []),
    ({'margin': ''}, []),
    ({'duration': '30', 'margin': '120', 'trace_rate': '0'}, []),  # inventory strings
    ({'duration': 0}, ['netdebug_duration must be 1 to 3600 seconds (got 0)']),
    ({'duration': 'soon'}, ['netdebug_duration must be 1 to 3600 seconds (got soon)']),
    ({'incident_id': 'INC 42'}, ["netdebug_incident_id must be 1 to 32 letters, digits, '.', '_' or '-' (got 'INC 42')"]),
    ({'incident_id': '..' * 17}, ["netdebug_incident_id must be 1 to 32 letters, digits, '.', '_' or '-' (got '%s')"
                                  % ('..' * 17)]),
    ({'margin': 10}, ['netdebug_ttl_margin must be at least 30 seconds, or unset for the default (got 10)']),
    ({'duration': 3600, 'margin': 86000}, ['netdebug_duration plus netdebug_ttl_margin must be at most 86400 seconds, '
                                           'the longest a rule may stay on a node (got 3600 + 86000)']),
    ({'trace_rate': -1}, ['netdebug_trace_rate must be 0 to 100000 (0: every matching packet) (got -1)']),
    ({'capture_max_bytes': 1024}, ['netdebug_capture_max_bytes must be 65536 to 1073741824 (64 KiB to 1 GiB) '
                                   '(got 1024)']),
    # only the wrong ones, each in its own line
    ({'duration': 0, 'trace_rate': True}, ['netdebug_duration must be 1 to 3600 seconds (got 0)',
                                           'netdebug_trace_rate must be 0 to 100000 (0: every matching packet) '
                                           '(got True)']),
])
def test_problems(change, expected):
    values = dict(GOOD, **change)
    assert problems(**values) == expected
    assert FilterModule().filters()['capture_problems'](values.pop('incident_id'), values.pop('duration'), **values) == expected
