# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rsyslog drop-in's expiry: its record on the node and what the node does when it comes.

    <state_dir>/dropin-<hash of conf_path>.json   what a call with a ttl installed, and when it goes
    <state_dir>/lib/<digest>/                     the expiry program (kernlog_main.py)
    <state_dir>/expiry.log                        one line per expiry
    <state_dir>/lock                              flock taken by the module and the program

At the expiry the drop-in and its logrotate file are removed if they still hold what the record says (a file
changed since is left alone and logged), rsyslog is restarted so that it stops writing the lines, and the log file
goes too when rsyslog created it for the drop-in. Then the record, and the directory with the last record.
Stdlib and the installed copies of _core.program, _rules.state and the errors they import only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._core import program
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import state as rules_state

FORMAT = 1
DEFAULT_STATE_DIR = os.path.join(rules_state.DEFAULT_ROOT, 'kernlog')
LOG = 'expiry.log'
PREFIX = 'dropin-'


def digest(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def file_digest(path):
    """sha256 of the file's bytes, or None when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def record_path(state_dir, conf_path):
    return os.path.join(state_dir, '%s%s.json' % (PREFIX, digest(conf_path)[:16]))


def new_record(conf_path, conf_text, logrotate_path, logrotate_text, log_path, restart, at, reaper):
    """log_path: the log file to remove as well (rsyslog created it for the drop-in), or None."""
    files = {conf_path: digest(conf_text)}
    if logrotate_text is not None:
        files[logrotate_path] = digest(logrotate_text)
    return {'format': FORMAT, 'conf_path': conf_path, 'files': files, 'log_path': log_path, 'restart': restart,
            'expiry': {'at': int(at), 'reaper': reaper}}


def load(state_dir, conf_path):
    try:
        with open(record_path(state_dir, conf_path)) as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable: treated as no expiry; the files stay for cleanup
    return record if record.get('format') == FORMAT else None


def save(state_dir, record):
    """Write the record atomically (a temporary file renamed in the same directory)."""
    rules_state.ensure_dir(state_dir)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=state_dir)
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(record, handle, sort_keys=True, indent=1)
        os.rename(tmp, record_path(state_dir, record['conf_path']))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def delete(state_dir, conf_path):
    try:
        os.unlink(record_path(state_dir, conf_path))
    except FileNotFoundError:
        pass


def tidy(state_dir):
    """With no record left, the directory goes (program, log, lock), then the state root if nothing else of
    ours is in it. Callers hold the lock. Best effort; True when the directory went."""
    try:
        if [name for name in os.listdir(state_dir) if name.startswith(PREFIX)]:
            return False
        shutil.rmtree(program.lib_dir(state_dir), ignore_errors=True)
        for name in (LOG, 'lock'):
            if os.path.exists(os.path.join(state_dir, name)):
                os.unlink(os.path.join(state_dir, name))
        os.rmdir(state_dir)
    except OSError:
        return False
    parent = os.path.dirname(os.path.abspath(state_dir))
    if parent == rules_state.DEFAULT_ROOT and os.path.isdir(parent):
        try:
            with rules_state.NodeLock(parent):
                rules_state.tidy(parent)
        except (rules_state.RulesError, OSError):
            pass
    return True


def log(state_dir, message):
    """One line in <state_dir>/expiry.log (best effort: never stops an expiry)."""
    program.log_line(os.path.join(state_dir, LOG), message)


def still_due(state_dir, conf_path, at):
    """True while conf_path's record still names the expiry at (not removed, kept or moved meanwhile)."""
    record = load(state_dir, conf_path)
    return bool(record) and record['expiry']['at'] == at


def expire(state_dir, conf_path, at, restart):
    """The expiry of conf_path's record for epoch at; restart(argv) restarts rsyslog and returns an error text or
    None. Returns the log line. Callers hold the lock."""
    record = load(state_dir, conf_path)
    head = 'drop-in %s expiry %d: ' % (conf_path, at)
    if not record or record['expiry']['at'] != at:
        return head + 'nothing to do (removed already, kept, or a later call moved the expiry)'
    removed, kept = [], []
    for path, wanted in sorted(record['files'].items()):
        current = file_digest(path)
        if current == wanted:
            os.unlink(path)
            removed.append(path)
        elif current is not None:
            kept.append(path)
    parts = ['removed ' + (', '.join(removed) or 'nothing')]
    if kept:
        parts.append('left alone (changed since): ' + ', '.join(kept))
    if conf_path in removed:
        error = restart(record['restart']) if record.get('restart') else 'no way to restart rsyslog was known'
        parts.append('rsyslog restarted' if error is None else 'rsyslog not restarted: %s' % error)
        # After the restart rsyslog no longer writes it (without one, rsyslog would go on writing into a removed
        # file); a file someone else's rules also wrote would have existed before the drop-in, and is never recorded.
        if error is None and record.get('log_path') and os.path.exists(record['log_path']):
            os.unlink(record['log_path'])
            parts.append('removed the log file %s' % record['log_path'])
    delete(state_dir, conf_path)
    return head + '; '.join(parts)
