# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nf_log's ttl: the node itself puts a run's logger bindings and sysctls back at expiry, no controller needed.

state=present with a ttl installs the expiry program (expiry_main.py and what it imports, see
_netfilter/program.py) under <state_dir>/lib/ and schedules it with the rules' scheduler (_rules/reaper.start):
a transient systemd timer where systemd is PID 1 and the module runs in the initial network namespace, else a
detached process, which stays in the module's namespace (bindings are per namespace). The run's record keeps
{'expiry': {'at': epoch, 'reaper': record}}. At expiry the program releases the run exactly as state=absent
would, if the record still names that expiry. state=absent cancels the pending reaper.
"""

from __future__ import annotations

import os
import sys

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import errors as kmod_errors
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import index as kmod_index
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import kmod as kmod_kmod
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import parsers as kmod_parsers
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter import errors as netfilter_errors
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter import program
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter import runner as netfilter_runner
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import catalog, expiry_main, manage
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import procnet, runstate, sysctl
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import errors as rules_errors
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import procs, reaper
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import state as rules_state
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.loggers import in_initial_netns
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.removal import stray_reapers
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import tag as rules_tag
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import check_ttl

# The program: expiry_main and everything it imports (static imports above, so Ansible ships them all).
PROGRAM_MODULES = (netfilter_errors, netfilter_runner, program, kmod_errors, kmod_parsers, kmod_index,
                   kmod_kmod, rules_errors, rules_state, rules_tag, catalog, procnet, runstate, sysctl, manage, expiry_main)
LAUNCHER = 'nflog_expire.py'
UNIT_PREFIX = 'netdebug-nflog-'


def unit_name(run_id, netns, at):
    return '%s%s-%d-%d' % (UNIT_PREFIX, run_id, netns, at)  # run ids are unit-name safe (_rules.tag.check_run_id)


class Expiry:
    """Schedules and cancels the restore at the ttl, for NfLogManager (module side only)."""

    def __init__(self, runner, clock=None):
        tools = dict((name, runner.find(name)) for name in ('systemd-run', 'systemctl'))
        self.node = Node(runner, dict((k, v) for k, v in tools.items() if v))
        if clock is not None:
            self.node.clock = clock

    def plan(self, ttl):
        """The expiry epoch for ttl (validated: 1 s to a day), or None without a ttl."""
        if ttl is None:
            return None
        return self.node.now() + check_ttl(ttl)

    def pending(self, record):
        """record's expiry when its reaper is still waiting, else None."""
        current = (record or {}).get('expiry')
        if current and current['at'] > self.node.now() and reaper.active(self.node, current['reaper']):
            return current
        return None

    def arm(self, record, run_id, netns, state_dir, at):
        """(expiry, new): the run's pending expiry if it has one (a later call keeps the first expiry, as the rules
        do), else a reaper scheduled for at."""
        current = self.pending(record)
        if current or at is None:
            return current, False
        launcher = program.install(os.path.join(state_dir, 'lib'), program.module_files(PROGRAM_MODULES), LAUNCHER,
                                   expiry_main.__name__, 'puts back the nf_log changes of a run at its expiry')
        argv = expiry_main.argv(sys.executable, launcher, state_dir, run_id, netns, at)
        # systemd runs the timer's service in the initial namespace: elsewhere the process must stay in ours.
        use_systemd = reaper.systemd_running() and bool(self.node.tool('systemd-run')) and in_initial_netns()
        record = reaper.start(self.node, argv, unit_name(run_id, netns, at),
                              'netdebug: put back the nf_log changes of run %s' % run_id, at, use_systemd)
        return {'at': at, 'reaper': record}, True

    def disarm(self, expiry):
        """Cancel expiry's reaper; returns its record when one was waiting."""
        if expiry and reaper.active(self.node, expiry['reaper']) and reaper.cancel(self.node, expiry['reaper']):
            return expiry['reaper']
        return None

    def strays(self, state_dir, netns, skip_pids=(), check=False):
        """Stop (or, with check, list) waiting reaper processes for netns that no record names (run_id '*')."""
        found = []
        for record in stray_reapers(self.node, os.path.join(state_dir, 'lib'), LAUNCHER, ('--netns', str(netns))):
            if record['pid'] not in skip_pids and (check or procs.stop_process(record['pid'], record['start'])):
                found.append(dict(record, kind='process', run_id='*'))
        return found
