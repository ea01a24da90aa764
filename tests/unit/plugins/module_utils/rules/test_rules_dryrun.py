# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel dry run's read-back: the rule as the kernel holds it, compared with what the parameters allow.

The listings are recorded real output (fixtures/rules/README.md). A rule that lists with a second comment, another
target or in another chain is refused before anything changes on the node, whatever spelling asked for it.
"""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import dryrun
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.desired import build
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.spec import Match
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.target import log_target, trace_target

TOOLS = {'unshare': '/usr/bin/unshare', 'nft': '/usr/sbin/nft',
         'iptables-legacy-restore': '/usr/sbin/iptables-legacy-restore',
         'iptables-legacy-save': '/usr/sbin/iptables-legacy-save',
         'iptables-nft-restore': '/usr/sbin/iptables-nft-restore', 'iptables-nft-save': '/usr/sbin/iptables-nft-save'}


def _rule(backend, target, placement=('raw', 'PREROUTING')):
    match = Match('ipv4')
    match.protocol = 'icmp'
    return build('trace' if target.jump == 'TRACE' else 'log', [backend], match, target, [placement], 1)[0]


# (backend, target, placement, recorded listing, the problem's words or None)
CASES = [
    ('legacy', trace_target(), ('raw', 'PREROUTING'), 'dryrun-legacy-two-comments.save', 'wanted our tag as the only'),
    ('nft', trace_target(), ('raw', 'PREROUTING'), 'dryrun-nft-trace.save', None),
    ('legacy', log_target(prefix='nd:x '), ('filter', 'app-guard'), 'dryrun-legacy-log-user-chain.save', None),
    ('legacy', log_target(prefix='nd:x '), ('filter', 'INPUT'), 'dryrun-legacy-log-user-chain.save', 'chain INPUT'),
    ('legacy', trace_target(), ('filter', 'app-guard'), 'dryrun-legacy-log-user-chain.save', 'target TRACE'),
    ('nftables', trace_target(), ('raw', 'PREROUTING'), 'dryrun-nftables-trace.nft', None),
    ('legacy', trace_target(), ('raw', 'PREROUTING'), 'nft-ipv4-raw.S', 'rules carrying the tag'),
]


@pytest.mark.parametrize('backend, target, placement, listing, problem', CASES)
def test_readback_problem(fixture_text, backend, target, placement, listing, problem):
    found = dryrun.readback_problem(_rule(backend, target, placement), fixture_text(listing))
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_nftables_rule_with_a_second_comment_is_refused(fixture_text):
    listing = fixture_text('dryrun-nftables-trace.nft').replace(
        'comment "netdebug:dry-run:0"', 'comment "x" comment "netdebug:dry-run:0"')
    assert 'it lists as' in dryrun.readback_problem(_rule('nftables', trace_target()), listing)


@pytest.mark.parametrize('extra, param', [(True, 'match_extra'), (False, 'match')])
def test_check_refuses_what_the_kernel_lists_otherwise(runner, fixture_text, monkeypatch, extra, param):
    monkeypatch.setattr(dryrun.sys, 'executable', '/usr/bin/python3')
    runner.add(('/usr/bin/unshare', '--net', '--', '/usr/bin/python3', '-c', ''))
    runner.add(lambda argv: argv[:4] == ['/usr/bin/unshare', '--net', '--', '/bin/sh'],
               stdout=fixture_text('dryrun-legacy-two-comments.save'))
    node = Node(runner, TOOLS)
    with pytest.raises(ParamError) as err:
        dryrun.check(node, [_rule('legacy', trace_target())], extra)
    assert err.value.param == param and 'nothing was changed' in err.value.msg


def test_check_reads_back_in_the_same_namespace(runner, fixture_text, monkeypatch):
    monkeypatch.setattr(dryrun.sys, 'executable', '/usr/bin/python3')
    runner.add(('/usr/bin/unshare', '--net', '--', '/usr/bin/python3', '-c', ''))
    runner.add(lambda argv: argv[:4] == ['/usr/bin/unshare', '--net', '--', '/bin/sh'],
               stdout=fixture_text('dryrun-nft-trace.save'))
    assert dryrun.check(Node(runner, TOOLS), [_rule('nft', trace_target())], False) is True
    argv, data = runner.calls[-1]
    assert argv[4:] == ['-c', dryrun.IPTABLES_READBACK, 'netdebug-dry-run', '/usr/sbin/iptables-nft-restore', '10',
                        '/usr/sbin/iptables-nft-save', 'raw']
    assert data.startswith('*raw\n-I PREROUTING 1 -p icmp -m comment --comment netdebug:dry-run:0 -j TRACE')
