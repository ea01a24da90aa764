# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture's one window in wall-clock time (UTC), decided once on the controller.

Every node gets the same interval, moved onto its own clock by its measured offset; its rules carry it as a time
match, so the trace starts and ends on every node at the same moment however the hosts were batched, and every
node-side expiry counts from its end. Pure.
"""

from __future__ import annotations

import datetime
import math

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.clock import least_offset
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.survey import SurveyInputError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import TTL_MAX

NAME = 'netdebug_window_start'
# The default start: the check step's time (one module call on every host, in batches of forks) times the rounds of
# such calls arming takes - the clock offset and the start, plus the prepare step's kernel-log set-up (loggers,
# rsyslog probe) where a host's lines go through the kernel log - plus ARM_SLACK for the plays in between. Three
# rounds: the start does more than the check (records the ruleset, starts a monitor, schedules a reaper); with two,
# the window benchmark's last 6 of 50 nodes were armed up to 3 s late on a loaded controller. Six where the kernel
# log is prepared: about ten module calls a host (loggers, kernlog_info twice, the drop-in, rsyslog, the probe's four),
# most of them lighter than the check's.
ARM_ROUNDS = 3
ARM_ROUNDS_KERNEL_LOG = 6
ARM_SLACK = 3
# The trace step alone (the clock offset and the start): what a default window needs ahead of it when the trace step
# begins. One that comes sooner than START_ROUNDS rounds plus MIN_LEAD seconds from then (the prepare step overran
# it) is moved to START_ROUNDS rounds plus START_SLACK from then (moved()).
START_ROUNDS = 3
START_SLACK = 3
MIN_LEAD = 1
# The default margin after the window's end (netdebug_ttl_margin unset): DEFAULT_MARGIN, or MARGIN_ROUNDS rounds of
# the check step's time plus MARGIN_SLACK where that is longer. The stop and the collect step of the last batch come
# that long after the end (a round each, and the controller's own tasks), and a node that expires its run first
# loses its capture: at 200 nodes and forks 50, a fixed 120 s lost every host's data. A given margin is kept.
DEFAULT_MARGIN = 120
MARGIN_ROUNDS = 6
MARGIN_SLACK = 30
START_AHEAD_MAX = 86400  # a window a day ahead is a typo, not a plan


def utc_text(epoch):
    """Epoch seconds -> "2026-12-06T14:00:00Z"."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_start(value, name=NAME):
    """Epoch seconds of the window's start: an int, digits, or an ISO 8601 time with a zone ('Z' for UTC); None for
    none given (None, '', 'auto')."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ('', 'auto')):
        return None
    if isinstance(value, bool):
        raise SurveyInputError('%s: %r is not a time' % (name, value))
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text[:-1] + '+00:00' if text.endswith(('Z', 'z')) else text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SurveyInputError('%s: %r is not a time with its zone: give epoch seconds or ISO 8601 in UTC such as '
                               '2026-12-06T14:00:00Z' % (name, value))
    return int(moment.timestamp())


def _rounds(check_seconds, rounds, slack):
    return int(math.ceil(max(0.0, float(check_seconds)) * rounds)) + slack


def arm_seconds(check_seconds, kernel_log=False):
    """The default time from the end of the check step to the window's start."""
    return _rounds(check_seconds, ARM_ROUNDS_KERNEL_LOG if kernel_log else ARM_ROUNDS, ARM_SLACK)


def decide(start, duration, margin, now, check_seconds=0, kernel_log=False, name=NAME):
    """The window: {'start', 'end', 'expires' (end plus the margin: every node is back by then), 'margin' (seconds
    from end to expires: the given margin, or for None the default, which grows with the check step's time), 'start_utc', 'end_utc',
    'given' (the start came from the user)}, in the controller's epoch seconds."""
    given = parse_start(start, name)
    now = int(math.ceil(now))
    begin = now + arm_seconds(check_seconds, kernel_log) if given is None else given
    end = begin + int(duration)
    if end <= now:
        raise SurveyInputError('%s: the window %s to %s is over (now %s): give a later start, or none for the '
                               'default (now plus the time to arm every host)' % (name, utc_text(begin), utc_text(end),
                                                                                  utc_text(now)))
    if begin - now > START_AHEAD_MAX:
        raise SurveyInputError('%s: %s is more than a day ahead (now %s)' % (name, utc_text(begin), utc_text(now)))
    if margin in (None, ''):  # never past a node's longest expiry, counted from the window's start
        margin = min(max(DEFAULT_MARGIN, _rounds(check_seconds, MARGIN_ROUNDS, MARGIN_SLACK)),
                     max(DEFAULT_MARGIN, TTL_MAX - int(duration)))
    margin = int(margin)
    return {'start': begin, 'end': end, 'expires': end + margin, 'margin': margin, 'start_utc': utc_text(begin),
            'end_utc': utc_text(end), 'given': given is not None,
            'arm_seconds': _rounds(check_seconds, START_ROUNDS, START_SLACK)}


def moved(window, now):
    """The window as the trace step arms it: a default window whose start comes sooner than the trace step needs to
    arm every host (the prepare step took longer than estimated) starts that much after now instead, with the same
    length and margin, and says where it was ('moved_from'); a given start is kept (hosts armed after it are late)."""
    ready = int(math.ceil(now)) + int(window.get('arm_seconds') or START_SLACK)
    if window.get('given') or window['start'] >= ready - (START_SLACK - MIN_LEAD):
        return window
    length, margin = window['end'] - window['start'], window['expires'] - window['end']
    return dict(window, start=ready, end=ready + length, expires=ready + length + margin, start_utc=utc_text(ready),
                end_utc=utc_text(ready + length), moved_from=window['start_utc'])


def on_node(window, offset, error=None):
    """The window on a node's clock: {'start', 'end'} moved by the node's offset (node minus controller, seconds;
    None when it could not be measured), in whole seconds. The offset is known only within +/- error: the shift
    is the one nearest to zero that the measurement allows, so that noise (a loaded controller's round trips) does
    not move nodes whose clocks agree apart by a second."""
    shift = int(round(least_offset(offset, error)))
    return {'start': window['start'] + shift, 'end': window['end'] + shift}


def seconds_until(epoch, now):
    """Whole seconds from now to epoch, 0 when it has passed."""
    return max(0, int(math.ceil(epoch - now)))
