# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The window's progress on the controller: the rounds of the wait, when to count, and the line it prints."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import progress

END = 1796565660  # 2026-12-06T14:01:00Z


@pytest.mark.parametrize('left, rounds, first_pause', [
    (30, 3, 10), (25.5, 3, 10), (10, 1, 10), (4.2, 1, 5), (0.5, 1, 1), (0, 0, 0), (-3, 0, 0),
    (34, 4, 4),    # the window (30 s) starts in 4 s: one round up to its start, then three of 10 s
    (52.5, 6, 10),  # 22.5 s ahead: 10, 10 and 2.5 up to the start, then three
])
def test_the_wait_in_rounds_of_at_most_ten_seconds(left, rounds, first_pause):
    assert progress.rounds(END - 30, END, END - left) == list(range(rounds))
    assert progress.pause(END - 30, END, END - left) == first_pause


@pytest.mark.parametrize('left, took, counting', [
    (30, 0, True), (5, 0, True), (4.9, 0, False), (0, 0, False),
    (12, 10.5, True), (11, 10.5, False),  # a count that took 10.5 s needs 11.5 s of the window ahead
    (45, 0, False),  # before the window's start (30 s long here): nothing traced yet
])
def test_counts_only_inside_the_window(left, took, counting):
    assert progress.counting(END - 30, END, END - left, took) is counting


@pytest.mark.parametrize('left, timeout', [
    (30, 35),     # until 5 s past the end
    (5.9, 10),    # whole seconds, rounded down
    (1.5, 10),    # at least 5 + 5
    (-3, 10),     # the end has passed: still 10
])
def test_a_count_ends_soon_after_the_window_does(left, timeout):
    assert progress.count_timeout(END, END - left) == timeout


OK = {'armed': True, 'matched': 0, 'traced': 0, 'untraced': 0, 'changed': False}


@pytest.mark.parametrize('results, text', [
    ({'node1': OK, 'node2': dict(OK, matched=420, traced=412), 'node3': dict(OK, traced=12)},
     '18 s of the window left; traced so far: node2 412, node3 12; 1 host(s) with none yet'),
    ({'node1': OK, 'node2': OK}, '18 s of the window left; nothing traced yet: 2 host(s) with none yet'),
    ({'node1': dict(OK, traced=None, matched=None, untraced=None), 'node2': {'unreachable': True, 'msg': 'x'},
      'node3': {'failed': True, 'msg': 'x'}, 'node4': {'skipped': True}, 'node5': dict(OK, armed=False)},
     '18 s of the window left; not counted (no rate limit): node1; no answer: node2, node3, node4, node5'),
    ({}, '18 s of the window left'),
])
def test_the_progress_line(results, text):
    assert progress.line(END, END - 17.5, results) == text
