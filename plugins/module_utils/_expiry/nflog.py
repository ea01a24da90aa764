# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nf_log's ttl: the node itself puts a run's logger bindings and sysctls back at expiry, no controller needed.

state=present with a ttl installs the expiry program (nflog_main.py and what it imports, see
_core/program.py) under <state_dir>/lib/ and schedules it with the rules' scheduler (_expiry/schedule.start):
a transient systemd timer where systemd is PID 1 and the module runs in the initial network namespace, else a
detached process, which stays in the module's namespace (bindings are per namespace). The run's record keeps
{'expiry': {'at': epoch, 'reaper': record}}. At expiry the program releases the run exactly as state=absent
would, if the record still names that expiry. state=absent cancels the pending reaper.
"""

from __future__ import annotations

import sys

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import (
    errors as core_errors, procs, program, runner as core_runner,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import nflog_main, schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import (
    errors as kmod_errors, index as kmod_index, kmod as kmod_kmod, parsers as kmod_parsers,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import (
    catalog, manage, procnet, runstate, sysctl,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import (
    errors as rules_errors, state as rules_state, tag as rules_tag,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import check_ttl

# The program: nflog_main and everything it imports (static imports above, so Ansible ships them all).
PROGRAM_MODULES = (core_errors, core_runner, program, procs, kmod_errors, kmod_parsers, kmod_index,
                   kmod_kmod, rules_errors, rules_state, rules_tag, catalog, procnet, runstate, sysctl, manage, nflog_main)
LAUNCHER = 'nflog_expire.py'
UNIT_PREFIX = 'netdebug-nflog-'


def unit_name(run_id, netns, at):
    return '%s%s-%d-%d' % (UNIT_PREFIX, run_id, netns, at)  # run ids are unit-name safe (_rules.tag.check_run_id)


class Expiry:
    """Schedules and cancels the restore at the ttl, for NfLogManager (module side only)."""

    def __init__(self, runner, clock=None):
        self.node = schedule.Host(runner, clock)

    def plan(self, ttl):
        """The expiry epoch for ttl (validated: 1 s to a day), or None without a ttl."""
        if ttl is None:
            return None
        return self.node.now() + check_ttl(ttl)

    def pending(self, record):
        """record's expiry when its reaper is still waiting, else None."""
        current = (record or {}).get('expiry')
        if current and current['at'] > self.node.now() and schedule.active(self.node, current['reaper']):
            return current
        return None

    def arm(self, record, run_id, netns, state_dir, at):
        """(expiry, new): the run's pending expiry if it has one (a later call keeps the first expiry, as the rules
        do), else a reaper scheduled for at."""
        current = self.pending(record)
        if current or at is None:
            return current, False
        launcher = program.install(program.lib_dir(state_dir), program.module_files(PROGRAM_MODULES), LAUNCHER,
                                   nflog_main.__name__, 'puts back the nf_log changes of a run at its expiry')
        argv = nflog_main.argv(sys.executable, launcher, state_dir, run_id, netns, at)
        # systemd runs the timer's service in the initial namespace: elsewhere the process must stay in ours.
        use_systemd = schedule.systemd_running() and bool(self.node.tool('systemd-run')) and procs.in_initial_netns()
        record = schedule.start(self.node, argv, unit_name(run_id, netns, at),
                                'netdebug: put back the nf_log changes of run %s' % run_id, at, use_systemd)
        return {'at': at, 'reaper': record}, True

    def disarm(self, expiry):
        """Cancel expiry's reaper; returns its record when one was waiting."""
        if expiry and schedule.active(self.node, expiry['reaper']) and schedule.cancel(self.node, expiry['reaper']):
            return expiry['reaper']
        return None

    def strays(self, state_dir, netns, skip_pids=(), check=False):
        """Stop (or, with check, list) waiting reaper processes for netns that no record names (run_id '*')."""
        found = []
        for record in schedule.stray_reapers(state_dir, LAUNCHER, ('--netns', str(netns))):
            if record['pid'] not in skip_pids and (check or procs.stop_process(record['pid'], record['start'])):
                found.append(dict(record, kind='process', run_id='*'))
        return found
