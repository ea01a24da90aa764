# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kernlog_info's look at the node: a tree of its own stands for /, one row per kind of node."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog import node

# (what the tree holds, the expected result); processes are comm names, as the kernel keeps them
ROWS = [
    ('debian12 with rsyslog under systemd',
     {'files': ['/usr/sbin/rsyslogd', '/etc/init.d/.keep'], 'dirs': ['/run/systemd/system'],
      'procs': ['systemd', 'systemd-journal', 'rsyslogd', 'sshd'], 'runs': ['INC-2', 'INC-1']},
     {'rsyslogd': '/usr/sbin/rsyslogd', 'rsyslogd_running': True, 'journald_running': True,
      'service_manager': 'systemd', 'runs': ['INC-1', 'INC-2']}),
    ('journal only (rsyslog not installed)',
     {'files': [], 'dirs': ['/run/systemd/system'], 'procs': ['systemd', 'systemd-journal'], 'runs': None},
     {'rsyslogd': '', 'rsyslogd_running': False, 'journald_running': True, 'service_manager': 'systemd',
      'runs': []}),
    ('rsyslog installed, stopped, /sbin only, init script, no systemd (a container)',
     {'files': ['/sbin/rsyslogd', '/etc/init.d/rsyslog'], 'dirs': [], 'procs': ['sh'], 'runs': []},
     {'rsyslogd': '/sbin/rsyslogd', 'rsyslogd_running': False, 'journald_running': False,
      'service_manager': 'sysvinit', 'runs': []}),
    ('rsyslogd runs, nothing could restart it',
     {'files': ['/usr/sbin/rsyslogd'], 'dirs': [], 'procs': ['rsyslogd'], 'runs': None},
     {'rsyslogd': '/usr/sbin/rsyslogd', 'rsyslogd_running': True, 'journald_running': False,
      'service_manager': '', 'runs': []}),
    ('no /proc at all',
     {'files': [], 'dirs': [], 'procs': None, 'runs': None},
     {'rsyslogd': '', 'rsyslogd_running': False, 'journald_running': False, 'service_manager': '', 'runs': []}),
]


def make_tree(root, spec):
    def path(name):
        return os.path.join(str(root), name.lstrip('/'))
    for name in spec['files']:
        os.makedirs(os.path.dirname(path(name)), exist_ok=True)
        open(path(name), 'w').close()
    for name in spec['dirs']:
        os.makedirs(path(name))
    if spec['procs'] is not None:
        os.makedirs(path('/proc/self'))  # not a pid: left out
        for pid, comm in enumerate(spec['procs'], 1):
            os.makedirs(path('/proc/%d' % pid))
            with open(path('/proc/%d/comm' % pid), 'w') as handle:
                handle.write(comm + '\n')
        os.makedirs(path('/proc/999'))  # a process that ended while it was read: no comm
    if spec['runs'] is not None:
        for run in spec['runs'] or ['']:
            os.makedirs(path('/run/netdebug/runs/' + run), exist_ok=True)


@pytest.mark.parametrize('spec, expected', [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_kernel_log_setup(tmp_path, spec, expected):
    make_tree(tmp_path, spec)
    assert node.kernel_log_setup(str(tmp_path)) == expected


def test_journald_is_known_by_its_truncated_name():
    # the kernel keeps 15 characters of a process name: systemd-journald is systemd-journal there
    assert node.JOURNALD_NAME == 'systemd-journald'[:15]
