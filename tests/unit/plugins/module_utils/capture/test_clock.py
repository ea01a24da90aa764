# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clock offsets from timed reads: the read with the shortest round trip wins."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.clock import best_offset, enough, parse_node_time


@pytest.mark.parametrize('text, expected', [
    ('1796000000.123456789\n', 1796000000.123456789), ('1796000000\n', 1796000000.0),
    ('1796000000.N\n', None),  # a date without %N
    ('', None), ('date: invalid\n', None), ('1 2', None), ('-5', None),
])
def test_parse_node_time(text, expected):
    assert parse_node_time(text) == expected


def test_shortest_round_trip_wins():
    samples = [(100.0, 102.6, 101.0),   # round trip 1 s: offset 2.1 +/- 0.5
               (200.0, 202.02, 200.04),  # 40 ms: offset 2.0 +/- 0.02
               (300.0, None, 300.001)]   # unreadable
    assert best_offset(samples) == {'offset': 2.0, 'error': 0.02}


def test_nothing_readable():
    assert best_offset([(1.0, None, 2.0)]) is None
    assert best_offset([]) is None
    assert best_offset([(2.0, 5.0, 1.0)]) is None  # the controller clock stepped back: no bound


@pytest.mark.parametrize('found, stop', [
    (None, False), ({'offset': 3.0, 'error': 0.3}, False), ({'offset': 3.0, 'error': 0.25}, True),
    ({'offset': 0.0, 'error': 0.001}, True),
])
def test_enough_once_a_read_is_within_half_a_second(found, stop):
    assert enough(found) is stop
