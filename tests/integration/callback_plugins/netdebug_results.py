# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: appends every task result as one JSON line to $NETDEBUG_RESULTS_FILE."""

from __future__ import annotations

DOCUMENTATION = r"""
name: netdebug_results
type: aggregate
short_description: Record task results as JSON lines for the integration tests
description:
  - Appends one JSON object per task result (host, task, status, result) to the file named by E(NETDEBUG_RESULTS_FILE).
author: netdebug.netfilter contributors
options: {}
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'netdebug_results'
    CALLBACK_NEEDS_ENABLED = False

    def _record(self, result, status):
        path = os.environ.get('NETDEBUG_RESULTS_FILE')
        if not path:
            return
        entry = {
            'host': result._host.get_name(),
            'task': result._task.get_name(),
            'action': result._task.action,
            'status': status,
            'result': result._result,
        }
        with open(path, 'a', encoding='utf-8') as fh:
            fh.write(json.dumps(entry, default=str) + '\n')

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')
