# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Timestamps of log wrappers as float seconds, cached per second because thousands of lines share one."""

from __future__ import annotations

import calendar
import time

MONTHS = {m: i + 1 for i, m in enumerate(('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov',
                                          'Dec'))}


class Clock:
    """Converts timestamp texts; `year` completes classic syslog stamps, which carry none."""

    def __init__(self, year=None):
        self.year = year if year is not None else time.gmtime().tm_year
        self._cache = {}

    def _cached(self, key, compute):
        value = self._cache.get(key)
        if value is None:
            if len(self._cache) > 8192:
                self._cache.clear()
            value = compute()
            self._cache[key] = value
        return value

    def syslog(self, text):
        """'Jun 16 17:44:05' or 'Jun 16 17:44:05.123456' (local time of the node, taken as UTC) -> seconds."""
        head, _dot, frac = text.partition('.')

        def compute():
            mon, day, hms = head.split()
            hour, minute, sec = hms.split(':')
            return float(calendar.timegm((self.year, MONTHS[mon], int(day), int(hour), int(minute), int(sec))))
        try:
            base = self._cached((self.year, head), compute)
        except (KeyError, ValueError):
            return None
        return base + float('0.' + frac) if frac else base

    def iso(self, date, hms, frac, offset):
        """RFC 3339 parts ('2024-06-16', '17:44:05', '.123' or None, 'Z'/'+02:00'/'+0200' or None)."""
        def compute():
            year, mon, day = date.split('-')
            hour, minute, sec = hms.split(':')
            value = calendar.timegm((int(year), int(mon), int(day), int(hour), int(minute), int(sec)))
            if offset and offset != 'Z':
                sign = -1 if offset[0] == '+' else 1
                digits = offset[1:].replace(':', '')
                value += sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
            return float(value)
        try:
            base = self._cached((date, hms, offset), compute)
        except ValueError:
            return None
        return base + float(frac) if frac else base


def iso_utc(seconds):
    """Epoch seconds -> '2024-06-16T17:44:05.123456Z'."""
    whole = int(seconds)
    micros = int(round((seconds - whole) * 1e6))
    if micros >= 1000000:
        whole += 1
        micros -= 1000000
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(whole)) + '.%06dZ' % micros
