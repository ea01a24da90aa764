# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entry point of the on-node reaper program (installed under <root>/lib/<digest>/ by install.py).

    reap.py --root ROOT --run-id RUN --at EPOCH [--detached]

Sleeps until EPOCH, then removes RUN's rules whose tag expired and stops its expired monitors.
With --detached it first forks into the background and prints the daemon's pid. Stdlib and the installed
copies of the shared errors, runner and program only.
"""

from __future__ import annotations

import os
import sys
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import program
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ProcessModule, ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.removal import remove_run, settle
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import (
    NodeLock, load_run, log, run_dir, save_run,
)

LOCK_TIMEOUT = 60.0
ATTEMPTS = 5


def reap(root, run_id, at):
    run = load_run(root, run_id)
    lock_wait = run.get('lock_wait', 10)
    # The shared runner on plain subprocess; iptables waits up to lock_wait for the lock, so it gets a minute more.
    runner = ToolRunner(ProcessModule(timeout=lock_wait + 60), lock_wait=lock_wait)
    node = Node(runner, run.get('tools', {}), root=root, lock_wait=lock_wait)
    for attempt in range(ATTEMPTS):
        try:
            with NodeLock(root, LOCK_TIMEOUT):
                result = remove_run(node, run_id, expired_before=max(at, node.now()), keep_pid=os.getpid())
                run = load_run(root, run_id)
                run['reapers'] = [r for r in run['reapers'] if not (r['kind'] == 'process' and r.get('pid') == os.getpid())
                                  and not (r['kind'] == 'systemd' and r.get('expires_at') == at)]
                if os.path.isdir(run_dir(root, run_id)):
                    save_run(root, run)
                said = ('reaper for expiry %d: removed %d rule(s), stopped %d monitor(s)%s'
                        % (at, len(result['rules']), len(result['monitors']),
                           ', dropped ' + ', '.join(result['tables']) if result['tables'] else ''))
                log(root, run_id, said)
                # The run's log goes with its directory below; under systemd this line stays in the journal.
                sys.stderr.write('netdebug run %s: %s\n' % (run_id, said))
                # The expiry has come: nobody collects this run's files any more.
                settle(node, [run_id], force=True, keep_pid=os.getpid())
            return 0
        except RulesError as exc:
            log(root, run_id, 'reaper attempt %d failed: %s %s' % (attempt + 1, exc.msg, exc.stderr or ''))
            time.sleep(2)
    return 1


def main(argv=None):
    args = program.expiry_options('netdebug-reaper', {'root': str, 'run_id': str}, argv)
    log(args.root, args.run_id, 'reaper pid %d waiting for expiry %d' % (os.getpid(), args.at))
    program.sleep_until(args.at)
    return reap(args.root, args.run_id, args.at)
