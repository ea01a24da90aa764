# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of netdebug.netfilter.clock_offset: the node's clock is read over the open connection with a
plain command, timed on the controller (a module run would add the Python start-up to the round trip)."""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.clock import (
    MAX_SAMPLES,
    best_offset,
    enough,
    parse_node_time,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('samples',))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        count = self._task.args.get('samples', 5)
        try:
            count = int(count)
        except (TypeError, ValueError):
            count = 0
        if not 1 <= count <= MAX_SAMPLES:
            result.update(failed=True, msg='samples: must be a whole number from 1 to %d; got %r'
                          % (MAX_SAMPLES, self._task.args.get('samples')))
            return result
        samples = []
        last = None
        found = None
        while len(samples) < count and not enough(found):
            before = time.time()
            last = self._low_level_execute_command('date +%s.%N', sudoable=False)
            after = time.time()
            samples.append((before, parse_node_time(last.get('stdout')) if last.get('rc') == 0 else None, after))
            found = best_offset(samples)
        result['changed'] = False
        if found is None:
            result.update(offset=None, error=None, samples=len(samples),
                          warnings=['the node clock could not be read with "date +%%s.%%N" (rc %s: %s); journeys '
                                    'are ordered without its offset' % (last.get('rc'), (last.get('stderr') or
                                                                                         last.get('stdout') or '').strip()[:200])])
        else:
            result.update(found, samples=len(samples))
        return result
