# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input is refused before the first command runs on the node."""

from __future__ import annotations

import pathlib
import time

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import module_api
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.spec import MATCH_PARAMS
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import Answers, FakeModule, SBIN


def params(kind, **overrides):
    spec = module_api.TRACE_ARGS if kind == 'trace' else module_api.LOG_ARGS
    values = dict((name, opt.get('default')) for name, opt in spec.items())
    values.update(backend='nft')
    values.update(overrides)
    return values


@pytest.fixture
def node(runner, tmp_path):
    # No answers: any command fails the test.
    tools = dict((name, '/usr/sbin/' + name) for name in ('iptables-nft', 'ip6tables-nft', 'iptables-legacy', 'nft'))
    return Node(runner, tools, root=str(tmp_path))


SOON = int(time.time()) + 600
# (kind, parameters, parameter named by the error, text in the message)
CASES = [
    ('log', dict(log_prefix='x' * 30), 'log_prefix', 'at most 29 characters'),
    ('log', dict(run_id='bad id'), 'run_id', 'not valid'),
    ('trace', dict(run_id='*'), 'run_id', 'not valid'),
    ('trace', dict(state='absent'), 'run_id', 'required with state absent'),
    ('trace', dict(ttl=0), 'ttl', 'at most a day'),
    ('trace', dict(ttl=86401), 'ttl', 'at most a day'),
    ('trace', dict(source='198.18.0.1', ip_version='ipv6'), 'source', 'ip_version'),
    ('trace', dict(destination_port='80'), 'destination_port', 'tcp, udp or sctp'),
    ('trace', dict(in_interface='eth0', uid_owner='root'), 'hooks', 'split the trace'),
    ('trace', dict(in_interface='eth0', hooks=['OUTPUT']), 'in_interface', 'OUTPUT'),
    ('trace', dict(uid_owner='0', hooks=['PREROUTING', 'OUTPUT']), 'uid_owner', 'PREROUTING'),
    ('trace', dict(hooks=[]), 'hooks', 'is empty'),
    ('trace', dict(duration=300), 'duration', 'shorter than ttl'),
    ('trace', dict(duration=0), 'duration', 'shorter than ttl'),
    ('trace', dict(position='middle'), 'position', 'top, bottom'),
    ('trace', dict(position=0), 'position', 'top, bottom'),
    ('log', dict(table='filter', chain='PREROUTING'), 'chain', 'no built-in chain PREROUTING'),
    ('log', dict(chain='two words'), 'chain', 'not a chain name'),
    ('trace', dict(limit='lots'), 'limit', 'rate'),
    ('trace', dict(limit_burst=0), 'limit_burst', 'out of range'),
    ('log', dict(chain='INPUT', table='filter', out_interface='eth0'), 'out_interface', 'INPUT'),
    ('log', dict(limit='lots'), 'limit', 'rate'),
    ('log', dict(unlimited=True, limit='lots', log_level='loud'), 'log_level', 'syslog level'),
    ('log', dict(target='NFLOG', log_uid=True), 'target', 'LOG only'),
    ('log', dict(backend='nftables', table='filter', chain='app-guard'), 'chain', 'built-in chain'),
    ('log', dict(wait=0), 'wait', 'between 1 and 300'),
    ('trace', dict(window_start=SOON), 'window_end', 'give window_start and window_end together'),
    ('log', dict(window_end=SOON), 'window_start', 'give window_start and window_end together'),
    ('trace', dict(window_start=SOON, window_end=SOON), 'window_end', 'is not after window_start'),
    ('trace', dict(window_start=1000, window_end=2000), 'window_end', 'the window ended'),
    ('trace', dict(window_start=SOON, window_end=SOON + 86401), 'window_end', 'more than a day'),
    ('trace', dict(window_start=SOON, window_end=SOON + 60, duration=10), 'duration', 'one or the other'),
]


@pytest.mark.parametrize('kind, overrides, param, text', CASES)
def test_bad_input_fails_before_any_command(kind, overrides, param, text, node, runner):
    values = params(kind, **overrides)
    with pytest.raises(ParamError) as err:
        if param == 'wait':
            module_api.make_node(module_with(values))
        module_api.run(kind, node, values)
    assert err.value.param == param, err.value.msg
    assert text in err.value.msg
    assert runner.calls == []


def test_generated_run_id_and_default_prefix(node, runner):
    values = params('log')
    # Stops at the first command: everything before it was pure.
    with pytest.raises(AssertionError, match='unexpected command'):
        module_api.run('log', node, values)
    assert runner.calls and runner.calls[0][0][0] == '/usr/sbin/iptables-nft'


def module_with(values, outputs=None):
    """The shared FakeModule with the module's params: iptables-nft, nft and the tools of outputs (by name) are
    installed, each answering its output."""
    outputs = outputs or {}
    tools = dict((name, SBIN + name) for name in set(outputs) | {'iptables-nft', 'nft'})
    return FakeModule(tools, Answers([(name, (0, text, '')) for name, text in outputs.items()]), params=values)


def test_make_node_resolves_tools():
    node = module_api.make_node(module_with(params('trace')))
    assert node.tools == {'iptables-nft': '/usr/sbin/iptables-nft', 'nft': '/usr/sbin/nft'}
    assert node.lock_wait == 10


@pytest.mark.parametrize('legacy, nft, expected', [
    ('legacy-ipv4.save', 'nft-ipv4-mixed.save', ('mixed', 'nf_tables')),
    ('legacy-ipv4.save', None, ('legacy', 'nf_tables')),
    (None, 'nft-ipv4-mixed.save', ('nf_tables', 'nf_tables')),
    (None, None, ('nf_tables', 'nf_tables')),
])
def test_detection_through_the_foundation(legacy, nft, expected, fixture_text):
    ours_only = '*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m comment --comment "netdebug:r:1" -j TRACE\nCOMMIT\n'
    outputs = {'iptables': 'iptables v1.8.9 (nf_tables)\n',
               'iptables-legacy-save': fixture_text(legacy) if legacy else ours_only,
               'iptables-nft-save': fixture_text(nft) if nft else ''}
    module = module_with(params('trace', backend='auto'), outputs)
    node = module_api.make_node(module)
    assert node.detect() == expected


def test_native_detection_lists_native_ip_chains_but_not_ours(fixture_text):
    """Recorded `nft list ruleset` of a native node (fixtures/netfilter/native) plus our own table."""
    ours = ('table inet netdebug {\n\tchain raw_prerouting {\n\t\ttype filter hook prerouting priority -310; '
            'policy accept;\n\t}\n}\n')
    native = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'netfilter' / 'native' / 'nft-list-ruleset.txt'
    module = module_with(params('trace'), {'nft': native.read_text(encoding='utf-8') + ours})
    found = module_api.make_node(module).native()
    assert found == ['inet ndrec_native/input', 'inet ndrec_native/trace_pre', 'ip kube-proxy/nat-prerouting']
    assert module.argvs() == [['/usr/sbin/nft', 'list', 'ruleset']]


@pytest.mark.parametrize('given, expected', [(None, 'nd:%s ' % ('i' * 25)), ('audit ', 'audit ')])
def test_log_rules_say_their_prefix(node, monkeypatch, given, expected):
    """iptables_log returns the prefix its lines start with (the default from the one place that makes it,
    tag.default_log_prefix), so that a collect step filters the kernel log by what the rules really write."""
    monkeypatch.setattr(module_api, 'present', lambda node, req, check_mode=False: ({'rules': []}, []))
    values = params('log', run_id='i' * 32, log_prefix=given)
    result, _warnings = module_api.run('log', node, values)
    assert result['log_prefix'] == expected
    assert given is not None or expected == module_api.default_log_prefix('i' * 32)


def test_the_match_dict_stands_for_the_separate_match_options():
    """A role passes the user's match once, as the dict option match; its keys are the separate options'."""
    spread = module_api.with_match(dict(params('trace'), match={'protocol': 'udp', 'destination_port': '53',
                                                                'ip_version': 'ipv6', 'source': None}))
    assert (spread['protocol'], spread['destination_port'], spread['ip_version'], spread['source']) == (
        'udp', '53', 'ipv6', None)
    assert module_api.with_match(dict(params('trace'), match=None))['ip_version'] == 'ipv4'
    assert set(module_api.MATCH_OPTIONS) == set(('ip_version',) + MATCH_PARAMS)


@pytest.mark.parametrize('given, problem', [
    ({'match': {'protocol': 'udp', 'destination_port': 53}}, None),
    ({'match': {'protocol': 'udp'}, 'source': '198.18.0.1'}, 'mutually exclusive'),
    ({'match': {'proto': 'udp'}}, 'match.proto'),
])
def test_the_modules_argument_spec_takes_the_match_one_way(given, problem):
    validator = ArgumentSpecValidator(module_api.TRACE_ARGS, mutually_exclusive=module_api.MUTUALLY_EXCLUSIVE)
    result = validator.validate(given)
    messages = ' '.join(result.error_messages)
    if problem is None:
        assert not result.error_messages, messages
        assert result.validated_parameters['match']['destination_port'] == '53'
    else:
        assert problem in messages, messages


@pytest.mark.parametrize('kind', ['trace', 'log'])
def test_a_window_goes_into_the_match_and_is_reported(node, monkeypatch, kind):
    """window_start / window_end become the rules' time match (the node's kernel starts and ends the trace), which the
    engine also reads to count the ttl from the window's end."""
    seen = {}

    def fake_present(node, req, check_mode=False):  # pylint: disable=unused-argument
        seen['req'] = req
        return {'rules': []}, []
    monkeypatch.setattr(module_api, 'present', fake_present)
    module_api.run(kind, node, params(kind, run_id='w', protocol='icmp', window_start=SOON, window_end=SOON + 60))
    req = seen['req']
    assert tuple(req.match.window) == (SOON, SOON + 60)
    args = req.match.iptables_args('ipv4')
    assert args[args.index('--datestart') - 2:] == ['-m', 'time', '--datestart', time.strftime(
        '%Y-%m-%dT%H:%M:%S', time.gmtime(SOON)), '--datestop', time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(SOON + 59))]
    assert ' '.join(req.match.nft_words()).endswith('meta time >= %d meta time < %d' % (SOON, SOON + 60))
