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
import shutil

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import layout
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import FAMILIES, XTABLES_TABLES
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.info import gather
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import legacy_table_names
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import read_json, run_dir, write_file
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import TAG_PREFIX, TAG_RE

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
# Tags of netdebug runs in a listing: a comment that is a whole tag (see tag.py), quoted or not.
_TAG_IN_TEXT = re.compile(r'(?:--comment|comment) (?:"(%s:[^"\s]+)"|(%s:\S+))(?=\s|$)' % (TAG_PREFIX, TAG_PREFIX))
_XT_NFT = re.compile(r'^table (ip|ip6) (%s) \{$' % '|'.join(XTABLES_TABLES))


def _run_of(line):
    """The run id of a line's netdebug tag, or None (a comment that only starts like a tag is not one)."""
    match = _TAG_IN_TEXT.search(line)
    if not match:
        return None
    tag = TAG_RE.match(match.group(1) or match.group(2))
    return tag.group(1) if tag else None


def _texts(snap):
    for key, value in snap.items():
        if isinstance(value, dict):
            for text in value.values():
                yield text or ''
        else:
            yield value or ''


def _other_runs(snap, run_id):
    return set(run for text in _texts(snap) for run in map(_run_of, text.splitlines()) if run and run != run_id)


def _save_without_others(text, run_id):
    """Normalised save text minus other runs' tagged rules and minus tables left with no rule and only ACCEPT
    policies (iptables-nft makes such tables for those rules; for a packet they are no table at all)."""
    out, block = [], []
    for line in (text or '').splitlines(True):
        if line.startswith('-A ') and _run_of(line) not in (None, run_id):
            continue
        block.append(line)
        if line.strip() == 'COMMIT':
            body = [item.strip() for item in block[1:-1]]
            if any(not (item.startswith(':') and item.endswith(' ACCEPT')) for item in body):
                out.extend(block)
            block = []
    return ''.join(out + block)


def _nft_without_others(text, run_id, xt_compared):
    """Normalised nft listing minus the inet netdebug table unless it holds a rule of this run, and, when the
    iptables-nft saves compare those already, the iptables-nft tables."""
    tables, current = [], None
    for line in (text or '').splitlines(True):
        if line.startswith('table '):
            current = [line]
            tables.append(current)
        elif current is not None:
            current.append(line)
        else:
            tables.append([line])
    out = []
    for table in tables:
        head = table[0].rstrip('\n')
        if head == 'table inet netdebug {' and not any(_run_of(line) == run_id for line in table):
            continue
        if xt_compared and _XT_NFT.match(head):
            continue
        out.extend(table)
    return ''.join(out)


def restored(before, after, run_id):
    """ruleset_restored: the snapshots are equal, or differ only by what other netdebug runs did meanwhile.

    Only when another run's tag shows in either snapshot are its rules, the empty ACCEPT-only tables iptables-nft
    made for them, the inet netdebug table (unless this run's rules are still in it) and, in the nft listing, the
    iptables-nft tables (their saves compare them) left out. This run's leftovers always count.
    """
    if before == after:
        return True
    if not (_other_runs(before, run_id) or _other_runs(after, run_id)):
        return False
    return _without_others(before, run_id) == _without_others(after, run_id)


def _without_others(snap, run_id):
    result = {}
    for key, value in snap.items():
        if key == 'nftables':
            result[key] = _nft_without_others(value, run_id, 'nf_tables' in snap)
        else:
            result[key] = dict((family, _save_without_others(text, run_id)) for family, text in value.items())
    return result


def record_dir(root, run_id):
    return os.path.join(run_dir(root, run_id), layout.RULESET_DIR)


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


def _write_set(base, sub, files, extra=()):
    """Write files under base/sub and remove the known names (the snapshot files and extra) this set no longer
    has; returns relative paths."""
    where = os.path.join(base, sub) if sub else base
    written = []
    for name in sorted(set(n for _k, _f, n in SNAPSHOT_FILES) | set(extra)):
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
        if not os.path.exists(os.path.join(base, 'after.json')):
            return []  # an earlier call of this run recorded it
        # A finished earlier run with the same id (a capture run again): its record describes another window.
        _io(lambda: shutil.rmtree(base))
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
    # The legacy tables the kernel holds in this namespace, even when no iptables-legacy is installed (an agent's
    # own binary in a container can make them): the report then knows their chains exist unseen.
    for family, name in sorted(layout.LEGACY_NAMES_FILES.items()):
        text = legacy_table_names(family)
        if text is not None:
            texts[name] = text.rstrip('\n')
    return _io(lambda: _write_set(record_dir(node.root, run_id), '', texts, layout.LEGACY_NAMES_FILES.values()))


def record_after(node, run_id):
    """Write after.json and after/; returns (relative paths, ruleset_restored)."""
    base = record_dir(node.root, run_id)
    snap = take_snapshot(node.runner)
    before = read_json(os.path.join(base, 'before.json'), None)
    written = _io(lambda: _write_snapshot(base, 'after', snap))
    return written, None if before is None else restored(before, snap, run_id)


def _io(write):
    try:
        return write()
    except OSError as exc:
        raise RulesError('record_rulesets: cannot write %s: %s' % (exc.filename or 'the record', exc)) from None
