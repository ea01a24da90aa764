# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture_window, window_moved, node_window and seconds_until filters (documentation in their .yml files); the decisions live
in module_utils/_capture/window.py."""

from __future__ import annotations

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import window as _window
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.survey import SurveyInputError


def capture_window(start, duration, margin, check_seconds=0, kernel_log=False):
    """netdebug_window_start (none: now plus the time to arm every host) -> the capture's window."""
    try:
        return _window.decide(start, duration, margin, time.time(), check_seconds, bool(kernel_log))
    except SurveyInputError as exc:
        raise AnsibleFilterError(str(exc))


def window_moved(window):
    """The capture's window as the trace step arms it (a default one the prepare step overran starts later)."""
    return _window.moved(window, time.time())


def node_window(window, offset=None, error=None):
    """The capture's window -> {start, end} on a node's clock, given its offset from the controller (+/- error)."""
    return _window.on_node(window, offset, error)


def seconds_until(epoch):
    """Epoch seconds -> whole seconds from now until then (0 once passed)."""
    return _window.seconds_until(float(epoch), time.time())


class FilterModule:
    def filters(self):
        return {'capture_window': capture_window, 'node_window': node_window, 'seconds_until': seconds_until,
                'window_moved': window_moved}
