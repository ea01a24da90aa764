# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trace monitor's restart loop under the stamper, run for real on /bin/sh scripts standing in for the monitor
(fast and local; the netlink readiness check is the only thing replaced), and the parsing of what the loop logs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import procs
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import install, monitor, stamp_main
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError

TIMEOUT = shutil.which('timeout')
STAMP = re.compile(r'^@(\d{10}\.\d{6}) ')
ERROR = 'error: No such file or directory'

# Exits 1 (half a line written, like xtables-monitor caught mid-line), after SLOW seconds, while the counter is
# below FAILS, then writes a whole line and stays, like a monitor that is listening, in a child of its own (the
# grandchild of the loop).
FAKE = """#!/bin/sh
n=$(cat "$0.count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$0.count"
printf 'half %s' "$n"
if [ "$n" -le "${FAILS:-2}" ]; then sleep "${SLOW:-0}"; echo 'error: No such file or directory' >&2; exit 1; fi
echo ' whole'
sleep 60 &
echo "$!" > "$0.child"
wait
"""


@pytest.fixture
def fake(tmp_path):
    path = tmp_path / 'fake-monitor'
    path.write_text(FAKE)
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope='module')
def stamper(tmp_path_factory):
    """The stamper as the node runs it: installed with the reaper program, through its own launcher."""
    return install.stamper(install.install(str(tmp_path_factory.mktemp('root'))), sys.executable)


def unstamped(text, began, ended):
    """The capture text without its stamps, each checked to be a time between began and ended (a line cut at the
    cap is left as it is)."""
    lines = []
    whole = text.split('\n')
    for line in whole[:-1]:
        m = STAMP.match(line)
        if line:
            assert m and began - 0.01 <= float(m.group(1)) <= ended + 0.01, (line, began, ended)
            line = line[m.end():]
        lines.append(line)
    return '\n'.join(lines + whole[-1:])


def run_loop(tmp_path, stamper, argv, seconds, fails=2, slow=0, cap=(monitor.MAX_FAILURES, monitor.FAILURE_WINDOW),
             pause='0.01', max_bytes=monitor.CAPTURE_MAX_BYTES):
    """Runs the loop under the stamper and timeout as start() does; returns (rc, capture text without its
    checked stamps, stderr text, elapsed seconds)."""
    capture = str(tmp_path / 'm.trace')
    cmd = ([TIMEOUT, '--kill-after=1', str(seconds)] + stamper + [str(max_bytes), capture]
           + monitor.supervised(argv, cap[0], cap[1], pause))
    began = time.time()
    with open(str(tmp_path / 'm.stderr'), 'ab') as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                env=dict(os.environ, FAILS=str(fails), SLOW=str(slow)))
    rc = proc.wait(timeout=seconds + 5)
    ended = time.time()
    text = (tmp_path / 'm.trace').read_text() if os.path.exists(capture) else ''
    return rc, unstamped(text, began, ended), (tmp_path / 'm.stderr').read_text(), ended - began


def gone(pid, wait=2.0):
    deadline = time.time() + wait
    while time.time() < deadline:
        if procs.start_time(pid) is None or procs._stat_fields(pid)[0] == 'Z':
            return True
        time.sleep(0.02)
    return False


def test_the_loop_restarts_a_failing_monitor_on_a_new_line_until_the_timeout(tmp_path, fake, stamper):
    rc, capture, errors, elapsed = run_loop(tmp_path, stamper, [fake], 1, fails=3)
    assert rc == 124 and 0.9 < elapsed < 3  # timeout's status: the loop ran until the deadline
    assert capture == 'half 1\nhalf 2\nhalf 3\nhalf 4 whole\n'
    lines = errors.splitlines()
    assert lines[0::2] == [ERROR] * 3 and len(lines) == 6
    for line in lines[1::2]:
        assert line.startswith('netdebug: fake-monitor exited with status 1 at ') and line.endswith('; restarted')
        assert abs(int(line.split(' at ')[1].split(';')[0]) - time.time()) < 10
    assert monitor.parse_restarts(errors) == (3, ERROR)
    # timeout signals its whole group: the monitor's own child ends too.
    assert gone(int((tmp_path / 'fake-monitor.child').read_text()))


def test_a_monitor_that_always_fails_at_once_gives_up_at_the_rate_cap(tmp_path, fake, stamper):
    """The values and the pause the module uses: MAX_FAILURES runs, then the loop ends well before the window."""
    rc, capture, errors, elapsed = run_loop(tmp_path, stamper, [fake], 60, fails=99, pause=monitor.RESTART_PAUSE)
    assert rc == 1 and elapsed < monitor.FAILURE_WINDOW / 2
    assert capture == ''.join('half %d\n' % n for n in range(1, monitor.MAX_FAILURES + 1))  # the last at the end
    last = errors.splitlines()[-1]
    assert last.startswith('netdebug: fake-monitor exited with status 1 at ')
    assert last.endswith('; not restarted: %d failures within %d s' % (monitor.MAX_FAILURES, monitor.FAILURE_WINDOW))
    assert monitor.parse_restarts(errors) == (monitor.MAX_FAILURES - 1, ERROR)


def test_a_monitor_that_fails_slowly_is_restarted_past_the_cap_count(tmp_path, fake, stamper):
    """Failures 0.3 s apart at least: 5 never fall within 1 s, so the loop restarts it more than 5 times (a
    lifetime count of 5 would have ended it) until the timeout. 6 s leave room for a cycle of up to 1 s on a loaded
    machine (a slower cycle only spreads the failures further apart)."""
    rc, capture, errors, elapsed = run_loop(tmp_path, stamper, [fake], 6, fails=99, slow=0.3, cap=(5, 1))
    restarts, last_error = monitor.parse_restarts(errors)
    assert rc == 124 and 5.9 < elapsed < 9 and restarts > 5 and last_error == ERROR, errors
    assert 'not restarted' not in errors
    assert capture.split('\n')[:restarts + 1] == ['half %d' % n for n in range(1, restarts + 2)]


def test_a_monitor_that_ends_well_is_not_restarted(tmp_path, stamper):
    rc, capture, errors, _elapsed = run_loop(tmp_path, stamper, ['/bin/echo', 'done'], 5)
    assert (rc, capture, errors) == (0, 'done\n', '')


def test_monitor_words_are_arguments_not_shell_text(tmp_path, stamper):
    marker = tmp_path / 'injected'
    words = ['/bin/echo', '$(touch %s)' % marker, ';', '`id`']
    rc, capture, _errors, _elapsed = run_loop(tmp_path, stamper, words, 5)
    assert rc == 0 and capture == '$(touch %s) ; `id`\n' % marker and not marker.exists()


def test_start_records_the_loop_and_stop_ends_the_monitor_process_too(monkeypatch, tmp_path, fake, stamper):
    """start() as the module runs it (readiness: the fake's listening child is up); stop() ends the whole group."""
    monkeypatch.setattr(monitor, 'monitor_argv', lambda backend, tools: [fake])
    monkeypatch.setattr(procs, 'subscribed_to_trace', lambda pids: (tmp_path / 'fake-monitor.child').exists())
    run_path = str(tmp_path / 'run')
    os.makedirs(run_path)
    with open(os.path.join(run_path, 'nft.stderr'), 'w') as handle:
        handle.write('from an earlier monitor of the run\n')
    now = time.time()
    record, proc = monitor.start(run_path, 'nft', {'timeout': TIMEOUT}, stamper, now + 30, now)
    capture = os.path.join(run_path, 'nft.trace')
    try:
        assert record['argv'][:7] == [TIMEOUT, '--kill-after=5', '40'] + stamper + [str(record['max_bytes']), capture]
        assert record['argv'][7:9] == ['/bin/sh', '-c'] and record['capture_file'] == capture
        assert record['argv'][-1] == fake and record['stderr_file'] == os.path.join(run_path, 'nft.stderr')
        assert record['stderr_offset'] == len('from an earlier monitor of the run\n')
        assert monitor.running(record) and monitor.restarts(record) == (2, ERROR)
        child = int((tmp_path / 'fake-monitor.child').read_text())
        assert procs.group_members(record['pid']) and child in procs.group_members(record['pid'])
    finally:
        stopped = monitor.stop(record)
        proc.wait(timeout=5)
    assert stopped and not monitor.running(record) and gone(child)
    assert not procs.group_members(record['pid'])
    assert unstamped(open(capture).read(), now, time.time()) == 'half 1\nhalf 2\nhalf 3 whole\n'


# Says it is listening, then on SIGTERM prints one last line after a short while and exits, like a monitor caught
# with a packet's lines still to print.
LAST_WORDS = """#!/bin/sh
trap 'sleep 0.2; echo "last line"; exit 0' TERM
echo listening
while :; do sleep 0.05; done
"""


def test_the_stamper_reads_the_monitors_last_lines_after_a_sigterm(tmp_path, stamper):
    script = tmp_path / 'last-words'
    script.write_text(LAST_WORDS)
    script.chmod(0o755)
    capture = tmp_path / 'm.trace'
    began = time.time()
    proc = subprocess.Popen(stamper + ['65536', str(capture), str(script)], start_new_session=True)
    deadline = time.time() + 5
    while not (capture.exists() and capture.read_text()) and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, 15)
    rc = proc.wait(timeout=5)
    assert rc == 128 + 15 and unstamped(capture.read_text(), began, time.time()) == 'listening\nlast line\n'


STAMP_CASES = [
    (b'a\nb\n', b'', [b'a', b'b'], b''),
    (b'a\nhalf', b'', [b'a'], b'half'),
    (b' done\n\n  \nc', b'half', [b'half done'], b'c'),  # blank lines (the loop's newline after a restart) go
    (b'', b'', [], b''),
]


@pytest.mark.parametrize('chunk, rest, lines, left', STAMP_CASES)
def test_stamp_prefixes_each_whole_line_with_the_reading_time(chunk, rest, lines, left):
    data, kept = stamp_main.stamp(chunk, rest, 1796600581.5)
    assert data == b''.join(b'@1796600581.500000 ' + line + b'\n' for line in lines) and kept == left


# Writes 3000 numbered lines of 44 bytes (63 with the stamp: 189,000 bytes), then says on another file that it is
# still alive: a monitor past its cap must neither die nor block.
FLOOD = """#!/bin/sh
i=1000
while [ "$i" -lt 4000 ]; do
  echo "trace id $i ip raw PREROUTING packet: ..."
  i=$((i + 1))
done
echo alive > "$0.alive"
"""


def test_the_loop_caps_the_capture_file_and_the_monitor_runs_on(tmp_path, stamper):
    flood = tmp_path / 'flood-monitor'
    flood.write_text(FLOOD)
    flood.chmod(0o755)
    rc, capture, errors, _elapsed = run_loop(tmp_path, stamper, [str(flood)], 10, max_bytes=65536)
    assert rc == 0 and (tmp_path / 'flood-monitor.alive').read_text() == 'alive\n'
    written = (tmp_path / 'm.trace').read_text()
    assert len(written) == 65536 and not written.endswith('\n')  # the stamper wrote up to the cap, mid-line
    record = {'capture_file': str(tmp_path / 'm.trace'), 'max_bytes': 65536}
    size, truncated = monitor.settle_capture(record)
    kept = (tmp_path / 'm.trace').read_text()
    assert truncated and size == len(kept) == 65536 // 63 * 63  # cut back to the last whole line
    assert kept.splitlines()[-1][19:] == 'trace id %d ip raw PREROUTING packet: ...' % (1000 + 65536 // 63 - 1)
    assert monitor.settle_capture(record) == (size, False)  # below the cap once cut: settled once


def test_a_capture_below_its_cap_is_left_as_it_is(tmp_path):
    path = tmp_path / 'nft.trace'
    path.write_text('a\nhalf')
    assert monitor.settle_capture({'capture_file': str(path), 'max_bytes': 65536}) == (6, False)
    assert path.read_text() == 'a\nhalf'
    assert monitor.settle_capture({'capture_file': str(tmp_path / 'missing'), 'max_bytes': 65536}) == (0, False)
    assert monitor.settle_capture({'capture_file': str(path)}) == (6, False)  # a record from before the cap


CAP_CASES = [
    (monitor.CAPTURE_MAX_BYTES, 10 ** 12, monitor.CAPTURE_MAX_BYTES),
    (monitor.CAPTURE_MAX_BYTES, 4 * 1000000, 999936),  # a quarter of the free space, whole 512-byte blocks
    (65536, 4 * 65536, 65536),
    (100000, 10 ** 9, 99840),
]


@pytest.mark.parametrize('wanted, free, cap', CAP_CASES)
def test_effective_cap(wanted, free, cap):
    assert monitor.effective_cap(wanted, free) == cap


def test_too_little_free_space_is_refused():
    with pytest.raises(RulesError, match=r'^the file system of the capture files has 262143 bytes free: a trace '
                                         r'monitor needs at least 262144'):
        monitor.effective_cap(monitor.CAPTURE_MAX_BYTES, 4 * 65536 - 1)


@pytest.mark.parametrize('value', [65535, 1073741825, 0, -1, True, '65536', None])
def test_bad_capture_max_bytes_is_refused(value):
    with pytest.raises(ParamError, match=r'^capture_max_bytes: .* is not a byte count from 65536 \(64 KiB\) to '
                                         r'1073741824 \(1 GiB\)$'):
        monitor.check_max_bytes(value)


def test_group_cpu_seconds_adds_the_members_and_their_children(tmp_path):
    ticks = os.sysconf('SC_CLK_TCK')
    for pid, pgrp, times in ((10, 10, (1, 2, 0, 0)), (11, 10, (0, 0, 3 * ticks, ticks)), (12, 99, (50, 50, 0, 0))):
        (tmp_path / str(pid)).mkdir()
        fields = ['S', '1', str(pgrp)] + ['0'] * 8 + [str(t) for t in times] + ['0'] * 10
        (tmp_path / str(pid) / 'stat').write_text('%d (sh) %s\n' % (pid, ' '.join(fields)))
    assert procs.group_cpu_seconds(10, proc=str(tmp_path)) == round(4 + 3.0 / ticks, 2)


PARSE_CASES = [
    ('', (0, None)),
    (ERROR + '\n', (0, None)),  # an error without a restart (the loop was stopped): nothing to report
    ('w\nnetdebug: xtables-monitor exited with status 1 at 17; restarted\n', (1, 'w')),
    ('a\nnetdebug: nft exited with status 2 at 17; restarted\n'
     'netdebug: nft exited with status 2 at 18; restarted\n', (2, None)),  # said nothing before the second
    ('a\nnetdebug: m exited with status 1 at 17; restarted\nb\n\n', (1, 'a')),  # b: after the last restart
    ('a\nnetdebug: m exited with status 1 at ; restarted\n', (1, 'a')),  # no date(1): the count still holds
    ('a\nnetdebug: m exited with status 1 at 17; not restarted: 1 failures within 10 s\n', (0, None)),
    ('a\nnetdebug: m exited with status 1 at 17; restarted\nb\n'
     'netdebug: m exited with status 1 at 17; not restarted: 2 failures within 10 s\n', (1, 'a')),
]


@pytest.mark.parametrize('text, expected', PARSE_CASES)
def test_parse_restarts(text, expected):
    assert monitor.parse_restarts(text) == expected


def test_restarts_reads_from_the_records_offset(tmp_path):
    path = tmp_path / 'nft.stderr'
    earlier = 'x\nnetdebug: m exited with status 1 at 17; restarted\n'
    path.write_text(earlier + 'y\nnetdebug: m exited with status 1 at 18; restarted\n')
    assert monitor.restarts({'stderr_file': str(path), 'stderr_offset': len(earlier)}) == (1, 'y')
    assert monitor.restarts({'stderr_file': str(path)}) == (2, 'y')
    assert monitor.restarts({'stderr_file': str(tmp_path / 'missing')}) == (0, None)
    assert monitor.restarts({'capture_file': 'from before the loop'}) == (0, None)
