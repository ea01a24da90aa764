# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""remove_run against a fake iptables-nft that holds the recorded ruleset and really deletes."""

from __future__ import annotations

import shlex

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import removal, state
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner


class FakeIptables:
    """iptables-nft -S / -D / -C over a table held in memory (only raw is populated): an answer for FakeRunner."""

    def __init__(self, raw_s):
        self.raw = [line for line in raw_s.splitlines() if line.startswith('-A ')]
        self.calls = []

    def __call__(self, argv, data):  # pylint: disable=unused-argument
        self.calls.append(argv)
        table = argv[argv.index('-t') + 1]
        rules = self.raw if table == 'raw' else []
        op = argv[argv.index('-t') + 2:]
        if op[0] == '-S':
            chain = op[1] if len(op) > 1 else None
            lines = [l for l in rules if chain is None or l.split()[1] == chain]
            return 0, '\n'.join(lines) + '\n', ''
        spec = op[2:]
        match = [l for l in rules if l.split()[1] == op[1] and shlex.split(l)[2:] == spec]
        if op[0] == '-D' and match:
            rules.remove(match[0])
            return 0, '', ''
        if op[0] == '-C':
            return 0 if match else 1, '', ''
        return 1, '', 'iptables: Bad rule (does a matching rule exist in that chain?).'


def test_reaper_pass_removes_recorded_chains_first_then_scans(tmp_path, fixture_text):
    fake = FakeIptables(fixture_text('nft-ipv4-raw.S'))
    node = Node(FakeRunner(fake), {'iptables-nft': '/usr/sbin/iptables-nft'}, root=str(tmp_path))
    run = state.empty_run('run-1')
    run['rules'] = [{'backend': 'nft', 'family': 'ipv4', 'table': 'raw', 'chain': 'PREROUTING', 'line': 'x',
                     'expires_at': 1790000000}]
    state.save_run(str(tmp_path), run)
    result = removal.remove_run(node, 'run-1', expired_before=1790000000)
    # 3 in PREROUTING, 3 in OUTPUT: the rule with a second comment beside our tag is ours too, and not verified
    assert len(result['rules']) == 6
    assert [r['verified'] for r in result['rules']].count(False) == 1
    ops = [c[c.index('-t') + 2] + ' ' + (c[c.index('-t') + 3] if len(c) > c.index('-t') + 3 else '')
           for c in fake.calls]
    first_delete = ops.index(next(o for o in ops if o.startswith('-D')))
    assert ops[:first_delete] == ['-S PREROUTING']  # one listing, then the deletions
    assert not [l for l in fake.raw if 'netdebug:run-1:' in l]  # the one with a second comment went too
    assert 'netdebug:run.2_x:' in '\n'.join(fake.raw)  # another run's rule stays
    log = (tmp_path / 'runs' / 'run-1' / 'reaper.log').read_text()
    assert log.count('removed nft raw') == 6


def test_not_yet_expired_rules_stay(tmp_path, fixture_text):
    fake = FakeIptables(fixture_text('nft-ipv4-raw.S'))
    node = Node(FakeRunner(fake), {'iptables-nft': '/usr/sbin/iptables-nft'}, root=str(tmp_path))
    assert removal.remove_run(node, 'run-1', expired_before=1789999999)['rules'] == []
    assert not [c for c in fake.calls if '-D' in c]


def test_check_mode_lists_without_deleting(tmp_path, fixture_text):
    fake = FakeIptables(fixture_text('nft-ipv4-raw.S'))
    node = Node(FakeRunner(fake), {'iptables-nft': '/usr/sbin/iptables-nft'}, root=str(tmp_path))
    result = removal.remove_run(node, '*', check=True)
    assert len(result['rules']) == 7 and not [c for c in fake.calls if '-D' in c]
