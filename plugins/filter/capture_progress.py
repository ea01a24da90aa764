# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progress_rounds, progress_pause, progress_counting, progress_count_timeout and progress_line filters
(documentation in their .yml files); the decisions live in module_utils/_capture/progress.py."""

from __future__ import annotations

import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import progress as _progress


def progress_rounds(window):
    """The capture's window -> the rounds of the wait until its end, as a list to loop over."""
    return _progress.rounds(float(window['start']), float(window['end']), time.time())


def progress_pause(window):
    """The capture's window -> seconds to wait in this round (at most 10, never past its start or end)."""
    return _progress.pause(float(window['start']), float(window['end']), time.time())


def progress_counting(window, took=0):
    """The capture's window (and the seconds the last count took) -> whether to count the packets now."""
    return _progress.counting(float(window['start']), float(window['end']), time.time(), took)


def progress_count_timeout(window):
    """The capture's window -> seconds a count may take: until 5 s past its end."""
    return _progress.count_timeout(float(window['end']), time.time())


def progress_line(end, results):
    """The window's end and {host: trace_progress result} -> one line of progress."""
    return _progress.line(float(end), time.time(), dict(results or {}))


class FilterModule:
    def filters(self):
        return {'progress_rounds': progress_rounds, 'progress_pause': progress_pause,
                'progress_counting': progress_counting, 'progress_count_timeout': progress_count_timeout,
                'progress_line': progress_line}
