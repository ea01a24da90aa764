# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture's window in wall-clock time, decided once on the controller."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import window
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.survey import SurveyInputError

NOW = 1796565600  # 2026-12-06T14:00:00Z


@pytest.mark.parametrize('given, start', [
    # the default: now (rounded up to the second) plus three times the check step's 3 s, plus 3 s
    (None, NOW + 1 + 3 * 3 + 3), ('', NOW + 13), ('auto', NOW + 13),
    (NOW + 100, NOW + 100), (str(NOW + 100), NOW + 100),
    ('2026-12-06T14:05:00Z', NOW + 300), ('2026-12-06T15:05:00+01:00', NOW + 300),
    (NOW - 30, NOW - 30),                      # begun, not over: the hosts arm late and say so
])
def test_the_start_and_its_bounds(given, start):
    got = window.decide(given, 60, 120, NOW + 0.2, check_seconds=3)
    assert (got['start'], got['end'], got['expires']) == (start, start + 60, start + 180)
    assert got['given'] == (given not in (None, '', 'auto'))
    assert got['start_utc'].endswith('Z') and got['end_utc'] == window.utc_text(start + 60)


@pytest.mark.parametrize('given, text', [
    ('2026-12-06 14:05', 'not a time with its zone'),
    ('tomorrow', 'not a time with its zone'),
    (True, 'is not a time'),
    (NOW - 60, 'is over'),
    (NOW + 86401, 'more than a day ahead'),
])
def test_a_bad_start_is_refused_naming_the_variable(given, text):
    with pytest.raises(SurveyInputError) as err:
        window.decide(given, 60, 120, NOW)
    assert str(err.value).startswith('netdebug_window_start: ') and text in str(err.value)


@pytest.mark.parametrize('offset, error, shift', [
    (None, None, 0), (0.4, 0.001, 0), (-2.6, 0.001, -3), (30.4, 0.01, 30),
    (0.6, 0.4, 0),      # a loaded controller's measurement of an agreeing clock: not moved
    (-1.7, 0.3, -1),    # somewhere in -2.0 .. -1.4: the shift nearest to zero that fits
    (1.2, None, 1),
])
def test_on_a_nodes_clock(offset, error, shift):
    assert window.on_node({'start': NOW, 'end': NOW + 60}, offset, error) == {'start': NOW + shift,
                                                                              'end': NOW + 60 + shift}


def test_seconds_until():
    assert (window.seconds_until(NOW + 10, NOW + 0.5), window.seconds_until(NOW, NOW + 1)) == (10, 0)


def test_kernel_log_hosts_get_more_time_to_arm():
    assert window.decide(None, 60, 120, NOW, check_seconds=2.1, kernel_log=True)['start'] == NOW + 13 + 3  # ceil(2.1 * 6) + 3


@pytest.mark.parametrize('given, now, start', [
    (None, NOW, NOW + 12),            # arm_seconds 3 * 3 + 3 = 12: still ahead, kept
    (None, NOW + 2, NOW + 12),        # 10 s ahead: at least 3 * 3 + 1, kept
    (None, NOW + 3, NOW + 3 + 12),    # 9 s ahead: overrun, moved to now + arm_seconds
    ('2026-12-06T14:00:12Z', NOW + 30, NOW + 12),  # a given start is never moved
])
def test_a_default_window_the_prepare_step_overran_is_moved(given, now, start):
    planned = window.decide(given, 60, 120, NOW, check_seconds=3) if given else dict(
        window.decide(None, 60, 120, NOW, check_seconds=3), start=NOW + 12, end=NOW + 72, expires=NOW + 192)
    got = window.moved(planned, now)
    assert (got['start'], got['end'], got['expires']) == (start, start + 60, start + 180)
    assert got.get('moved_from') == (planned['start_utc'] if start != planned['start'] else None)


@pytest.mark.parametrize('margin, check_seconds, expected', [
    (None, 3, 120),        # the default: 120 s, as long as six rounds of the check plus 30 s are shorter
    ('', 15, 120),         # 6 * 15 + 30 = 120
    (None, 15.2, 122),     # a fleet that takes longer to check gets the stop and collect steps' time
    (None, 95, 600),       # 200 nodes at forks 50 on the development machine: about 95 s of check
    (30, 95, 30),          # a given margin is kept as it is
    (600, 0, 600),
    (None, 20000, 86400 - 60),  # never past a node's longest expiry (a day)
])
def test_the_default_margin_grows_with_the_check_step(margin, check_seconds, expected):
    got = window.decide(None, 60, margin, NOW, check_seconds=check_seconds)
    assert (got['margin'], got['expires']) == (expected, got['end'] + expected)
