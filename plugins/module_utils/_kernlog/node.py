# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a node's kernel log set-up is, read in one look: rsyslogd's binary and process, journald's process, what
would restart rsyslog, and the netdebug runs on the node.

One module call instead of one per path or process: on a slow node each call costs a Python start (seconds on an
emulated guest), and the capture asks these questions twice per host. Reads only; every path is under root so
that tests can give a tree of their own. Stdlib only.
"""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry.kernlog import INIT_SCRIPT
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import DEFAULT_ROOT, runs_dir

RSYSLOGD_PATHS = ('/usr/sbin/rsyslogd', '/sbin/rsyslogd')
# Process names as the kernel keeps them (/proc/PID/comm, 15 characters: what pgrep -x matches).
RSYSLOGD_NAME = 'rsyslogd'
JOURNALD_NAME = 'systemd-journal'


def _under(root, path):
    return os.path.join(root, path.lstrip('/'))


def process_names(root='/'):
    """The names (comm) of the processes running now; a process that ends while it is read is left out."""
    proc = _under(root, '/proc')
    names = set()
    try:
        entries = os.listdir(proc)
    except OSError:
        return names
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, 'comm'), encoding='utf-8', errors='replace') as handle:
                names.add(handle.read().strip())
        except OSError:
            continue
    return names


def service_manager(root='/'):
    """'systemd' (it runs, as the expiry's scheduler judges it: not the service_mgr fact, which says systemd in
    containers where /sbin/init links to it), 'sysvinit' (rsyslog's init script is there, the one the drop-in's
    expiry restarts with) or '' (nothing could restart rsyslog)."""
    if schedule.systemd_running(_under(root, schedule.SYSTEMD_DIR)):
        return 'systemd'
    if os.path.exists(_under(root, INIT_SCRIPT)):
        return 'sysvinit'
    return ''


def runs(root='/', state_root=DEFAULT_ROOT):
    """The run ids that have a state directory on the node, sorted."""
    try:
        return sorted(os.listdir(_under(root, runs_dir(state_root))))
    except OSError:
        return []


def kernel_log_setup(root='/'):
    """The module's result: {'rsyslogd' (its path, '' where it is not installed), 'rsyslogd_running',
    'journald_running', 'service_manager', 'runs'}."""
    names = process_names(root)
    binary = next((path for path in RSYSLOGD_PATHS if os.path.exists(_under(root, path))), '')
    return {'rsyslogd': binary, 'rsyslogd_running': RSYSLOGD_NAME in names,
            'journald_running': JOURNALD_NAME in names, 'service_manager': service_manager(root),
            'runs': runs(root)}
