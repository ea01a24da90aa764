# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``record_rulesets``: the run's rulesets written to <run dir>/ruleset/, under the names the capture bundle uses.

    before.json, before/<file>   the normalised snapshot (as netfilter_info snapshot=true returns it) before the
                                 run's first change; kept on later calls
    <file>                       the raw listings with our rules in place (nft with handles), for rule resolution
    after.json, after/<file>     the normalised snapshot after the removal; rewritten on every absent call

Callers hold the node lock. Files are written atomically, mode 0600.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import FAMILIES
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.errors import NetdebugError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.info import gather

from .errors import RulesError
from .state import read_json, run_dir, write_file
from .tag import TAG_PREFIX

RECORD_DIR = 'ruleset'
# Raw listings taken while the rules are in: (tool, arguments, file).
LISTINGS = (
    ('iptables-legacy-save', [], 'iptables-legacy.save'),
    ('ip6tables-legacy-save', [], 'ip6tables-legacy.save'),
    ('iptables-nft-save', [], 'iptables-nft.save'),
    ('ip6tables-nft-save', [], 'ip6tables-nft.save'),
    ('nft', ['-a', 'list', 'ruleset'], 'nft.ruleset'),
)
# Snapshot texts -> files: (snapshot key, family or None for the nftables text, file).
SNAPSHOT_FILES = (
    ('legacy', 'ipv4', 'iptables-legacy.save'),
    ('legacy', 'ipv6', 'ip6tables-legacy.save'),
    ('nf_tables', 'ipv4', 'iptables-nft.save'),
    ('nf_tables', 'ipv6', 'ip6tables-nft.save'),
    ('nftables', None, 'nft.ruleset'),
)
# What netdebug runs themselves put in a ruleset (see comparable()).
_TAGGED = re.compile(r'--comment "?%s:[A-Za-z0-9._-]+:[0-9]+"?(\s|$)' % TAG_PREFIX)
_XT_TABLES = ('raw', 'mangle', 'nat', 'filter', 'security')
_OURS_NFT = re.compile(r'^table (inet netdebug|(ip|ip6) (%s)) \{$' % '|'.join(_XT_TABLES))


def _save_without_runs(text):
    """Normalised save text minus rules tagged by any netdebug run and minus tables left with no rule and only
    ACCEPT policies (iptables-nft creates such tables for our rules; for a packet they are no table at all)."""
    out, block = [], []
    for line in (text or '').splitlines(True):
        if line.startswith('-A ') and _TAGGED.search(line):
            continue
        block.append(line)
        if line.strip() == 'COMMIT':
            body = [item.strip() for item in block[1:-1]]
            if any(not (item.startswith(':') and item.endswith(' ACCEPT')) for item in body):
                out.extend(block)
            block = []
    return ''.join(out + block)


def _nft_without_runs(text, xt_compared):
    """Normalised nft listing minus the inet netdebug table and, when the iptables-nft saves are compared
    already, the iptables-nft tables."""
    out, skip = [], False
    for line in (text or '').splitlines(True):
        if line.startswith('table '):
            match = _OURS_NFT.match(line.rstrip('\n'))
            skip = bool(match) and (match.group(1) == 'inet netdebug' or xt_compared)
        if not skip:
            out.append(line)
    return ''.join(out)


def comparable(snap):
    """A snapshot as ruleset_restored compares it: what any netdebug run added is left out, so that a capture
    running at the same time (its rules, the tables iptables-nft made for them) does not count as a change."""
    result = {}
    for key, value in snap.items():
        if key == 'nftables':
            result[key] = _nft_without_runs(value, 'nf_tables' in snap)
        else:
            result[key] = dict((family, _save_without_runs(text)) for family, text in value.items())
    return result


def record_dir(root, run_id):
    return os.path.join(run_dir(root, run_id), RECORD_DIR)


def take_snapshot(runner):
    """The snapshot netfilter_info returns with snapshot=true include_nft=true (nftables left out without nft)."""
    try:
        found, _warnings = gather(runner, FAMILIES, want_snapshot=True, include_nft=runner.find('nft') is not None)
    except NetdebugError as exc:
        raise RulesError('record_rulesets: cannot take the ruleset snapshot: %s' % exc.msg,
                         **dict((k, getattr(exc, k, None)) for k in ('cmd', 'rc', 'stdout', 'stderr'))) from None
    return found['snapshot']


def snapshot_files(snap):
    """{file: text} of a snapshot's non-empty texts."""
    files = {}
    for key, family, name in SNAPSHOT_FILES:
        text = snap.get(key) if family is None else (snap.get(key) or {}).get(family)
        if text:
            files[name] = text
    return files


def _write_set(base, sub, files):
    """Write files under base/sub and remove the known names this set no longer has; returns relative paths."""
    where = os.path.join(base, sub) if sub else base
    written = []
    for name in sorted(set(n for _k, _f, n in SNAPSHOT_FILES)):
        path = os.path.join(where, name)
        if name in files:
            write_file(path, files[name])
            written.append(os.path.join(sub, name) if sub else name)
        elif os.path.exists(path):
            os.unlink(path)  # a stale text of an earlier call would not describe this one
    return written


def _write_snapshot(base, when, snap):
    write_file(os.path.join(base, when + '.json'), json.dumps(snap, indent=2, sort_keys=True) + '\n')
    return [when + '.json'] + _write_set(base, when, snapshot_files(snap))


def record_before(node, run_id):
    """Write before.json and before/ unless an earlier call did; returns the relative paths written."""
    base = record_dir(node.root, run_id)
    if os.path.exists(os.path.join(base, 'before.json')):
        return []
    snap = take_snapshot(node.runner)
    return _io(lambda: _write_snapshot(base, 'before', snap))


def record_listings(node, run_id):
    """Write the raw listings; a missing or failing tool leaves its listing out. Returns the paths written."""
    texts = {}
    for tool, args, name in LISTINGS:
        path = node.runner.find(tool)
        if not path:
            continue
        try:
            result = node.runner.run([path] + args, check=False)
        except NetdebugError:
            continue
        if result.rc == 0:
            # Trailing newlines dropped, as the listings of the capture role's shell one-liner were.
            texts[name] = result.stdout.rstrip('\n')
    return _io(lambda: _write_set(record_dir(node.root, run_id), '', texts))


def record_after(node, run_id):
    """Write after.json and after/; returns (relative paths, ruleset_restored)."""
    base = record_dir(node.root, run_id)
    snap = take_snapshot(node.runner)
    before = read_json(os.path.join(base, 'before.json'), None)
    written = _io(lambda: _write_snapshot(base, 'after', snap))
    return written, None if before is None else comparable(before) == comparable(snap)


def _io(write):
    try:
        return write()
    except OSError as exc:
        raise RulesError('record_rulesets: cannot write %s: %s' % (exc.filename or 'the record', exc)) from None
