# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operations end to end over a fake socket that answers with recorded kernel datagrams.

The fake kernel ignores dump filters, like a kernel older than 5.8: whatever the plan sends, the Python matcher
alone must produce the right answer.
"""

from __future__ import annotations

import errno
import json
import struct

import pytest

import ct_fixtures as fx

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import query
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError

DUMP_IDS = set(line['id'] for line in fx.conntrack_lines())


class FakeKernel:
    """Answers ctnetlink requests by type from the fixtures; records what was asked."""

    def __init__(self, dump_error=None, plain_dump_error=None, delete_codes=None, get_error=None):
        self.dump_error = dump_error
        self.plain_dump_error = plain_dump_error
        self.delete_codes = delete_codes or {}
        self.get_error = get_error
        self.requests = []
        self.deleted = []

    def __call__(self, request):
        answers = []
        for seq, mtype in fx.request_seqs(request):
            self.requests.append((seq, mtype))
            kind = mtype & 0xFF
            flags = struct.unpack_from('=H', request, 6)[0]
            if kind == C.IPCTNL_MSG_CT_GET and flags & C.NLM_F_DUMP:
                filtered = len(request) > 20
                error = self.dump_error if filtered else self.plain_dump_error
                if error:
                    return [fx.ack(seq, -error)]
                return [fx.with_seq(d, seq) for d in _of_family(fx.datagrams('dump_all.bin'), request[16])]
            if kind == C.IPCTNL_MSG_CT_GET:
                if self.get_error:
                    return [fx.ack(seq, -self.get_error)]
                return [fx.with_seq(d, seq) for d in fx.datagrams('get_tcp.bin')]
            if kind == C.IPCTNL_MSG_CT_GET_STATS:
                return [fx.with_seq(d, seq) for d in fx.datagrams('stats_global.bin')]
            if kind == C.IPCTNL_MSG_CT_GET_STATS_CPU:
                return [fx.with_seq(d, seq) for d in fx.datagrams('stats_cpu.bin')]
            if kind == C.IPCTNL_MSG_CT_DELETE:
                if not answers:
                    self.deleted.append(request)
                code = self.delete_codes.get(len(self.requests), 0)
                answers.append(fx.ack(seq, -code))
        return [b''.join(answers)] if answers else []


def _of_family(grams, family):
    """Every kernel filters a dump by the request's family (0: all); the fake does that much too."""
    out = []
    for data in grams:
        kept = b''
        off = 0
        while off < len(data):
            length, mtype = struct.unpack_from('=IH', data, off)
            msg = data[off:off + ((length + 3) & ~3)]
            if not family or mtype >> 8 != C.NFNL_SUBSYS_CTNETLINK or msg[16] == family:
                kept += msg
            off += (length + 3) & ~3
        out.append(kept)
    return out


def _run(params, kernel=None, check_mode=False, release='6.18.44', events=None):
    kernel = kernel or FakeKernel()
    ct = query.Conntrack(release=release, socket_factory=fx.fake_factory(kernel, preload=events))
    return query.run(params, check_mode=check_mode, conntrack=ct), kernel


@pytest.mark.parametrize('release', ['4.19.0', '5.10.0', '6.18.44'])
def test_list_with_limit_still_counts_all(release):
    result, _k = _run({'operation': 'list', 'limit': 3}, release=release)
    assert result['matched'] == 14 and len(result['entries']) == 3 and result['truncated'] is True
    assert result['changed'] is False and result['kernel_release'] == release
    json.dumps(result)  # the module returns it as JSON


@pytest.mark.parametrize('case', [c for c in fx.cases() if c['conntrack_args'] is not None],
                         ids=lambda c: c['name'])
def test_list_results_equal_conntrack_on_a_kernel_that_does_not_filter(case):
    params = dict(case['params'], operation='list', limit=0)
    result, _k = _run(params)
    assert set(e['id'] for e in result['entries']) == set(case['conntrack_ids'])
    assert result['matched'] == len(case['conntrack_ids'])
    assert not any(key.startswith('_') for e in result['entries'] for key in e)


def test_unfiltered_count_is_the_kernel_count():
    result, kernel = _run({'operation': 'count'})
    assert result['count'] == result['matched'] == 14
    assert [t & 0xFF for _s, t in kernel.requests] == [C.IPCTNL_MSG_CT_GET_STATS]


def test_filtered_count_streams_the_dump():
    result, _k = _run({'operation': 'count', 'protocol': 'udp', 'unreplied': True})
    assert result['count'] == 6
    assert result['kernel_filtered'] == ['protocol', 'status']


def test_get():
    params = {'operation': 'get', 'protocol': 'tcp', 'source': '198.18.210.1', 'destination': '198.18.210.2',
              'source_port': 40001, 'destination_port': 8080}
    result, _k = _run(params)
    assert result['found'] is True and result['matched'] == 1
    assert result['entries'][0]['state'] == 'ESTABLISHED'
    result, _k = _run(params, kernel=FakeKernel(get_error=errno.ENOENT))
    assert result['found'] is False and result['entries'] == []


@pytest.mark.parametrize('params,param', [
    ({'protocol': 'tcp', 'source': '198.18.210.1', 'destination': '198.18.210.2'}, 'source_port'),
    ({'source': '198.18.210.1', 'destination': '198.18.210.2'}, 'protocol'),
    ({'protocol': 'icmp', 'source': '198.18.210.1', 'destination': '198.18.210.2', 'icmp_type': 8},
     'icmp_code'),
    ({'protocol': 'udp', 'source': '198.18.210.0/24', 'destination': '198.18.210.2', 'source_port': 1,
      'destination_port': 2}, 'source'),
])
def test_get_needs_the_whole_tuple(params, param):
    with pytest.raises(ConntrackError) as err:
        query.validate(dict(params, operation='get'))
    assert err.value.param == param and 'operation=get' in err.value.msg


def test_delete_check_mode_deletes_nothing():
    result, kernel = _run({'operation': 'delete', 'protocol': 'udp', 'unreplied': True}, check_mode=True)
    assert result['changed'] is True and result['matched'] == 6 and result['deleted'] == 0
    assert len(result['entries']) == 6 and kernel.deleted == []


def test_delete_sends_exact_tuples_ids_and_zones():
    result, kernel = _run({'operation': 'delete', 'protocol': 'udp', 'unreplied': True, 'limit': 2})
    assert result['changed'] is True and result['deleted'] == 6 and result['vanished'] == 0
    assert len(result['entries']) == 2 and result['truncated'] is True
    messages = []
    for data in kernel.deleted:
        off = 0
        while off < len(data):
            length = struct.unpack_from('=I', data, off)[0]
            messages.append(data[off:off + length])
            off += (length + 3) & ~3
    assert len(messages) == 6
    dump = {}
    for msg in fx.messages('dump_all.bin'):
        entry = query.FastDecoder(query.AddressCache()).decode(msg, 0, len(msg), keep_raw=True)
        dump[entry['id']] = entry
    for msg in messages:
        entry_id = struct.unpack('>I', msg[-4:])[0]
        entry = dump[entry_id]
        assert msg[20:20 + len(entry['_raw_orig'])] == entry['_raw_orig']
        has_zone_attr = len(msg) == 20 + len(entry['_raw_orig']) + 8 + 8
        assert has_zone_attr == (entry['zone'] == 7)  # CTA_ZONE only when the tuple has no zone of its own
    assert set(struct.unpack('>I', m[-4:])[0] for m in messages) <= DUMP_IDS


def test_delete_counts_vanished_entries_and_is_unchanged_when_nothing_went():
    result, _k = _run({'operation': 'delete', 'protocol': 'udp', 'unreplied': True},
                      kernel=FakeKernel(delete_codes=dict((n, errno.ENOENT) for n in range(100))))
    assert result['deleted'] == 0 and result['vanished'] == 6 and result['changed'] is False
    result, _k = _run({'operation': 'delete', 'protocol': 'sctp'})
    assert result['matched'] == 0 and result['changed'] is False


def test_delete_needs_a_filter():
    with pytest.raises(ConntrackError) as err:
        query.validate({'operation': 'delete'})
    assert err.value.param == 'operation'


def test_watch_sees_new_update_destroy():
    result, _k = _run({'operation': 'watch', 'protocol': 'udp', 'source_port': 41100, 'duration': 0.3},
                      events=fx.datagrams('events.bin'))
    assert [e['event'] for e in result['events']] == ['new', 'update', 'destroy']
    assert result['matched'] == 3 and result['seen'] >= 3 and result['lost'] == 0
    assert result['truncated'] is False


def test_watch_stops_at_max_events_and_filters_kinds():
    result, _k = _run({'operation': 'watch', 'duration': 5, 'max_events': 1}, events=fx.datagrams('events.bin'))
    assert len(result['events']) == 1 and result['truncated'] is True and result['elapsed'] < 5
    result, _k = _run({'operation': 'watch', 'duration': 0.2, 'events': ['destroy'], 'source_port': 41100,
                       'protocol': 'udp'}, events=fx.datagrams('events.bin'))
    assert [e['event'] for e in result['events']] == ['destroy']


def test_stats(tmp_path, monkeypatch):
    for name, value in (('nf_conntrack_max', 262144), ('nf_conntrack_buckets', 262144)):
        (tmp_path / name).write_text('%d\n' % value)
    monkeypatch.setattr(query, 'SYSCTL_DIR', str(tmp_path))
    monkeypatch.setattr(query, 'PROC_STAT', str(fx.FIXTURES / 'proc_stat_full.txt'))
    result, _k = _run({'operation': 'stats'})
    assert result['source'] == 'proc' and result['table_full'] is True
    assert result['count'] == 14 and result['max'] == 262144 and result['buckets'] == 262144
    assert result['table_full_reasons'][0].startswith('early_drop=')
    assert len(result['per_cpu']) == 2
    monkeypatch.setattr(query, 'PROC_STAT', str(tmp_path / 'absent'))
    result, _k = _run({'operation': 'stats'})
    assert result['source'] == 'netlink' and result['table_full'] is False
    # the netlink name of /proc's icmp_error
    assert result['counters']['error'] == 1 and [c['cpu'] for c in result['per_cpu']] == [0, 1]


def test_stats_takes_no_filters():
    with pytest.raises(ConntrackError) as err:
        query.validate({'operation': 'stats', 'protocol': 'tcp'})
    assert err.value.param == 'protocol' and 'operation=count' in err.value.msg


def test_kernel_refusing_filters_falls_back_to_python():
    result, kernel = _run({'operation': 'list', 'mark': 0x42}, kernel=FakeKernel(dump_error=errno.EOPNOTSUPP))
    assert result['matched'] == 1 and result['entries'][0]['mark'] == 0x42
    assert 'refused the dump filters' in result['kernel_fallback']
    assert len(kernel.requests) == 2


@pytest.mark.parametrize('code,text', [
    (errno.EPERM, 'needs root'),
    (errno.EOPNOTSUPP, 'conntrack is not active on the node'),
])
def test_kernel_errors_say_the_remedy(code, text):
    with pytest.raises(ConntrackError) as err:
        _run({'operation': 'list'}, kernel=FakeKernel(plain_dump_error=code))
    assert text in err.value.msg and err.value.errno == code


@pytest.mark.parametrize('params,param', [
    ({'operation': 'list', 'limit': -1}, 'limit'),
    ({'operation': 'watch', 'duration': 0}, 'duration'),
    ({'operation': 'watch', 'max_events': 0}, 'max_events'),
    ({'operation': 'stats', 'near_full_percent': 0}, 'near_full_percent'),
    ({'operation': 'flush'}, 'operation'),
])
def test_bad_operation_parameters(params, param):
    with pytest.raises(ConntrackError) as err:
        query.validate(params)
    assert err.value.param == param
