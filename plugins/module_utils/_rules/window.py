# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A trace window fixed in wall-clock time (window_start, window_end: epoch seconds of the node's clock).

The rules carry it as a time match, so the node's kernel starts and ends the trace at its bounds whatever the
controller does after arming; the run's expiry then counts from the window's end. Pure; stdlib only.
"""

from __future__ import annotations

import time
from collections import namedtuple

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import TTL_MAX


class Window(namedtuple('Window', 'start end')):
    """[start, end) in epoch seconds of the node's clock."""

    __slots__ = ()

    def describe(self, now):
        """The module's return value: the bounds, and how late the rules came when armed after the start."""
        return {'start': self.start, 'end': self.end, 'late': max(0, int(now) - self.start)}


def _utc(epoch):
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(epoch))


def check_window(start, end, now):
    """The Window of window_start / window_end, None when neither is given; ParamError naming the parameter."""
    if start is None and end is None:
        return None
    for name, value in (('window_start', start), ('window_end', end)):
        if value is None:
            raise ParamError(name, 'is missing: give window_start and window_end together (epoch seconds), or '
                                   'neither')
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParamError(name, '%r is not epoch seconds' % (value,))
    if end <= start:
        raise ParamError('window_end', '%d (%s) is not after window_start %d (%s)' % (end, _utc(end), start,
                                                                                      _utc(start)))
    if end <= now:
        raise ParamError('window_end', 'the window ended %d s ago on this node\'s clock (%s): give a window that '
                                       'ends in the future' % (int(now) - end, _utc(end)))
    if end - max(start, int(now)) > TTL_MAX:
        raise ParamError('window_end', '%s is more than a day after the window starts on this node\'s clock: a '
                                       'trace lasts at most %d s' % (_utc(end), TTL_MAX))
    return Window(start, end)
