# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""parse_trace on every recorded file and wrapper form; malformed input never raises."""

from __future__ import annotations

import collections

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.events import FIELDS, KINDS
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.parse import (
    Context, iter_events, parse_line, parse_trace,
)

# (file, format, kind counts) - the counts were checked by hand against the recordings
FILES = [
    ('legacy/node1/trace/dmesg.log', 'kernel', {'policy': 22, 'rule': 2, 'log': 2}),
    ('legacy/node2/trace/dmesg.log', 'kernel', {'policy': 25, 'rule': 29, 'return': 8, 'log': 2}),
    ('nft/node1/trace/xtables-monitor.log', 'xtables-monitor', {'packet': 22, 'rule': 13, 'policy': 22}),
    ('nft/node2/trace/xtables-monitor.log', 'xtables-monitor', {'packet': 32, 'rule': 42, 'policy': 23,
                                                                'unparsed': 3}),
    ('nftables/node1/trace/nft-monitor.log', 'nft-monitor', {'packet': 13, 'rule': 13, 'policy': 13}),
    ('nftables/node2/trace/nft-monitor.log', 'nft-monitor', {'packet': 30, 'rule': 45, 'policy': 20}),
]
FORMATS = {
    'formats/dmesg-T.log': ('wall', None),
    'formats/dmesg-x.log': ('boot', None),
    'formats/kmsg.log': ('boot', None),
    'formats/syslog-classic.log': ('wall', 'vm'),
    'formats/syslog-rfc3339.log': ('wall', 'vm'),
    'formats/journal-short.log': ('wall', 'vm'),
    'formats/journal-short-iso.log': ('wall', 'vm'),
    'formats/journal-short-precise.log': ('wall', 'vm'),
    'formats/journal.json': ('wall', 'vm'),
}


@pytest.mark.parametrize('rel, fmt, counts', FILES)
def test_recorded_files(lines, rel, fmt, counts):
    events = parse_trace(lines(rel))
    assert dict(collections.Counter(e['kind'] for e in events)) == counts
    assert [e['line'] for e in events] == list(range(1, len(events) + 1))
    for event in events:
        assert set(FIELDS) <= set(event) and event['kind'] in KINDS
        if event['kind'] != 'unparsed':
            assert event['format'] == fmt


def _steps(events):
    return [(e['table'], e['chain'], e['kind'], e['rulenum'], e['prefix'], e['packet']) for e in events]


@pytest.mark.parametrize('rel', sorted(FORMATS))
def test_every_wrapper_gives_the_same_steps_as_dmesg(lines, rel):
    """The same kernel lines, written by dmesg -T/-x, /dev/kmsg, rsyslog and journald, parse to the same steps."""
    clock, host = FORMATS[rel]
    reference = [e for e in parse_trace(lines('legacy/node2/trace/dmesg.log')) if 'ff02:' not in str(e['packet'])]
    events = parse_trace(lines(rel))
    assert all(e['kind'] in ('rule', 'return', 'policy', 'log') for e in events)
    assert _steps(events) == _steps(reference)
    assert {e['clock'] for e in events} == {clock}
    assert {e['host'] for e in events} == {host}
    assert all(isinstance(e['ts'], float) and e['time'] for e in events)
    stamps = [e['ts'] for e in events]
    assert stamps == sorted(stamps)


def test_times_of_each_wrapper(lines):
    first = {rel: parse_trace(lines(rel)[:1], year=2026)[0] for rel in FORMATS}
    dmesg = parse_trace(lines('legacy/node2/trace/dmesg.log')[:1])[0]
    assert dmesg['time'] == '5356.621942' and dmesg['ts'] == pytest.approx(5356.621942)
    assert first['formats/kmsg.log']['ts'] == pytest.approx(5356.621942)
    assert first['formats/dmesg-x.log']['ts'] == pytest.approx(5356.621942)
    rfc = first['formats/syslog-rfc3339.log']
    assert rfc['time'] == '2026-11-24T18:12:23.157153+00:00'
    assert rfc['ts'] == pytest.approx(1795543943.157153)  # calendar.timegm((2026, 11, 24, 18, 12, 23))
    classic = first['formats/syslog-classic.log']
    assert classic['time'] == 'Nov 24 18:12:23' and classic['ts'] == 1795543943.0
    journal = first['formats/journal.json']  # __REALTIME_TIMESTAMP 1795543952562666
    assert journal['time'] == '2026-11-24T18:12:32.562666Z' and journal['ts'] == pytest.approx(1795543952.562666)


def test_host_option_fills_only_lines_without_host(lines):
    syslog = parse_trace(lines('formats/syslog-classic.log')[:1], host='node2')[0]
    dmesg = parse_trace(lines('legacy/node2/trace/dmesg.log')[:1], host='node2')[0]
    assert syslog['host'] == 'vm' and dmesg['host'] == 'node2'


def test_kernel_stamp_kept_inside_syslog_line(lines):
    """Older rsyslog/imklog set-ups keep the kernel's own stamp after 'kernel:' (line built from a real one)."""
    real = lines('formats/syslog-classic.log')[0]
    head, _sep, message = real.partition(' kernel: ')
    event = parse_trace([head + ' kernel: [ 5356.621942] ' + message], year=2026)[0]
    assert event['kind'] == 'policy' and event['table'] == 'raw' and event['host'] == 'vm'


def test_string_input_and_crlf(lines):
    text = '\r\n'.join(lines('legacy/node2/trace/dmesg.log')[:3]) + '\r\n'
    events = parse_trace(text)
    assert [e['kind'] for e in events] == ['policy', 'policy', 'rule']


@pytest.mark.parametrize('line, error', [
    ('', 'empty line'),
    ('   ', 'empty line'),
    ('[  12.5] EXT4-fs (vda): mounted filesystem', 'not a netfilter TRACE or LOG message'),
    ('[  12.5] TRACE: raw:PREROUTING IN=eth0', 'TRACE line without'),
    ('{"MESSAGE": 5}', 'journal record without a text MESSAGE'),
    ('{not json', 'invalid JSON'),
    ('[1, 2]', 'not a netfilter TRACE or LOG message'),
    ('trace id 12ab inet t c strange things', 'nft monitor line of unknown form'),
    ('trace id 12ab inet t c rule no verdict here', 'rule line without (verdict ...)'),
    (' TRACE: 2 0c87760e raw', 'TRACE line without table:chain:type'),
    (' TRACE: 2 0c87760e raw:PREROUTING:rule:zz', 'rule step without handle:verdict'),
    ('Error: match extension not found', 'not a netfilter TRACE or LOG message'),
    ('@17966x.5 trace id 12ab inet t c policy drop ', "time stamp '17966x.5' is not a number"),
    ('@1796600581.5 Error: match extension not found', 'stamped line is not a monitor line'),
    ('@1796600581.5 trace id 12ab inet t c rule no verdict here', 'rule line without (verdict ...)'),
])
def test_malformed_lines_are_unparsed(line, error):
    event = parse_trace([line])[0]
    assert event['kind'] == 'unparsed'
    assert error in event['error'] and event['text'] == line


def test_non_string_elements_are_unparsed():
    events = parse_trace(['x', 5, None, b'[  1.0] TRACE: raw:OUTPUT:policy:1 IN= OUT=lo SRC=198.18.0.1 '])
    assert [e['kind'] for e in events] == ['unparsed', 'unparsed', 'unparsed', 'policy']
    assert events[1]['error'] == 'not a string'


@pytest.mark.parametrize('rel', [f[0] for f in FILES] + sorted(FORMATS) + ['docs/xtables-monitor-manpage.log',
                                                                           'docs/nft-monitor-conntrack-commit.log'])
def test_every_prefix_of_every_real_line_parses_without_exception(lines, rel):
    """Truncated lines (a capture cut mid-line) must never raise."""
    for line in lines(rel)[:40]:
        events = parse_trace([line[:cut] for cut in range(0, len(line), 3)])
        assert all(e['kind'] in KINDS for e in events)


@pytest.mark.parametrize('rel', ['legacy/node1/trace/dmesg.log', 'legacy/node2/trace/dmesg.log'])
def test_inline_hot_path_builds_the_same_events_as_the_dispatcher(fixtures_dir, rel):
    """iter_events takes dmesg TRACE lines without a detour; parse_line must give the very same events."""
    with open(fixtures_dir / rel, encoding='utf-8') as fh:  # file lines keep their '\n'
        fast = list(iter_events(fh, host='node2'))
    ctx = Context(host='node2')
    slow = [parse_line(ctx, number, line) for number, line in enumerate(lines_of(fixtures_dir / rel), 1)]
    assert fast == slow and len(fast) > 20


def lines_of(path):
    with open(path, encoding='utf-8') as fh:
        return [line.rstrip('\n') for line in fh]


@pytest.mark.parametrize('rel', [f[0] for f in FILES])
def test_events_are_plain_dicts_with_the_fields_in_order(lines, rel):
    """Events are built as shared-key attribute dicts (EventSlots) for speed: they must stay ordinary dicts."""
    for event in parse_trace(lines(rel)):
        assert type(event) is dict  # pylint: disable=unidiomatic-typecheck
        extra = ['text', 'error'] if event['kind'] == 'unparsed' else []
        assert list(event) == list(FIELDS) + extra
    event = parse_trace(lines(rel)[:1])[0]
    event['mine'] = 1
    assert event['mine'] == 1 and dict(event) == event


def test_gc_pause_restores_the_collector_and_leaves_frozen_objects_alone():
    import gc
    from ansible_collections.netdebug.netfilter.plugins.module_utils._core.gcpause import gc_paused
    assert gc.isenabled()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's disabled collector stays disabled
    finally:
        gc.enable()
