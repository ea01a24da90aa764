# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netfilter_info module end to end, against nodes that answer with recorded output."""

from __future__ import annotations

from unittest import mock

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import normalise_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import normalise_nft
from ansible_collections.netdebug.netfilter.plugins.modules import netfilter_info
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import (
    DEBIAN12_TOOLS, FakeModule, ScenarioNode, fixture,
)


class Exited(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get('msg'))
        self.failed = failed
        self.result = result


def run_module(args, scenario='mixed', tools=None, check_mode=False, answer=None):
    """(result, argv list, warnings) of one module run."""
    node = FakeModule(DEBIAN12_TOOLS if tools is None else tools, answer or ScenarioNode(scenario))
    warnings = []
    if check_mode:
        args = dict(args, _ansible_check_mode=True)

    def exit_json(_self, **result):
        raise Exited(False, result)

    def fail_json(_self, **result):
        raise Exited(True, result)

    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, 'run_command', lambda _self, argv, **kw: node.run_command(argv, **kw)), \
            mock.patch.object(basic.AnsibleModule, 'get_bin_path',
                              lambda _self, arg, required=False, opt_dirs=None: node.get_bin_path(arg, required, opt_dirs)), \
            mock.patch.object(basic.AnsibleModule, 'warn', lambda _self, msg: warnings.append(msg)), \
            mock.patch.object(basic.AnsibleModule, 'exit_json', exit_json), \
            mock.patch.object(basic.AnsibleModule, 'fail_json', fail_json):
        with pytest.raises(Exited) as caught:
            netfilter_info.main()
    return caught.value, node.argvs(), warnings


@pytest.mark.parametrize('check_mode', [False, True])
def test_mixed_node(check_mode):
    exited, argvs, warnings = run_module({}, 'mixed', check_mode=check_mode)
    assert not exited.failed
    result = exited.result
    assert result['changed'] is False
    assert result['variant'] == 'mixed'
    assert result['variant_reason'] == 'both the legacy and the nf_tables backend hold rules'
    assert (result['iptables_version'], result['iptables_variant']) == ('1.8.9', 'nf_tables')
    assert result['backends_with_rules'] == ['legacy', 'nf_tables']
    assert result['foreign_agents'] == ['calico', 'docker', 'kube-proxy']
    assert {(h['backend'], h['family']) for h in result['foreign_hooks']} == {
        ('legacy', 'ipv4'), ('nf_tables', 'ipv4'), ('nf_tables', 'ipv6')}
    assert result['binaries'] == dict((name, '/usr/sbin/' + name) for name in (
        'iptables', 'iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save'))
    assert 'snapshot' not in result and 'nftables_tables' not in result
    assert warnings == []
    # read only: -V and the four save commands, nothing else
    assert argvs == [['/usr/sbin/iptables', '-V'], ['/usr/sbin/iptables-legacy-save'],
                     ['/usr/sbin/ip6tables-legacy-save'], ['/usr/sbin/iptables-nft-save'],
                     ['/usr/sbin/ip6tables-nft-save']]


def test_snapshot_with_nftables():
    exited, argvs, _warnings = run_module({'snapshot': True, 'include_nft': True, 'families': ['ipv4']}, 'native')
    result = exited.result
    assert result['variant'] == 'nf_tables'
    assert result['snapshot'] == {
        'legacy': {'ipv4': ''},
        'nf_tables': {'ipv4': ''},
        'nftables': normalise_nft(fixture('native', 'nft-list-ruleset.txt')),
    }
    assert result['nftables_tables'] == ['inet ndrec_native', 'netdev ndrec_ingress', 'ip kube-proxy']
    assert result['foreign_agents'] == ['kube-proxy']
    assert [h['kind'] for h in result['foreign_hooks']] == ['base_chain']
    assert argvs[-1] == ['/usr/sbin/nft', '-a', 'list', 'ruleset']
    assert len(argvs) == 4  # -V, two saves, one nft listing: the snapshot reuses what detection read


def test_snapshot_of_a_legacy_node():
    exited, _argvs, warnings = run_module({'snapshot': True}, 'legacy')
    snap = exited.result['snapshot']
    assert snap['legacy']['ipv4'] == normalise_save(fixture('legacy', 'iptables-legacy-save.txt'))
    assert snap['legacy']['ipv6'] == normalise_save(fixture('legacy', 'ip6tables-legacy-save.txt'), 'ipv6')
    assert snap['nf_tables'] == {'ipv4': '', 'ipv6': ''}
    assert 'nftables' not in snap
    assert warnings == ['iptables on this node edits the nf_tables backend but the rules are in the legacy '
                        'backend: use iptables-legacy to see them']


def test_iptables_nft_tables_are_not_listed_as_native():
    exited, _argvs, _warnings = run_module({'include_nft': True}, 'nft')
    assert exited.result['nftables_tables'] == []
    assert {h['backend'] for h in exited.result['foreign_hooks']} == {'nf_tables'}


def test_include_nft_without_nft_fails_before_running_anything():
    tools = dict((k, v) for k, v in DEBIAN12_TOOLS.items() if k != 'nft')
    exited, argvs, _warnings = run_module({'include_nft': True}, 'native', tools=tools)
    assert exited.failed
    assert exited.result['msg'].startswith('include_nft: the nft command is not on the node; install the '
                                           'nftables package')
    assert argvs == []


@pytest.mark.parametrize('args, problem', [
    ({'families': ['ipv5']}, 'value of families must be one or more of'),
    ({'families': []}, 'families: give at least one of ipv4, ipv6'),
    ({'snapshot': 'maybe'}, 'snapshot'),
    ({'bogus': 1}, 'Unsupported parameters'),
])
def test_bad_parameters(args, problem):
    exited, argvs, _warnings = run_module(args)
    assert exited.failed and problem in exited.result['msg']
    assert argvs == []


def test_a_failing_tool_fails_with_its_output():
    rc, err = int(fixture('errors', 'nft-bad-match.rc')), fixture('errors', 'nft-bad-match.stderr')

    def answer(argv, data):
        if argv[0].endswith('ip6tables-nft-save'):
            return rc, '', err
        return ScenarioNode('nft')(argv, data)

    exited, _argvs, _warnings = run_module({}, answer=answer)
    assert exited.failed
    assert exited.result['cmd'] == ['/usr/sbin/ip6tables-nft-save']
    assert (exited.result['rc'], exited.result['stdout'], exited.result['stderr']) == (rc, '', err)
    assert exited.result['msg'] == ("/usr/sbin/ip6tables-nft-save failed with exit code 2: iptables v1.8.9 "
                                    "(nf_tables): Couldn't load match `nosuchmatch':No such file or directory")


def test_garbage_output_is_a_parse_error_naming_the_command():
    def answer(argv, data):
        if argv[0].endswith('iptables-legacy-save'):
            return 0, '*filter\n:INPUT ACCEPT [0:0]\n', ''
        return ScenarioNode('nft')(argv, data)

    exited, _argvs, _warnings = run_module({'families': ['ipv4']}, answer=answer)
    assert exited.failed
    assert exited.result['msg'].startswith('cannot parse /usr/sbin/iptables-legacy-save line 3: table filter is not '
                                           'closed with COMMIT')
