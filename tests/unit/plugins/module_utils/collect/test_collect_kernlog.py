# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel log window of a capture (trace/kernel.log) from an rsyslog file, the journal or dmesg."""

from __future__ import annotations

import io
import time

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import kernlog
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError

from collect_fakes import COLLECT, FORMATS, tool_runner

# 2026-11-24T18:12:23Z, the first line of the recorded rsyslog files
FIRST = 1795543943


@pytest.mark.parametrize('line, expected', [
    ('2026-11-24T18:29:14.250000+00:00 node2 kernel: TRACE: raw:PREROUTING:rule:1 IN=eth0', 1795544954.25),
    ('2026-11-24T19:29:14+01:00 node2 kernel: TRACE: x', 1795544954),
    ('2026-11-24T13:29:14-0500 node2 kernel: TRACE: x', 1795544954),
    ('2026-11-24T18:29:14Z node2 kernel: TRACE: x', 1795544954),
    ('2026-11-24T18:29:14 node2 kernel: TRACE: x', 1795544954),  # no zone: UTC
    ('[  101.9] TRACE: raw:PREROUTING', None),
    ('Foo 24 18:12:23 vm kernel: TRACE: x', None),
    ('garbage', None),
])
def test_syslog_epoch_rfc3339(line, expected):
    assert kernlog.syslog_epoch(line) == expected


@pytest.mark.parametrize('line, now_fields, expected_delta', [
    ('Dec 31 23:59:50 node2 kernel: TRACE: x', (2027, 1, 1, 0, 0, 10), -20),  # last year's line
    ('Jan  1 00:00:10 node2 kernel: TRACE: x', (2026, 12, 31, 23, 59, 50), 20),  # next year's (clock skew)
    ('Nov 24 18:12:23 vm kernel: TRACE: x', (2026, 11, 24, 18, 12, 23), 0),
])
def test_syslog_epoch_bsd_picks_the_year_closest_to_now(line, now_fields, expected_delta):
    now = time.mktime(now_fields + (0, 0, -1))
    assert kernlog.syslog_epoch(line, now=now) == now + expected_delta


@pytest.mark.parametrize('name, since, until, patterns, expected', [
    # counted with grep and the stamps' seconds: 25 TRACE lines at 18:12:23, 20 at :24, 60 in all (2 other lines)
    ('syslog-rfc3339.log', FIRST, FIRST + 1, ['TRACE:'], 25),
    ('syslog-rfc3339.log', FIRST + 1, FIRST + 2, ['TRACE:'], 20),
    ('syslog-rfc3339.log', FIRST, FIRST + 3600, ['TRACE:'], 60),
    ('syslog-rfc3339.log', FIRST - 60, FIRST - 1, ['TRACE:'], 0),
    ('syslog-rfc3339.log', FIRST, FIRST + 3600, ['nd:inc-1 '], 0),
    ('syslog-rfc3339.log', FIRST, FIRST + 3600, ['PROTO=ICMPv6'], 4),
])
def test_window_of_syslog_file_counts_recorded_lines(name, since, until, patterns, expected):
    out = io.StringIO()
    count = kernlog.window_of_syslog_file(str(FORMATS / name), since, until, patterns, out)
    assert count == expected == len(out.getvalue().splitlines())
    assert all(any(p in line for p in patterns) for line in out.getvalue().splitlines())


def test_window_of_syslog_file_keeps_lines_in_window_with_a_pattern(tmp_path):
    log = tmp_path / 'firewall'
    log.write_text('\n'.join([
        '2026-11-24T18:29:00+00:00 n kernel: TRACE: before',
        '2026-11-24T18:29:14+00:00 n kernel: TRACE: inside',
        '2026-11-24T18:29:15+00:00 n kernel: unrelated inside',
        '2026-11-24T18:29:16+00:00 n kernel: nd:inc-1 IN=eth0 inside-log',
        'no stamp at all TRACE: kept',
        '2026-11-24T18:30:00+00:00 n kernel: TRACE: after',
    ]))
    out = io.StringIO()
    count = kernlog.window_of_syslog_file(str(log), 1795544950, 1795544960, ['TRACE:', 'nd:inc-1 '], out)
    assert count == 3
    assert out.getvalue().splitlines() == ['2026-11-24T18:29:14+00:00 n kernel: TRACE: inside',
                                           '2026-11-24T18:29:16+00:00 n kernel: nd:inc-1 IN=eth0 inside-log',
                                           'no stamp at all TRACE: kept']


DMESG = (COLLECT / 'dmesg.txt').read_text()
BOOT = 1795540000.0


@pytest.mark.parametrize('since, until, patterns, expected_stamps', [
    # the five TRACE lines at 23526.52s
    (BOOT + 23526, BOOT + 23527, ['TRACE:'], ['23526.523608', '23526.523608', '23526.523615', '23526.523646',
                                              '23526.523655']),
    # the 2 s of slack each side: a window ending 1.5 s before the lines still has them
    (BOOT + 23500, BOOT + 23525, ['TRACE:'], ['23526.523608', '23526.523608', '23526.523615', '23526.523646',
                                              '23526.523655']),
    (BOOT + 23500, BOOT + 23524, ['TRACE:'], []),
    (BOOT + 23000, BOOT + 24000, ['nd:four '], ['23231.753689', '23231.755254']),
    (BOOT + 23000, BOOT + 24000, ['nd:other '], []),
])
def test_dmesg_window_places_relative_stamps_in_time(since, until, patterns, expected_stamps):
    lines = kernlog.dmesg_window(DMESG, BOOT, since, until, patterns)
    assert [line[1:].split(']')[0].strip() for line in lines] == expected_stamps


def test_boot_epoch_is_now_minus_uptime(tmp_path):
    uptime = tmp_path / 'uptime'
    uptime.write_text('24068.80 23017.06\n')
    assert kernlog.boot_epoch(str(uptime), now=1795600000.0) == pytest.approx(1795600000.0 - 24068.80)


def _extract(spec, tmp_path, runner=None):
    dest = tmp_path / 'kernel.log'
    warnings = []
    kernlog.extract(spec, str(dest), runner, warnings)
    return (dest.read_text() if dest.exists() else None), warnings


def test_extract_rsyslog_writes_the_window(tmp_path):
    text, warnings = _extract({'source': 'rsyslog', 'file': str(FORMATS / 'syslog-rfc3339.log'), 'since': FIRST,
                               'until': FIRST + 1, 'patterns': ['TRACE:']}, tmp_path)
    assert len(text.splitlines()) == 25 and warnings == []


def test_extract_rsyslog_missing_file_warns_and_leaves_an_empty_log(tmp_path):
    text, warnings = _extract({'source': 'rsyslog', 'file': str(tmp_path / 'nope'), 'since': 0, 'until': 1},
                              tmp_path)
    assert text == '' and warnings == ['kernel log file %s does not exist' % (tmp_path / 'nope')]


def test_extract_none_writes_nothing(tmp_path):
    assert _extract({'source': 'none'}, tmp_path) == (None, [])


def test_extract_journal_asks_for_the_window_and_keeps_pattern_lines(tmp_path):
    journal = (FORMATS / 'journal-short-iso.log').read_text()
    runner = tool_runner({'journalctl': (0, journal, '')})
    text, warnings = _extract({'source': 'journal', 'since': 100.7, 'until': 200.2, 'patterns': ['PROTO=ICMP ']},
                              tmp_path, runner)
    assert runner.argvs() == [['/usr/bin/journalctl', '-k', '--no-pager', '-o', 'short-iso-precise',
                               '--since', '@100', '--until', '@201']]
    assert text.splitlines() == [line for line in journal.splitlines() if 'PROTO=ICMP ' in line]
    assert text and warnings == []


def test_extract_dmesg_uses_the_runner(tmp_path, monkeypatch):
    monkeypatch.setattr(kernlog, 'boot_epoch', lambda: BOOT)
    runner = tool_runner({'dmesg': (0, DMESG, '')})
    text, _warnings = _extract({'source': 'dmesg', 'since': BOOT + 23000, 'until': BOOT + 24000,
                                'patterns': ['nd:four ']}, tmp_path, runner)
    assert runner.argvs() == [['/usr/bin/dmesg']]
    assert len(text.splitlines()) == 2


@pytest.mark.parametrize('source, runner, message', [
    ('dmesg', tool_runner({'dmesg': (1, '', 'dmesg: read kernel buffer failed: Operation not permitted\n')}),
     'dmesg failed (rc 1): dmesg: read kernel buffer failed: Operation not permitted'),
    ('journal', tool_runner({}, missing=['journalctl']), 'the journalctl command was not found'),
])
def test_extract_tool_failures_raise_a_domain_error(tmp_path, source, runner, message):
    with pytest.raises(NetdebugError) as caught:
        _extract({'source': source, 'since': 0, 'until': 1}, tmp_path, runner)
    assert message in caught.value.msg
