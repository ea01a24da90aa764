# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""conntrack.json, conntrack-stats.json and loggers.json from the conntrack and nf_log packages' results."""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import reads
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import deps, query as ct_query, text
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.decode import DecodeError
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner

from collect_fakes import FakeLoggerManager, tool_runner, recorded

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'conntrack'

LIST = recorded('conntrack_query-list.json')
STATS = recorded('conntrack_query-stats.json')
NO_CTNETLINK = ConntrackError('conntrack is not active on the node: the kernel has no ctnetlink (x)', errno=2)


class FakeRun:
    """conntrack_query's run(): recorded results per operation, or an error per operation."""

    def __init__(self, errors=None):
        self.errors = errors or {}
        self.calls = []

    def __call__(self, params):
        self.calls.append(params)
        operation = params['operation']
        if operation in self.errors:
            raise self.errors[operation]
        return dict(LIST if operation == 'list' else STATS)


def test_conntrack_files_as_the_role_wrote_them():
    run = FakeRun()
    files, problems = reads.conntrack_files({'limit': 10000, 'protocol': 'icmp', 'source': None,
                                             'destination': None, 'source_port': None, 'destination_port': 22},
                                            run=run)
    assert run.calls == [{'operation': 'list', 'limit': 10000, 'protocol': 'icmp', 'destination_port': 22},
                         {'operation': 'stats'}]
    assert problems == []
    assert files['conntrack.json'] == {'entries': LIST['entries'], 'matched': 1, 'truncated': False,
                                       'filter': {'protocol': 'icmp', 'destination_port': 22}, 'source': 'netlink'}
    assert files['conntrack.json']['entries'][0]['original']['source'] == '198.18.220.1'
    expected_stats = dict(STATS)
    del expected_stats['changed']
    assert files['conntrack-stats.json'] == expected_stats
    assert 'counters' in expected_stats and expected_stats['operation'] == 'stats'


@pytest.mark.parametrize('errors, kept, problems', [
    ({'list': NO_CTNETLINK, 'stats': NO_CTNETLINK}, [], ['conntrack: ' + NO_CTNETLINK.msg]),
    ({'stats': ConntrackError('reading conntrack stats needs root')}, ['conntrack.json'],
     ['conntrack: reading conntrack stats needs root']),
    ({'list': ConntrackError('dump failed')}, ['conntrack-stats.json'], ['conntrack: dump failed']),
    # a malformed ctnetlink message is a problem line of the host's conntrack part, not a failed host
    ({'list': DecodeError('attribute of length 9 at offset 4 overruns the message')}, ['conntrack-stats.json'],
     ['conntrack: attribute of length 9 at offset 4 overruns the message']),
])
def test_conntrack_failures_become_deduplicated_problems(errors, kept, problems):
    files, got = reads.conntrack_files({'limit': 5}, run=FakeRun(errors))
    assert sorted(files) == kept and got == problems


class ConntrackCommand:
    """The recorded conntrack -L and conntrack -S output: an answer for FakeRunner."""

    def __init__(self):
        self.listing = (FIXTURES / 'conntrack_L.txt').read_text()
        self.cpu = (FIXTURES / 'conntrack_S.txt').read_text()

    def __call__(self, argv, data):  # pylint: disable=unused-argument
        if argv[1] == '-S':
            return 0, self.cpu, ''
        family = argv[argv.index('-f') + 1]
        return 0, ''.join(l for l in self.listing.splitlines(True) if l.startswith(family + ' ')), ''


def test_conntrack_without_pyroute2_reads_the_conntrack_command(monkeypatch):
    """Most fleets have no pyroute2: the snapshot comes from conntrack -L (conntrack-tools) and says so."""
    monkeypatch.setattr(deps, 'HAS_PYROUTE2', False)
    monkeypatch.setattr(ct_query, 'PROC_STAT', '/nonexistent/nf_conntrack')
    files, problems = reads.conntrack_files({'limit': 5, 'protocol': 'udp'}, runner=FakeRunner(ConntrackCommand()))
    assert problems == []
    listed = files['conntrack.json']
    assert listed['source'] == 'conntrack -L -o extended,id' and listed['filter'] == {'protocol': 'udp'}
    assert len(listed['entries']) == 5 and listed['truncated'] and listed['matched'] > 5
    assert {e['protocol'] for e in listed['entries']} == {'udp'}
    assert files['conntrack-stats.json']['source'] == 'conntrack -S'


def test_conntrack_without_pyroute2_or_a_text_source_is_a_problem(monkeypatch, tmp_path):
    monkeypatch.setattr(deps, 'HAS_PYROUTE2', False)
    monkeypatch.setattr(text, 'PROC_TABLE', str(tmp_path / 'missing'))
    files, problems = reads.conntrack_files({'limit': 5}, runner=tool_runner({}, missing=['conntrack']))
    assert files == {}
    assert problems == ['conntrack: neither pyroute2 (python3-pyroute2) nor the conntrack command (conntrack-tools) is '
                        'on the node, and the kernel has no %s: install one of the first two (Failed to import the '
                        'required Python library (pyroute2) on the node: install python3-pyroute2 (Debian/Ubuntu) or '
                        'pip pyroute2)' % (tmp_path / 'missing')]


@pytest.mark.parametrize('spec, message', [
    ({'limit': -1}, 'conntrack: limit: -1 is out of range'),
    ({'limit': 5, 'source': '198.18.0.999'}, 'conntrack: source: '),
    ({'limit': 5, 'protocol': 'bogus'}, 'conntrack: protocol: '),
    ({'limit': 5, 'destination_port': 70000}, 'conntrack: destination_port: '),
])
def test_check_conntrack_names_the_option(spec, message):
    with pytest.raises(ParameterError) as caught:
        reads.check_conntrack(spec)
    assert caught.value.param == 'conntrack' and caught.value.msg.startswith(message)


def test_logger_files_is_nf_log_query_without_plumbing():
    manager = FakeLoggerManager()
    files, problems = reads.logger_files(manager)
    assert manager.params == {'state': 'query', 'state_dir': '/run/netdebug/nf_log', 'ttl': None}
    expected = recorded('nf_log-query.json')
    del expected['changed']
    assert files == {'loggers.json': expected} and problems == []
    assert 'loggers' in expected and 'modules' in expected


def test_logger_failure_is_a_problem():
    files, problems = reads.logger_files(FakeLoggerManager(KmodError('/proc/net/netfilter/nf_log does not exist')))
    assert files == {} and problems == ['logger state: /proc/net/netfilter/nf_log does not exist']
