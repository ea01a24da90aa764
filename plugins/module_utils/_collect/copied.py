# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""capture_pack's remove_copied: once the archive holds them, drop the copy sources netdebug wrote under /run.

The trace run's capture files and recorded rulesets sit in the run state directory on tmpfs (RAM) and nothing
else removes them. Only what resolves strictly inside that directory goes, and never a run's own state (its
directory, run.json, reaper.log), which the reapers still read. A finished run whose files were all collected then
goes as a whole, with its waiting reaper (and the state root with the last run: _rules/removal.settle). Stdlib only.
"""

from __future__ import annotations

import os
import shutil

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.removal import settle
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import state

RUNS_DIR = state.runs_dir(state.DEFAULT_ROOT)
LOCK_TIMEOUT = 30


def _inside(real, base):
    return real.startswith(base + os.sep)


def _refusal(real):
    """Why real (a resolved source) must stay, or None when it may be removed."""
    base = os.path.realpath(RUNS_DIR)
    if not _inside(real, base):
        return 'is not under %s' % RUNS_DIR
    parts = os.path.relpath(real, base).split(os.sep)
    if len(parts) < 2 or (len(parts) == 2 and parts[1] in state.OWN_FILES):
        return "is a run's own state (its directory, run.json or reaper.log)"
    return None


def _remove(real):
    if os.path.isdir(real):
        shutil.rmtree(real)
    else:
        os.unlink(real)


def remove_sources(copies, check_mode, warnings):
    """Remove the copies' sources that lie inside the runs directory; returns the real paths removed, sorted.

    A source outside it, or a run's own state, stays with a warning; so does one that cannot be removed. A
    source that no longer exists was already warned about by the copy. In check mode nothing is removed and the
    list says what would be (a source inside one already removed is not listed again)."""
    removed = set()
    for item in copies:
        src = item['src']
        if not os.path.exists(src):
            continue
        real = os.path.realpath(src)
        if any(real == done or _inside(real, done) for done in removed):
            continue
        why = _refusal(real)
        if why:
            warnings.append('remove_copied: %s %s; left in place' % (src, why))
            continue
        if check_mode:
            removed.add(real)
            continue
        try:
            _remove(real)
        except OSError as exc:
            warnings.append('remove_copied: cannot remove %s: %s' % (real, exc))
            continue
        removed.add(real)
    return sorted(removed)


def settle_runs(removed, runner, warnings):
    """After remove_sources: the runs whose directories held the removed paths go as a whole once finished and
    holding nothing more to collect, with their waiting reapers (they were kept for these files). Returns the run
    ids that went; a problem is a warning (the archive is made)."""
    base = os.path.realpath(RUNS_DIR)
    ids = sorted(set(os.path.relpath(path, base).split(os.sep)[0] for path in removed if _inside(path, base)))
    if not ids:
        return []
    root = os.path.dirname(RUNS_DIR)
    gone = []
    try:
        with state.NodeLock(root, LOCK_TIMEOUT):
            done = [run_id for run_id in ids if not state.collectable(root, run_id)]  # the rest wait for more files
            if done:
                # one settle, so that the root is tidied once, after every run it may take
                gone = settle(Node(runner, state.load_run(root, done[0]).get('tools', {}), root=root), done)
    except RulesError as exc:
        warnings.append('remove_copied: the run directories stay: %s' % exc.msg)
    return gone
