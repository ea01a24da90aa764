# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The window's progress on the controller: the wait until its end cut into rounds of at most INTERVAL seconds,
each followed by one count of the packets traced so far on every host (module trace_progress) and one line.

A count takes time (a module call on every host, in batches of forks), so none is made when less than
MIN_LEFT seconds of the window are left: the stop counts at the end anyway, and a count running past the window's
end would delay it. Pure.
"""

from __future__ import annotations

import math

from .window import seconds_until

INTERVAL = 10  # seconds between two counts at least (issue 17: at most every 10 s)
MIN_LEFT = 5  # seconds of window a count needs ahead of it to be made


def rounds(end, now, interval=INTERVAL):
    """The rounds of the wait until end, as a list to loop over: [0, 1, ...] (empty once end has passed)."""
    return list(range(int(math.ceil(max(0.0, end - now) / interval))))


def pause(end, now, interval=INTERVAL):
    """Seconds to wait in this round: up to interval, never past end."""
    return min(interval, seconds_until(end, now))


def counting(end, now):
    """Whether this round counts the packets (enough of the window is left)."""
    return end - now >= MIN_LEFT


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
