# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""record_rulesets, monitors_died and monitors_restarted through engine.present / engine.absent.

The node is the real Node, IptablesBackend and ToolRunner over a fake AnsibleModule whose legacy iptables keeps
chains in memory and prints them with -S and the save commands, so the snapshot before, the listings and the
snapshot after all come from the same state the rules go into. The reaper, the program installer and the
kernel dry run are replaced (they start processes or need namespaces).
"""

from __future__ import annotations

import json
import os
import shlex
import stat

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import FAMILIES
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.info import gather
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import (
    duration, module_api, record, removal, state,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.desired import check_position
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.engine import Request, absent, present
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import restore_line
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.progress import progress
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.spec import build_match
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import make_tag
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.target import trace_target
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeModule, SBIN

NOW = 1700000000
NFT_TEXT = 'table inet filter { # handle 1\n\tchain input { # handle 1\n\t\ttype filter hook input priority filter; ' \
           'policy accept;\n\t}\n}\n'
FOREIGN = ['-s', '192.0.2.1/32', '-j', 'ACCEPT']


class LegacyNode:
    """run_command of a legacy node: iptables(-legacy) -S/-I/-C/-D on chains in memory, the -legacy-save commands
    printing them, ``nft -a list ruleset``; tools named in `failing` exit 1."""

    def __init__(self, failing=()):
        self.chains = {('ipv4', 'raw', 'PREROUTING'): [list(FOREIGN)], ('ipv4', 'raw', 'OUTPUT'): []}
        self.failing = set(failing)
        self.packets = {}  # restore line of a rule -> its packet counter (-v -S prints it as iptables does)

    def save(self, family):
        tables = sorted(set(t for f, t, _c in self.chains if f == family))
        text = ''
        for table in tables:
            chains = sorted(c for f, t, c in self.chains if (f, t) == (family, table))
            text += '*%s\n' % table + ''.join(':%s ACCEPT [0:0]\n' % c for c in chains)
            text += ''.join(restore_line(['-A', c] + r) + '\n' for c in chains for r in self.chains[(family, table, c)])
            text += 'COMMIT\n'
        return text

    def __call__(self, argv, data):
        name = os.path.basename(argv[0])
        if name in self.failing:
            return 1, '', '%s: broken\n' % name
        family = 'ipv6' if name.startswith('ip6') else 'ipv4'
        if argv[1:] == ['-V']:
            return 0, '%s v1.8.9 (legacy)\n' % name, ''
        if name.endswith('-save'):
            return 0, self.save(family), ''
        if name == 'nft':
            assert argv[1:] == ['-a', 'list', 'ruleset'], argv
            return 0, NFT_TEXT, ''
        assert argv[1:4] == ['-w', '10', '-t'], argv
        verbose = argv[5] == '-v'
        argv = argv[:5] + argv[6:] if verbose else argv
        table, op, chain, args = argv[4], argv[5], (argv[6:7] or [None])[0], argv[7:]
        if op == '-S':
            chains = [c for f, t, c in sorted(self.chains) if (f, t) == (family, table) and chain in (None, c)]
            return 0, ''.join(['-P %s ACCEPT\n' % c for c in chains] + [
                self.listed(c, r, verbose) + '\n' for c in chains for r in self.chains[(family, table, c)]]), ''
        rules = self.chains.setdefault((family, table, chain), [])
        if op == '-I':
            rules.insert(int(args[0]) - 1, args[1:])
            return 0, '', ''
        if args not in rules:
            return 1, '', 'iptables: Bad rule (does a matching rule exist in that chain?).\n'
        if op == '-D':
            rules.remove(args)
        return 0, '', ''

    def listed(self, chain, rule, verbose):
        line = restore_line(['-A', chain] + rule)
        if not verbose:
            return line
        jump = rule.index('-j') if '-j' in rule else len(rule)  # iptables prints the counters before the target
        return restore_line(['-A', chain] + rule[:jump] + ['-c', str(self.packets.get(line, 0)), '0'] + rule[jump:])


TOOLS = ('iptables', 'ip6tables', 'iptables-legacy', 'ip6tables-legacy', 'iptables-legacy-save',
         'ip6tables-legacy-save', 'nft')


def make_node(tmp_path, fake, tools=TOOLS):
    paths = dict((name, SBIN + name) for name in tools)
    runner = ToolRunner(FakeModule(paths, fake))
    node_tools = dict((k, v) for k, v in paths.items() if k in ('iptables-legacy', 'ip6tables-legacy'))
    return Node(runner, node_tools, root=str(tmp_path / 'state'), clock=lambda: NOW)


def request(record_rulesets=True):
    match = build_match({'protocol': 'icmp'}, 'ipv4', 'legacy')
    return Request('trace', 'run-1', 300, 'legacy', match, trace_target(), [('raw', 'PREROUTING')],
                   check_position('top'), record=record_rulesets)


def files_under(path):
    found = {}
    for top, _dirs, names in os.walk(str(path)):
        for name in names:
            full = os.path.join(top, name)
            found[os.path.relpath(full, str(path))] = full
    return found


def test_present_writes_before_once_and_the_listings_with_our_rule(patched, tmp_path):
    fake = LegacyNode()
    node = make_node(tmp_path, fake)
    expected_before = gather(node.runner, FAMILIES, want_snapshot=True, include_nft=True)[0]['snapshot']
    result, warnings = present(node, request())
    base = str(tmp_path / 'state' / 'runs' / 'run-1' / 'ruleset')
    assert result['record_dir'] == base and not [w for w in warnings if 'record_rulesets' in w]
    # ip6tables-legacy-save printed nothing: an empty listing (as the role's one-liner kept it), no before/ text
    # the fake kernel's legacy table list (every table in use, see the patched fixture) is kept too
    assert result['recorded'] == ['before.json', 'before/iptables-legacy.save', 'before/nft.ruleset',
                                  'ip6_tables_names', 'ip6tables-legacy.save', 'ip_tables_names',
                                  'iptables-legacy.save', 'nft.ruleset']
    assert sorted(files_under(base)) == result['recorded']
    with open(os.path.join(base, 'ip_tables_names')) as handle:
        assert handle.read() == 'raw\nfilter\nmangle\nnat\nsecurity'
    with open(os.path.join(base, 'before.json')) as handle:
        text = handle.read()
    assert text == json.dumps(expected_before, indent=2, sort_keys=True) + '\n'
    assert 'netdebug:' not in text and '192.0.2.1' in text
    with open(os.path.join(base, 'before', 'iptables-legacy.save')) as handle:
        assert handle.read() == expected_before['legacy']['ipv4']
    with open(os.path.join(base, 'iptables-legacy.save')) as handle:
        listing = handle.read()
    assert listing == fake.save('ipv4').rstrip('\n')
    assert '-A PREROUTING -p icmp -m comment --comment netdebug:run-1:%d -j TRACE\n-A PREROUTING -s 192.0.2.1' % (
        NOW + 300) in listing  # ours, on top
    with open(os.path.join(base, 'nft.ruleset')) as handle:
        assert handle.read() == NFT_TEXT.rstrip('\n')
    for path in files_under(base).values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(base, 'before')).st_mode) == 0o700

    # A re-run adds nothing: the listings are taken again, the snapshot before (without our rule) stays.
    result, _warnings = present(node, request())
    assert not result['changed']
    assert result['recorded'] == ['ip6_tables_names', 'ip6tables-legacy.save', 'ip_tables_names',
                                  'iptables-legacy.save', 'nft.ruleset']
    with open(os.path.join(base, 'before.json')) as handle:
        assert handle.read() == text


# (what happens during the window, ruleset_restored)
ABSENT_CASES = [
    ('nothing', True),
    ('foreign rule added', False),
    ('before.json lost', None),
]


@pytest.mark.parametrize('during, restored', ABSENT_CASES)
def test_absent_writes_after_and_compares(patched, tmp_path, during, restored):
    fake = LegacyNode()
    node = make_node(tmp_path, fake)
    present(node, request())
    base = str(tmp_path / 'state' / 'runs' / 'run-1' / 'ruleset')
    if during == 'foreign rule added':
        fake.chains[('ipv4', 'raw', 'OUTPUT')].append(['-d', '192.0.2.9/32', '-j', 'ACCEPT'])
    elif during == 'before.json lost':
        os.unlink(os.path.join(base, 'before.json'))
    result, warnings = absent(node, 'run-1', record_rulesets=True)
    assert warnings == []
    assert len(result['removed']['rules']) == 1 and result['monitors_died'] == []
    assert result['ruleset_restored'] is restored
    assert result['record_dir'] == base
    assert result['recorded'] == ['after.json', 'after/iptables-legacy.save', 'after/nft.ruleset']
    with open(os.path.join(base, 'after.json')) as handle:
        after = json.load(handle)
    assert 'netdebug:' not in after['legacy']['ipv4']
    assert ('192.0.2.9' in after['legacy']['ipv4']) == (during == 'foreign rule added')


def test_check_mode_writes_nothing(patched, tmp_path):
    fake = LegacyNode()
    node = make_node(tmp_path, fake)
    result, _warnings = present(node, request(), check_mode=True)
    base = str(tmp_path / 'state' / 'runs' / 'run-1' / 'ruleset')
    assert result['changed'] and result['record_dir'] == base and result['recorded'] == []
    present(node, request())
    before = files_under(base)
    result, _warnings = absent(node, 'run-1', check_mode=True, record_rulesets=True)
    assert result['record_dir'] == base and result['recorded'] == [] and result['ruleset_restored'] is None
    assert files_under(base) == before and len(result['removed']['rules']) == 1


def test_without_record_rulesets_nothing_is_written(patched, tmp_path):
    node = make_node(tmp_path, LegacyNode())
    result, _warnings = present(node, request(record_rulesets=False))
    assert result['record_dir'] is None and result['recorded'] == []
    result, _warnings = absent(node, 'run-1')
    assert result['record_dir'] is None and result['ruleset_restored'] is None
    assert not os.path.exists(str(tmp_path / 'state' / 'runs' / 'run-1' / 'ruleset'))


# (tools on the node, tools that fail, listings expected)
LISTING_CASES = [
    (TOOLS, (), ['ip6tables-legacy.save', 'iptables-legacy.save', 'nft.ruleset']),
    (TOOLS, ('nft',), ['ip6tables-legacy.save', 'iptables-legacy.save']),
    (TOOLS, ('iptables-legacy-save',), ['ip6tables-legacy.save', 'nft.ruleset']),
    (TOOLS + ('iptables-nft-save', 'ip6tables-nft-save'), ('ip6tables-nft-save',),
     ['ip6tables-legacy.save', 'iptables-legacy.save', 'iptables-nft.save', 'nft.ruleset']),
    (('iptables-legacy-save',), (), ['iptables-legacy.save']),
]


@pytest.mark.parametrize('tools, failing, expected', LISTING_CASES)
def test_listings_leave_out_missing_and_failing_tools(tmp_path, tools, failing, expected):
    node = make_node(tmp_path, LegacyNode(failing), tools)
    base = record.record_dir(node.root, 'run-1')
    os.makedirs(base)
    with open(os.path.join(base, 'nft.ruleset'), 'w') as handle:
        handle.write('from an earlier call')
    assert record.record_listings(node, 'run-1') == expected
    assert sorted(files_under(base)) == expected  # an earlier listing that failed this time is gone


def test_record_needs_one_run(tmp_path):
    params = dict((k, v.get('default')) for k, v in module_api.TRACE_ARGS.items())
    params.update(state='absent', run_id='*', record_rulesets=True)
    with pytest.raises(ParamError, match=r"^record_rulesets: records one run: give its run_id instead of '\*'"):
        module_api.run('trace', make_node(tmp_path, LegacyNode()), params)


# monitors_died: (monitor record changes, running, reported as died)
DIED_CASES = [
    ({}, False, True),  # ended while its rules still had time to run
    ({}, True, False),  # stopped by this call
    ({'expires_at': NOW - 1}, False, False),  # ended at its expiry (timeout)
    ({'stopped': True}, False, False),  # replaced earlier by a longer one
]


@pytest.mark.parametrize('change, running, died', DIED_CASES)
def test_monitor_that_ended_early_is_reported(monkeypatch, tmp_path, change, running, died):
    node = make_node(tmp_path, LegacyNode(), tools=())
    path = state.run_dir(node.root, 'run-1')
    capture = os.path.join(path, 'nft.trace')
    run = state.empty_run('run-1')
    run['monitors'] = [dict({'backend': 'nft', 'pid': 999, 'start': 5, 'argv': [], 'capture_file': capture,
                             'started_at': NOW - 10, 'expires_at': NOW + 100}, **change)]
    state.save_run(node.root, run)
    with open(os.path.join(path, 'nft.stderr'), 'w') as handle:
        handle.write('netlink error: No buffer space available\n')
    with open(capture, 'w') as handle:  # what the monitor wrote: it keeps the run's directory for collection
        handle.write('trace id 1 ip filter input packet: iif "eth0"\n')
    monkeypatch.setattr(removal.monitor, 'stop', lambda record: running)
    result, warnings = absent(node, 'run-1')
    if died:
        assert result['monitors_died'] == [{'run_id': 'run-1', 'backend': 'nft', 'pid': 999, 'capture_file': capture,
                                            'bytes': 46, 'max_bytes': None, 'truncated': False}]
        assert warnings == ['the trace monitor of backend nft (pid 999) had ended before the stop although its '
                            'expiry had not come (it said: netlink error: No buffer space available): trace lines '
                            'after it ended are missing from ' + capture]
    else:
        assert result['monitors_died'] == [] and warnings == []
    assert result['monitors_restarted'] == []  # no restart line in its stderr
    assert result['removed']['monitors'] == ([{'run_id': 'run-1', 'backend': 'nft', 'pid': 999, 'capture_file': capture,
                                               'bytes': 46, 'max_bytes': None, 'truncated': False,
                                               'cpu_seconds': None}] if running else [])
    assert state.load_run(node.root, 'run-1')['monitors'][0]['stopped']


@pytest.mark.parametrize('running', [True, False])
def test_monitor_that_reached_its_cap_is_reported_and_its_file_cut_to_whole_lines(monkeypatch, tmp_path, running):
    node = make_node(tmp_path, LegacyNode(), tools=())
    path = state.run_dir(node.root, 'run-1')
    capture = os.path.join(path, 'nftables.trace')
    run = state.empty_run('run-1')
    run['monitors'] = [{'backend': 'nftables', 'pid': 999, 'start': 5, 'argv': [], 'capture_file': capture,
                        'started_at': NOW - 10, 'expires_at': NOW + 100, 'max_bytes': 65536}]
    state.save_run(node.root, run)
    line = 'trace id 1 inet netdebug pre packet: iif "eth0"\n'
    with open(capture, 'w') as handle:  # what RLIMIT_FSIZE leaves: exactly the cap, the last line cut
        handle.write((line * (65536 // len(line) + 1))[:65536])
    monkeypatch.setattr(removal.monitor, 'stop', lambda record: running)
    monkeypatch.setattr(removal.monitor, 'cpu_seconds', lambda record: 1.25 if running else None)
    result, warnings = absent(node, 'run-1')
    kept = 65536 // len(line) * len(line)
    full = {'run_id': 'run-1', 'backend': 'nftables', 'pid': 999, 'capture_file': capture, 'bytes': kept,
            'max_bytes': 65536, 'truncated': True}
    assert result['monitors_truncated'] == [dict(full, cpu_seconds=1.25) if running else full]
    assert ('the capture file of the trace monitor of backend nftables reached its cap of 65536 bytes '
            '(capture_max_bytes): trace lines after that are missing from ' + capture) in warnings
    assert len(warnings) == (1 if running else 2)  # one that ended early is reported as died as well
    with open(capture) as handle:
        assert handle.read() == line * (65536 // len(line))


def test_rate_limited_trace_counts_what_its_limit_held_back(patched, tmp_path):
    """A count rule goes in above the rate-limited TRACE rule; at the stop both counters are read before the
    rules go, and the result says how many matching packets were not traced."""
    fake = LegacyNode()
    node = make_node(tmp_path, fake)
    req = request(record_rulesets=False)._replace(target=trace_target('100/second', 200))
    result, _warnings = present(node, req)
    tag = make_tag('run-1', NOW + 300)
    count = ['-p', 'icmp', '-m', 'comment', '--comment', tag]
    trace = ['-p', 'icmp', '-m', 'limit', '--limit', '100/second', '--limit-burst', '200', '-m', 'comment',
             '--comment', tag, '-j', 'TRACE']
    assert fake.chains[('ipv4', 'raw', 'PREROUTING')] == [count, trace, FOREIGN]
    assert [r['rule'] for r in result['rules']] == [restore_line(['-A', 'PREROUTING'] + r) for r in (trace, count)]
    fake.packets = {restore_line(['-A', 'PREROUTING'] + count): 50000, restore_line(['-A', 'PREROUTING'] + trace): 3200}
    # the window's progress reads the same counters and changes nothing
    assert progress(node, 'run-1') == {'run_id': 'run-1', 'armed': True, 'matched': 50000, 'traced': 3200,
                                       'untraced': 46800}
    assert len(fake.chains[('ipv4', 'raw', 'PREROUTING')]) == 3
    gone, warnings = absent(node, 'run-1')
    assert progress(node, 'run-1') == {'run_id': 'run-1', 'armed': False, 'matched': None, 'traced': None,
                                       'untraced': None}
    assert gone['packets'] == {'matched': 50000, 'traced': 3200, 'untraced': 46800, 'rules': [
        {'run_id': 'run-1', 'backend': 'legacy', 'family': 'ipv4', 'table': 'raw', 'chain': 'PREROUTING',
         'matched': 50000, 'traced': 3200}]}
    assert len(gone['removed']['rules']) == 2 and all(r['verified'] for r in gone['removed']['rules'])
    assert warnings == [] and fake.chains[('ipv4', 'raw', 'PREROUTING')] == [FOREIGN]


def test_a_module_killed_after_its_first_change_leaves_a_scheduled_reaper(patched, monkeypatch, tmp_path):
    """The controller interrupted mid-start (its module killed: no rollback runs): the reaper was scheduled before
    the first file of the run or change of the node, so the node still cleans up at the expiry."""
    def killed(node, run_id):
        raise KeyboardInterrupt  # like the signal that ends the module while it records the rulesets

    monkeypatch.setattr(record, 'record_before', killed)
    with pytest.raises(KeyboardInterrupt):
        present(make_node(tmp_path, LegacyNode()), request())
    run = state.load_run(str(tmp_path / 'state'), 'run-1')
    assert [r['expires_at'] for r in run['reapers']] == [NOW + 300] and run['rules'] == []


def test_unlimited_trace_has_no_count_rule_and_no_packet_counts(patched, tmp_path):
    fake = LegacyNode()
    node = make_node(tmp_path, fake)
    present(node, request(record_rulesets=False))
    assert len(fake.chains[('ipv4', 'raw', 'PREROUTING')]) == 2
    assert progress(node, 'run-1') == {'run_id': 'run-1', 'armed': True, 'matched': None, 'traced': None,
                                       'untraced': None}
    assert absent(node, 'run-1')[0]['packets'] is None


RESTARTED = ('netlink error: No buffer space available\n'  # from the monitor before this one (offset)
             'error: No such file or directory\nnetdebug: xtables-monitor exited with status 1 at 17; restarted\n'
             'error: No such file or directory\nnetdebug: xtables-monitor exited with status 1 at 18; restarted\n')


@pytest.mark.parametrize('running', [True, False])
def test_monitor_that_was_restarted_is_reported(monkeypatch, tmp_path, running):
    node = make_node(tmp_path, LegacyNode(), tools=())
    path = state.run_dir(node.root, 'run-1')
    capture, errors = os.path.join(path, 'nft.trace'), os.path.join(path, 'nft.stderr')
    run = state.empty_run('run-1')
    run['monitors'] = [{'backend': 'nft', 'pid': 999, 'start': 5, 'argv': [], 'capture_file': capture,
                        'stderr_file': errors, 'stderr_offset': len(RESTARTED.splitlines(True)[0]),
                        'started_at': NOW - 10, 'expires_at': NOW + 100}]
    state.save_run(node.root, run)
    with open(errors, 'w') as handle:
        handle.write(RESTARTED)
    monkeypatch.setattr(removal.monitor, 'stop', lambda record: running)
    result, warnings = absent(node, 'run-1')
    assert result['monitors_restarted'] == [{'run_id': 'run-1', 'backend': 'nft', 'pid': 999, 'capture_file': capture,
                                             'restarts': 2, 'last_error': 'error: No such file or directory'}]
    restarted = ('the trace monitor of backend nft (pid 999) exited and was restarted 2 time(s) (last it said: '
                 'error: No such file or directory): trace lines in the gaps (a few milliseconds each) may be '
                 'missing from ' + capture)
    assert restarted in warnings and len(warnings) == (1 if running else 2)
    assert len(result['monitors_died']) == (0 if running else 1)
    assert 'monitors_restarted' not in result['removed']


def test_ruleset_file_names_are_those_of_the_bundle():
    """The collect role packs these names today (roles/trace/vars, roles/collect/vars): trace_report reads them."""
    assert [name for _tool, _args, name in record.LISTINGS] == [name for _k, _f, name in record.SNAPSHOT_FILES]
    assert shlex.join(['nft'] + record.LISTINGS[-1][1]) == 'nft -a list ruleset'


def test_duration_records_before_listings_and_after(patched, monkeypatch, tmp_path):
    def no_kmsg():
        raise OSError('not in a unit test')

    monkeypatch.setattr(duration, 'KmsgReader', no_kmsg)
    fake = LegacyNode()
    node = make_node(tmp_path, fake)
    slept = []
    result, warnings = duration.trace_for(node, request(), 5, sleep=slept.append)
    assert slept == [5] and any('cannot read the kernel log' in w for w in warnings)
    assert result['ruleset_restored'] is True and result['monitors_died'] == result['monitors_restarted'] == []
    assert result['record_dir'] == str(tmp_path / 'state' / 'runs' / 'run-1' / 'ruleset')
    assert result['recorded'] == ['after.json', 'after/iptables-legacy.save', 'after/nft.ruleset', 'before.json',
                                  'before/iptables-legacy.save', 'before/nft.ruleset', 'ip6_tables_names',
                                  'ip6tables-legacy.save', 'ip_tables_names', 'iptables-legacy.save', 'nft.ruleset']
    assert len(result['removed']['rules']) == 1 and fake.chains[('ipv4', 'raw', 'PREROUTING')] == [FOREIGN]


def test_a_run_id_used_again_after_a_finished_run_records_afresh(patched, tmp_path):
    """A capture run again with the same incident id: the first run's record describes another window."""
    fake = LegacyNode()
    node = make_node(tmp_path, fake)
    present(node, request())
    absent(node, 'run-1', record_rulesets=True)
    base = str(tmp_path / 'state' / 'runs' / 'run-1' / 'ruleset')
    fake.chains[('ipv4', 'raw', 'OUTPUT')].append(['-d', '192.0.2.9/32', '-j', 'ACCEPT'])  # the admin, in between

    result, _warnings = present(node, request())
    assert 'before.json' in result['recorded'] and not os.path.exists(os.path.join(base, 'after.json'))
    with open(os.path.join(base, 'before.json')) as handle:
        assert '192.0.2.9' in handle.read()
    result, _warnings = absent(node, 'run-1', record_rulesets=True)
    assert result['ruleset_restored'] is True


def test_listings_copy_the_legacy_table_names(tmp_path, no_host_legacy_tables):
    """The kernel's own list of legacy tables is kept even where no iptables-legacy-save could list them."""
    no_host_legacy_tables(ipv4='raw\nfilter\n')
    node = make_node(tmp_path, LegacyNode(), ('nft',))
    assert record.record_listings(node, 'run-1') == ['ip_tables_names', 'nft.ruleset']
    with open(os.path.join(record.record_dir(node.root, 'run-1'), 'ip_tables_names')) as handle:
        assert handle.read() == 'raw\nfilter'
