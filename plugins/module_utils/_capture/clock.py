# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's clock offset from the controller's, from timed reads of the node's clock (NTP's way).

Each sample is (controller time before, node time, controller time after). The node read its clock somewhere in
between, so offset = node - midpoint is off by at most half the round trip; the sample with the shortest round
trip gives the tightest bound.
"""

from __future__ import annotations

import math

MAX_SAMPLES = 20
# A read whose round trip is at most twice this is enough: the window moves in whole seconds, and each further read
# is one more SSH command per host (at 50 nodes on a loaded controller, five reads took 20 s of the capture).
ENOUGH_ERROR = 0.25


def parse_node_time(text):
    """`date +%s.%N` output -> float seconds, None if it is not a number (a date without %N, say)."""
    words = (text or '').split()
    if len(words) != 1:
        return None
    try:
        value = float(words[0])
    except ValueError:
        return None
    return value if value > 0 else None


def least_offset(offset, error=None):
    """The offset nearest to zero that a measurement (offset +/- error, seconds) allows: 0.0 when it cannot tell
    the clocks apart. Noise (a loaded controller's round trips) then moves nothing on nodes whose clocks agree,
    and a real offset is taken off all but its error."""
    offset, error = float(offset or 0), abs(float(error or 0))
    return 0.0 if abs(offset) <= error else offset - math.copysign(error, offset)


def enough(found):
    """Whether a best_offset() result is tight enough to stop reading the node's clock."""
    return found is not None and found['error'] <= ENOUGH_ERROR


def best_offset(samples):
    """{'offset', 'error'} in seconds (rounded to microseconds) from [(before, node, after)], or None."""
    best = None
    for before, node, after in samples:
        if node is None or after < before:
            continue
        half = (after - before) / 2.0
        if best is None or half < best[1]:
            best = (node - (before + half), half)
    if best is None:
        return None
    return {'offset': round(best[0], 6), 'error': round(best[1], 6)}
