# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel log lines of one capture window, from an rsyslog file, the journal or dmesg (trace/kernel.log)."""

from __future__ import annotations

import calendar
import datetime
import os
import re
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError

SOURCES = ('rsyslog', 'journal', 'dmesg', 'none')
DEFAULT_PATTERNS = ('TRACE:',)
_RFC3339 = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?\s')
_BSD = re.compile(r'^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\s')
_DMESG = re.compile(r'^\[\s*(\d+\.\d+)\]\s')
_MONTHS = {name: i for i, name in enumerate(
    ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'], 1)}
DMESG_SLACK = 2  # seconds: the boot time estimate behind dmesg's relative stamps drifts a little


def syslog_epoch(line, now=None):
    """Epoch seconds of a syslog line (RFC 3339 or classic BSD stamp), or None."""
    match = _RFC3339.match(line)
    if match:
        stamp, zone = match.group(1), match.group(2) or 'Z'
        base = datetime.datetime.strptime(stamp.split('.')[0], '%Y-%m-%dT%H:%M:%S')
        seconds = calendar.timegm(base.timetuple())
        if '.' in stamp:
            seconds += float('0.' + stamp.split('.')[1])
        if zone != 'Z':
            sign = 1 if zone[0] == '+' else -1
            digits = zone[1:].replace(':', '')
            seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        return seconds
    match = _BSD.match(line)
    if match and match.group(1) in _MONTHS:
        # Classic stamps have no year and are in local time: take the year that puts the line closest to now.
        now = time.time() if now is None else now
        year = time.localtime(now).tm_year
        fields = (_MONTHS[match.group(1)], int(match.group(2)), int(match.group(3)), int(match.group(4)),
                  int(match.group(5)))
        best = None
        for candidate in (year - 1, year, year + 1):
            try:
                epoch = time.mktime((candidate,) + fields + (0, 0, -1))
            except (OverflowError, ValueError):
                continue
            if best is None or abs(epoch - now) < abs(best - now):
                best = epoch
        return best
    return None


def wanted(line, patterns):
    return any(pattern in line for pattern in patterns)


def window_of_syslog_file(path, since, until, patterns, out):
    """Lines of an rsyslog file inside [since, until] that carry a pattern; rotated-away lines are not read.

    A line whose stamp cannot be read is kept: dropping a trace line is worse than one line too many."""
    count = 0
    with open(path, 'r', encoding='utf-8', errors='replace') as src:
        for line in src:
            if not wanted(line, patterns):
                continue
            epoch = syslog_epoch(line)
            if epoch is None or since <= epoch <= until:
                out.write(line if line.endswith('\n') else line + '\n')
                count += 1
    return count


def _tool_output(runner, argv, package):
    """stdout of argv run through the ToolRunner; a failure is a NetdebugError with what the tool said."""
    path = runner.find(argv[0], required=True, package=package)
    result = runner.run([path] + list(argv[1:]), check=False)
    if result.rc != 0:
        raise NetdebugError('%s failed (rc %d): %s' % (' '.join(argv), result.rc, (result.stderr or '').strip()))
    return result.stdout or ''


def window_of_journal(runner, since, until, patterns, out):
    argv = ['journalctl', '-k', '--no-pager', '-o', 'short-iso-precise', '--since', '@%d' % int(since),
            '--until', '@%d' % int(until + 1)]
    count = 0
    for line in _tool_output(runner, argv, 'systemd').splitlines():
        if wanted(line, patterns):
            out.write(line + '\n')
            count += 1
    return count


def boot_epoch(uptime_path='/proc/uptime', now=None):
    with open(uptime_path, encoding='ascii') as handle:
        uptime = float(handle.read().split()[0])
    return (time.time() if now is None else now) - uptime


def dmesg_window(text, boot, since, until, patterns):
    """The lines of dmesg output `text` (relative stamps) whose wall time falls in the window, with slack."""
    lines = []
    for line in text.splitlines():
        match = _DMESG.match(line)
        if not match or not wanted(line, patterns):
            continue
        if since - DMESG_SLACK <= boot + float(match.group(1)) <= until + DMESG_SLACK:
            lines.append(line)
    return lines


def window_of_dmesg(runner, since, until, patterns, out, boot=None):
    text = _tool_output(runner, ['dmesg'], 'util-linux')
    lines = dmesg_window(text, boot_epoch() if boot is None else boot, since, until, patterns)
    for line in lines:
        out.write(line + '\n')
    return len(lines)


def extract(spec, dest, runner, warnings):
    """Write the window `spec` describes to dest; a missing rsyslog file is a warning, other failures raise.

    spec: source, file, since, until (epoch seconds), patterns (a line is kept when it holds any of them).
    Source none writes nothing (no file at all).
    """
    source = spec.get('source') or 'none'
    if source == 'none':
        return
    since, until = float(spec['since']), float(spec['until'])
    patterns = spec.get('patterns') or list(DEFAULT_PATTERNS)
    with open(dest, 'w', encoding='utf-8', errors='replace') as out:
        if source == 'rsyslog':
            path = spec.get('file') or ''
            if not os.path.isfile(path):
                warnings.append('kernel log file %s does not exist' % path)
                return
            window_of_syslog_file(path, since, until, patterns, out)
        elif source == 'journal':
            window_of_journal(runner, since, until, patterns, out)
        else:
            window_of_dmesg(runner, since, until, patterns, out)
