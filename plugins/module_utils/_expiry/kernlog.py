# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsyslog_kernlog's ttl: a drop-in installed for one capture goes by the node itself if nobody removes it.

state=present with a ttl, when the call creates the drop-in (or it is already under an expiry), records it
(kernlog_state) and schedules the expiry program with the rules' scheduler (_expiry/schedule.start): a transient
systemd timer where systemd runs, else a detached process. A later call with a ttl moves the expiry later, never
earlier (two captures share one drop-in); a call without a ttl keeps the drop-in for good (the prepare playbook,
netdebug_kernlog_keep); state=absent cancels the expiry. A drop-in that was there before, without an expiry, is
never put under one: it is not ours to take away.
"""

from __future__ import annotations

import os
import sys

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import errors as core_errors, program
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import kernlog_main, kernlog_state, schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import (
    errors as rules_errors, state as rules_state,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import check_ttl

# The program: kernlog_main and everything it imports (static imports above, so Ansible ships them all).
PROGRAM_MODULES = (core_errors, program, rules_errors, rules_state, kernlog_state, kernlog_main)
LAUNCHER = 'kernlog_expire.py'
UNIT_PREFIX = 'netdebug-kernlog-'
INIT_SCRIPT = '/etc/init.d/rsyslog'
LOCK_TIMEOUT = 30.0


def restart_command(systemctl, systemd_running, init_script_exists):
    """How the expiry restarts rsyslog on this node (the kernlog role's choice: systemd, else the init script)."""
    if systemd_running and systemctl:
        return [systemctl, 'try-restart', 'rsyslog.service']
    if init_script_exists:
        return [INIT_SCRIPT, 'restart']
    return None


def unit_name(conf_path, at):
    return '%s%s-%d' % (UNIT_PREFIX, kernlog_state.digest(conf_path)[:16], int(at))


class DropinExpiry:
    """Arms, moves and cancels a drop-in's expiry, for KernlogManager (module side only)."""

    def __init__(self, runner, state_dir, clock=None):
        self.node = schedule.Host(runner, clock)
        self.state_dir = state_dir

    def _pending(self, record):
        expiry = (record or {}).get('expiry')
        # An expiry whose time has come may still wait (for the lock, or while a run lasts): it is pending until its
        # program has ended, and a call now moves it rather than dropping its record (the drop-in would stay).
        return bool(expiry) and schedule.active(self.node, expiry['reaper'])

    def planned(self, conf_path, ttl, created):
        """What update() would make the expiry (check mode): an epoch, or None."""
        record = kernlog_state.load(self.state_dir, conf_path)
        pending = self._pending(record)
        if ttl is None or not (created or pending):
            return None
        at = self.node.now() + check_ttl(ttl)
        return max(at, record['expiry']['at']) if pending else at

    def update(self, conf_path, ttl, created, texts, log_file, log_existed):
        """Before the drop-in is written (so that a module killed half-way still leaves an expiry behind): arm,
        move or cancel conf_path's expiry. texts: (drop-in, logrotate_path, logrotate text or None); log_file: the
        drop-in's log file, removed with it when the call creates the drop-in and the log file did not exist
        (log_existed false). Returns the expiry epoch, or None."""
        if (ttl is None or not created) and not os.path.isdir(self.state_dir):
            return None  # no record here: nothing to arm, move or cancel
        with rules_state.NodeLock(self.state_dir, LOCK_TIMEOUT):
            if not created and not os.path.exists(conf_path):
                # the drop-in's expiry removed it (and the log file it made) since the caller read it: this call
                # creates it again, so it is ours to expire
                created, log_existed = True, os.path.exists(log_file)
            log_path = log_file if created and not log_existed else None
            record = kernlog_state.load(self.state_dir, conf_path)
            pending = self._pending(record)
            if ttl is None or not (created or pending):
                self._drop(record)  # kept for good, or a stale record of a drop-in that went
                return None
            at = self.node.now() + check_ttl(ttl)
            replaced = None
            if pending and record['expiry']['at'] >= at:
                at, scheduled = record['expiry']['at'], record['expiry']['reaper']
                log_path = record.get('log_path')
            else:
                if pending:
                    replaced, log_path = record['expiry']['reaper'], record.get('log_path')
                scheduled = self._schedule(conf_path, at)
            conf_text, logrotate_path, logrotate_text = texts
            restart = restart_command(self.node.tool('systemctl'), schedule.systemd_running(),
                                      os.path.exists(INIT_SCRIPT))
            kernlog_state.save(self.state_dir, kernlog_state.new_record(
                conf_path, conf_text, logrotate_path, logrotate_text, log_path, restart, at, scheduled))
            if replaced:  # only now that the new one is armed (the old one would find its expiry moved anyway)
                schedule.cancel(self.node, replaced)
            return at

    def release(self, conf_path, check_mode=False):
        """Cancel conf_path's expiry (state=absent); True when there was a record."""
        if not os.path.isdir(self.state_dir):
            return False
        if check_mode:
            return kernlog_state.load(self.state_dir, conf_path) is not None
        with rules_state.NodeLock(self.state_dir, LOCK_TIMEOUT, create=False):
            record = kernlog_state.load(self.state_dir, conf_path)
            self._drop(record)
            return record is not None

    def _drop(self, record):
        """Cancel the record's expiry and delete it; the directory goes with the last record. Lock held."""
        if record:
            expiry = record.get('expiry') or {}
            if expiry.get('reaper') and schedule.active(self.node, expiry['reaper']):
                schedule.cancel(self.node, expiry['reaper'])
            kernlog_state.delete(self.state_dir, record['conf_path'])
        if os.path.isdir(self.state_dir):
            kernlog_state.tidy(self.state_dir)

    def _schedule(self, conf_path, at):
        launcher = program.install(program.lib_dir(self.state_dir), program.module_files(PROGRAM_MODULES),
                                   LAUNCHER, kernlog_main.__name__, 'removes a capture\'s rsyslog drop-in at its expiry')
        argv = kernlog_main.argv(sys.executable, launcher, self.state_dir, conf_path, at)
        return schedule.start(self.node, argv, unit_name(conf_path, at),
                              'netdebug: remove the rsyslog drop-in %s' % conf_path, at)
