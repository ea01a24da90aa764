# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The clock_offset action: reads the node's clock until a read is tight enough, at most `samples` times."""

from __future__ import annotations

from unittest import mock

import pytest

from ansible.playbook.task import Task

from ansible_collections.netdebug.netfilter.plugins.action import clock_offset


def _run(args, round_trips, node_offset=2.0):
    """Run the action with reads whose round trips (seconds) are given in order; the node is node_offset ahead."""
    now = [1000.0]
    trips = iter(round_trips)
    reads = []

    def read(cmd, sudoable=True):
        trip = next(trips)
        reads.append(cmd)
        node = now[0] + trip / 2 + node_offset
        now[0] += trip
        return {'rc': 0, 'stdout': '%.6f\n' % node, 'stderr': ''}

    task = Task()
    task.args = args
    action = clock_offset.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                                       shared_loader_obj=None)
    with mock.patch.object(action, '_low_level_execute_command', side_effect=read), \
            mock.patch.object(clock_offset.time, 'time', side_effect=lambda: now[0]):
        return action.run(task_vars={}), reads


@pytest.mark.parametrize('round_trips, samples, error', [
    ([0.04], 1, 0.02),                   # the first read is tight: one command
    ([1.2, 0.9, 0.3, 5], 3, 0.15),       # reads until one is within 0.5 s
    ([2.0, 1.5, 1.2, 1.1, 1.0], 5, 0.5),  # never tight: all five, the best kept
])
def test_reads_until_tight(round_trips, samples, error):
    result, reads = _run({}, round_trips)
    assert (result['samples'], len(reads), result['error']) == (samples, samples, error)
    assert result['offset'] == pytest.approx(2.0) and not result.get('failed')


def test_samples_bounds_the_reads():
    result, reads = _run({'samples': 2}, [1.0, 1.0, 1.0])
    assert (result['samples'], len(reads)) == (2, 2)


@pytest.mark.parametrize('samples', [0, 21, 'many'])
def test_bad_samples_named(samples):
    result, reads = _run({'samples': samples}, [])
    assert result['failed'] and result['msg'].startswith('samples: ') and not reads
