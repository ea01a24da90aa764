# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The window's progress on the controller: the wait until its end cut into rounds of at most INTERVAL seconds,
each followed by one count of the packets traced so far on every host (module trace_progress) and one line.

A count takes time (a module call on every host, in batches of forks), so none is made before the window's start
(nothing can have been traced) or when less of the window is left than the last count took plus a second, and at
least MIN_LEFT seconds: the stop counts at the end anyway, and a count running past the window's end would delay
it (the fleet benchmark measured 14% more overhead at 50 nodes before counts were kept inside the window). Pure.
"""

from __future__ import annotations

import math

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.window import seconds_until

INTERVAL = 10  # seconds between two counts at least (issue 17: at most every 10 s)
MIN_LEFT = 5  # seconds of window a count needs ahead of it to be made
COUNT_GRACE = 5  # seconds past the window's end a count may run before it is cut off


def _rounds(since, until, interval):
    return int(math.ceil(max(0.0, until - since) / interval))


def rounds(start, end, now, interval=INTERVAL):
    """The rounds of the wait until end, as a list to loop over: [0, 1, ...] (empty once end has passed). Rounds
    before the window end at its start, so that those inside it end every interval seconds from the start."""
    return list(range(_rounds(now, start, interval) + _rounds(max(now, start), end, interval)))


def pause(start, end, now, interval=INTERVAL):
    """Seconds to wait in this round: up to interval, never past the window's start while it is ahead (so that
    the first round inside it counts from there), nor past its end."""
    until = start if now < start else end
    return min(interval, seconds_until(until, now))


def counting(start, end, now, took=0.0):
    """Whether this round counts the packets: the window has begun, and more of it is left than the last count
    took (took seconds) plus a second, at least MIN_LEFT."""
    return now >= start and end - now >= max(MIN_LEFT, float(took or 0) + 1)


def count_timeout(end, now):
    """Seconds a count may take (the task's timeout): until COUNT_GRACE seconds past the window's end, at least
    MIN_LEFT plus the grace. A node that stops answering mid-window (a cut link) holds its connection until SSH's
    keep-alives give up, which took up to 30 s past the end; cut off soon after it, its count shows as no answer
    and the stop follows. The grace keeps a count that is only slow (a loaded controller) from being cut."""
    return max(MIN_LEFT, int(math.floor(end - now))) + COUNT_GRACE


def _count(result):
    """A host's trace_progress result -> its traced count, 'unknown' (armed, no count rule) or None (no answer)."""
    if not isinstance(result, dict) or result.get('failed') or result.get('unreachable') or result.get('skipped'):
        return None
    if not result.get('armed'):
        return None
    traced = result.get('traced')
    return 'unknown' if traced is None else traced


def line(end, now, results):
    """One line of progress from {host: trace_progress result}: time left, and the hosts that traced something."""
    counts = dict((host, _count(result)) for host, result in results.items())
    traced = sorted((host, n) for host, n in counts.items() if isinstance(n, int) and n > 0)
    words = ['%d s of the window left' % seconds_until(end, now)]
    if traced:
        words.append('traced so far: %s' % ', '.join('%s %d' % pair for pair in traced))
    none = len([n for n in counts.values() if n == 0])
    if none:
        words.append('%s%d host(s) with none yet' % ('' if traced else 'nothing traced yet: ', none))
    unknown = sorted(host for host, n in counts.items() if n == 'unknown')
    if unknown:
        words.append('not counted (no rate limit): %s' % ', '.join(unknown))
    silent = sorted(host for host, n in counts.items() if n is None)
    if silent:
        words.append('no answer: %s' % ', '.join(silent))
    return '; '.join(words)
