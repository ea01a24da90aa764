# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: wall time of every task (all hosts together) as JSON in $NETDEBUG_TIMER_FILE."""

from __future__ import annotations

DOCUMENTATION = r"""
name: netdebug_task_timer
type: aggregate
short_description: Record each task's wall time for the fleet benchmark
description:
  - Writes a JSON list of tasks (play, task name, action, seconds from its start to the next task's start) to the
    file named by E(NETDEBUG_TIMER_FILE) when the playbook ends.
author: netdebug.netfilter contributors
options: {}
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'netdebug_task_timer'
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tasks = []
        self._play = None

    def _close_last(self):
        if self._tasks and self._tasks[-1]['seconds'] is None:
            self._tasks[-1]['seconds'] = round(time.monotonic() - self._tasks[-1].pop('_start'), 3)

    def v2_playbook_on_play_start(self, play):
        self._close_last()
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_last()
        self._tasks.append({'play': self._play, 'task': task.get_name(), 'action': task.action,
                            'seconds': None, '_start': time.monotonic()})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._close_last()
        path = os.environ.get('NETDEBUG_TIMER_FILE')
        if path:
            with open(path, 'w', encoding='utf-8') as fh:
                json.dump(self._tasks, fh)
