# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run's tracefs instance of skb:kfree_skb, on a directory laid out as tracefs lays out an instance (tracefs makes
the files at mkdir, so the tests make them first); the real kernel's instance is exercised by the lab tests."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import instance
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops.errors import DropsError
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'drops')
NETNS = 4026531840
# the recorded 6.18 trace's second drop 1 ms into a window (2000, 2010), its first 0.1 s before it
OFFSET = 2000.001 - 1455.424094


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def mount_runner(rc=0, stderr=''):
    """mount and umount, answered with rc and stderr."""
    return FakeRunner([('mount', (rc, '', stderr)), ('umount', (rc, '', stderr))])


def make_instance(root, name):
    path = root / 'instances' / name
    for rel, text in (('trace_clock', '[local] global counter uptime perf mono mono_raw boot tai x86-tsc\n'),
                      ('buffer_size_kb', '1408\n'), ('options/overwrite', '1\n'), ('options/hash-ptr', '1\n'),
                      ('tracing_on', '1\n'), ('trace', ''), ('events/skb/kfree_skb/enable', '0\n'),
                      ('events/skb/kfree_skb/filter', 'none\n'), ('per_cpu/cpu0/stats', fixture('stats-6.18.txt')),
                      ('per_cpu/cpu1/stats', 'entries: 0\noverrun: 2\ncommit overrun: 0\ndropped events: 3\n')):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


@pytest.fixture
def tracefs(tmp_path, monkeypatch):
    root = tmp_path / 'sys-kernel-tracing'
    (root / 'events' / 'skb' / 'kfree_skb').mkdir(parents=True)
    (root / 'events' / 'skb' / 'kfree_skb' / 'format').write_text(fixture('kfree_skb-format-6.18.txt'))
    (root / 'instances').mkdir()
    mounts = tmp_path / 'mounts'
    mounts.write_text('sysfs /sys sysfs rw 0 0\ntracefs %s tracefs rw,nosuid 0 0\n' % root)
    # tracefs removes an instance's files with it; a plain directory needs them gone first
    monkeypatch.setattr(instance, '_rmdir_instance', shutil.rmtree)
    # a plain directory shows no marker line: the offset of the trace clock to the wall clock is the test's
    offsets = [OFFSET]
    monkeypatch.setattr(instance, '_clock_offset', lambda path: offsets[-1])
    return root, instance.Tracefs(mount_runner(), {}, mounts=str(mounts),
                                  own_root=str(tmp_path / 'own'))


def test_start_sets_the_runs_own_instance_and_stop_writes_the_windows_drops(tracefs, tmp_path):
    root, fs = tracefs
    name = instance.instance_name('incident-1', NETNS)
    path = make_instance(root, name)
    record = instance.start(fs, 'incident-1', ['ipv4'], netns=NETNS)
    assert record['available'] and record['name'] == 'netdebug-incident-1-%d' % NETNS
    assert (path / 'trace_clock').read_text() == 'local'
    assert (path / 'buffer_size_kb').read_text() == str(instance.BUFFER_KB)
    assert (path / 'options' / 'overwrite').read_text() == '0'
    assert (path / 'options' / 'hash-ptr').read_text() == '1\n'  # 6.18 prints the location as a symbol
    assert (path / 'events/skb/kfree_skb/filter').read_text() == 'protocol == 2048'
    assert (path / 'events/skb/kfree_skb/enable').read_text() == '1'
    assert record['reasons']['12'] == 'NETFILTER_DROP'
    # the kernel fills the buffer; the window takes the last three of the four drops
    (path / 'trace').write_text(fixture('trace-6.18.txt'))
    assert record['offset'] == OFFSET
    window = (2000, 2010)
    out = tmp_path / 'drop-reasons.json'
    summary = instance.stop(fs, record, str(out), window)
    assert summary == {'events': 3, 'lost': 5, 'outside_window': 1}
    data = json.loads(out.read_text())
    assert [e[1:4] for e in data['events']] == [
        ['ipv6', 'NO_SOCKET', '__udp6_lib_rcv'], ['ipv4', 'NETFILTER_DROP', 'nf_hook_slow'],
        ['ipv4', 'NETFILTER_DROP', 'nft_do_chain']]
    assert data['events'][0][0] == 2000.001 and data['events'][0][4] == 1455.424094  # wall time, kernel stamp
    assert (data['trace_clock'], data['lost'], data['window']) == ('local', 5, list(window))
    assert not path.exists()
    assert fs.runner.argvs() == []  # tracefs was mounted already: nothing mounted


def test_an_old_kernel_gets_the_locations_from_its_histogram(tracefs, tmp_path):
    """6.1: hashed pointers in the lines, so a histogram trigger beside them; each line takes the one location
    its reason and family have there, and the trigger goes before the instance."""
    root, fs = tracefs
    (root / 'events' / 'skb' / 'kfree_skb' / 'format').write_text(fixture('kfree_skb-format-6.1.txt'))
    path = make_instance(root, instance.instance_name('incident-1', NETNS))
    event = path / 'events' / 'skb' / 'kfree_skb'
    (event / 'hist').write_text(fixture('hist-6.1.txt'))
    (event / 'trigger').write_text('# Available triggers:\n')
    record = instance.start(fs, 'incident-1', ['ipv4', 'ipv6'], netns=NETNS)
    assert record['hist'] == ('hist:keys=reason,protocol,location.sym:vals=hitcount:size=256 if protocol == 2048 || '
                              'protocol == 34525')
    assert (event / 'trigger').read_text() == record['hist']
    assert record['reasons']['7'] == 'NETFILTER_DROP'
    (path / 'trace').write_text(fixture('trace-6.1.txt'))
    (event / 'trigger').write_text(record['hist'].replace(' if', ':sort=hitcount if') + ' [active]\n')
    removed = []
    real_set = instance._set_trigger
    instance._set_trigger = lambda p, t, remove=False: removed.append((t, remove)) or real_set(p, t, remove)
    try:
        instance.stop(fs, record, str(tmp_path / 'out.json'))
    finally:
        instance._set_trigger = real_set
    assert removed == [(record['hist'].replace(' if', ':sort=hitcount if'), True)]
    data = json.loads((tmp_path / 'out.json').read_text())
    assert [e[1:4] for e in data['events']] == [
        ['ipv4', 'NO_SOCKET', '__udp4_lib_rcv'], ['ipv6', 'NO_SOCKET', '__udp6_lib_rcv'],
        ['ipv6', 'NOT_SPECIFIED', 'icmpv6_rcv'], ['ipv4', 'NETFILTER_DROP', 'nf_hook_slow'],
        ['ipv4', 'NETFILTER_DROP', 'nf_hook_slow']]
    assert data['locations'][0] == ['NETFILTER_DROP', 'ipv4', 'nf_hook_slow', 2]


def test_no_tracefs_mount_mounts_one_of_ours_for_the_moment(tracefs, tmp_path):
    _root, fs = tracefs
    (tmp_path / 'mounts').write_text('sysfs /sys sysfs rw 0 0\n')
    fs.tools = {'mount': '/usr/bin/mount', 'umount': '/usr/bin/umount'}
    record = instance.start(fs, 'incident-1', ['ipv4'], netns=NETNS)
    # the mount "worked" but holds no tracefs here: the start finds no event and says so
    assert record['available'] is False and 'no skb:kfree_skb event' in record['why']
    point = str(tmp_path / 'own' / record['name'])
    assert fs.runner.argvs() == [['/usr/bin/mount', '-t', 'tracefs', 'nodev', point], ['/usr/bin/umount', point]]
    assert not (tmp_path / 'own').exists()  # the mount point and its parent are gone again


@pytest.mark.parametrize('tools, rc, why', [
    ({}, 0, 'tracefs is not mounted and mount/umount are not installed'),
    ({'mount': '/bin/mount', 'umount': '/bin/umount'}, 32, 'cannot mount tracefs: permission denied'),
])
def test_tracefs_that_cannot_be_had_is_not_an_error(tracefs, tmp_path, tools, rc, why):
    _root, fs = tracefs
    (tmp_path / 'mounts').write_text('')
    fs.tools, fs.runner = tools, mount_runner(rc, 'permission denied')
    record = instance.start(fs, 'incident-1', ['ipv4'], netns=NETNS)
    assert record == {'name': instance.instance_name('incident-1', NETNS), 'families': ['ipv4'], 'available': False,
                      'stopped': False, 'why': '%s: %s' % (instance.UNAVAILABLE, why)}


def test_an_old_kernel_says_drop_reasons_are_not_available(tracefs):
    root, fs = tracefs
    fmt = root / 'events' / 'skb' / 'kfree_skb' / 'format'
    fmt.write_text('\n'.join(line for line in fmt.read_text().splitlines() if ' reason;' not in line))
    record = instance.start(fs, 'incident-1', ['ipv4', 'ipv6'], netns=NETNS)
    assert record['why'] == instance.UNAVAILABLE + ': the skb:kfree_skb event has no reason field (Linux before 5.17)'
    assert os.listdir(root / 'instances') == []  # nothing made


def test_a_failed_setting_removes_the_instance_again(tracefs):
    root, fs = tracefs
    path = make_instance(root, instance.instance_name('incident-1', NETNS))
    (path / 'trace_clock').write_text('[global] counter\n')
    record = instance.start(fs, 'incident-1', ['ipv4'], netns=NETNS)
    assert not record['available'] and 'the trace clock local is not offered (offered: global, counter)' in record['why']
    assert not path.exists()


def test_stop_without_out_file_removes_only_and_a_gone_instance_is_said(tracefs):
    root, fs = tracefs
    path = make_instance(root, instance.instance_name('incident-1', NETNS))
    record = instance.start(fs, 'incident-1', ['ipv4'], netns=NETNS)
    assert instance.stop(fs, record, None) == {'events': 0, 'lost': 0}
    assert not path.exists()
    assert instance.stop(fs, record, None) == {'gone': True}
    assert instance.stop(fs, dict(record, stopped=True), None) is None


def test_strays_takes_only_this_namespaces_unknown_instances(tracefs):
    root, fs = tracefs
    for name in ('netdebug-a-%d' % NETNS, 'netdebug-b-%d' % NETNS, 'netdebug-a-1', 'users-own'):
        make_instance(root, name)
    assert instance.strays(fs, {'netdebug-b-%d' % NETNS}, netns=NETNS) == ['netdebug-a-%d' % NETNS]
    assert sorted(os.listdir(root / 'instances')) == ['netdebug-a-1', 'netdebug-b-%d' % NETNS, 'users-own']


def test_our_own_mounts_are_never_taken_for_the_nodes():
    mounts = ('tracefs /run/netdebug-tracefs/netdebug-x-1 tracefs rw 0 0\n'
              'tracefs /sys/kernel/my\\040tracing tracefs rw 0 0\n')
    assert instance.tracefs_mounts(mounts) == ['/sys/kernel/my tracing']


def test_errors_are_the_shared_base():
    from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError
    assert issubclass(DropsError, NetdebugError)


def test_the_clock_marker_ties_the_trace_clock_to_the_wall_clock(tmp_path, monkeypatch):
    """The marker line the kernel stamps (recorded) against the wall clock around its write; the drops between the
    start's and the stop's marker take an offset drifting linearly from one to the other."""
    path = tmp_path / 'instance'
    path.mkdir()
    trace = path / 'trace'
    trace.write_text(fixture('trace-6.18.txt'))
    clock = iter([5000.0, 5000.002])
    monkeypatch.setattr(instance.time, 'time', lambda: next(clock))
    assert instance._clock_offset(str(path)) == round(5000.001 - 1455.208132, 6)
    assert (path / 'trace_marker').read_text() == instance.MARKER
