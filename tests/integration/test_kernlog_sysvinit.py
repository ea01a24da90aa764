# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernlog role's restart handler on a node without systemd: a netns lab node.

A netns node has its own PID namespace whose PID 1 is the lab's keeper (no systemd, no /run/systemd/system) and
private /etc, /run and /var, so an rsyslogd started there by an init script is the node's own; the controller's
processes are not touched (checked). Debian 12's rsyslog ships no init script any more (it moved to the package
orphan-sysvinit-scripts): the role must refuse such a node before changing anything, and restart rsyslog through
the init script once it exists. The probe is off: LOG lines from a network namespace need a global sysctl.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.netdebug.netfilter.tests.integration.local_apt_repo import rsyslog_init_script
from ansible_collections.netdebug.netfilter.tests.integration.test_kernlog_vm import task_results

NODE = 'node2'
INIT_SCRIPT = '/etc/init.d/rsyslog'
DROPIN = '/etc/rsyslog.d/30-netdebug-kernlog.conf'
# Type, mode, owner and content; not sizes: a directory the role wrote in is copied up to the node's tmpfs overlay,
# which changes its size but nothing a program could see otherwise.
CONFIG_SNAPSHOT = ('cd /etc && find rsyslog.conf rsyslog.d logrotate.d init.d -exec stat -c "%n %F %a %U:%G" {} + '
                   '| sort && find rsyslog.conf rsyslog.d logrotate.d init.d -type f -exec sha256sum {} + | sort')
PLAY = """
- hosts: node2
  gather_facts: false
  roles:
    - role: netdebug.netfilter.kernlog
      vars: {netdebug_kernlog_probe: false, netdebug_kernlog_state: %s}
"""


@pytest.fixture(scope='module')
def init_script():
    return rsyslog_init_script()


def _sh(lab, script, check=True, input=b''):  # pylint: disable=redefined-builtin
    proc = lab.exec(NODE, ['sh', '-c', script], timeout=120, input=input)
    out = proc.stdout.decode('utf-8', 'replace')
    if check:
        assert proc.returncode == 0, (script, proc.returncode, out, proc.stderr.decode('utf-8', 'replace'))
    return out


def _node_rsyslogd(lab):
    """PID (in the node) of the node's rsyslogd, from its pid file, checked alive and named rsyslogd; or ''."""
    return _sh(lab, 'p=$(cat /run/rsyslogd.pid 2>/dev/null) && [ "$(cat /proc/$p/comm 2>/dev/null)" = rsyslogd ] '
                    '&& echo $p; true').strip()


def _controller_rsyslogd():
    """rsyslogd processes of the controller's own PID namespace (the nodes' ones are in theirs)."""
    own = os.readlink('/proc/self/ns/pid')
    pids = subprocess.run(['pgrep', '-x', 'rsyslogd'], capture_output=True, text=True, check=False).stdout.split()
    found = set()
    for pid in pids:
        try:
            if os.readlink('/proc/%s/ns/pid' % pid) == own:
                found.add(pid)
        except OSError:
            pass  # gone meanwhile
    return found


def _play(lab_ansible, tmp_path, state='present'):
    playbook = tmp_path / ('sysv-%s.yml' % state)
    playbook.write_text(PLAY % state)
    return lab_ansible.playbook(playbook)


def _restarted(result):
    """True when the handler ran and restarted rsyslog; False when it did not run."""
    runs = task_results(result, 'Restart rsyslog')
    assert all(r['status'] == 'ok' for r in runs), runs
    return bool(runs) and all(r['result']['changed'] for r in runs)


def test_handler_restarts_rsyslog_through_its_init_script(netns_lab, lab_ansible, tmp_path, init_script):
    assert _sh(netns_lab, 'cat /proc/1/comm').strip() != 'systemd'
    assert _sh(netns_lab, 'test -e /run/systemd/system && echo yes; true').strip() == ''
    assert not os.path.exists(INIT_SCRIPT), 'the controller has an rsyslog init script: this test would not be honest'
    controller = _controller_rsyslogd()
    before = _sh(netns_lab, CONFIG_SNAPSHOT)
    try:
        # No systemd, no init script: refused before anything changes, with what to do.
        refused = _play(lab_ansible, tmp_path)
        assert refused.rc != 0, refused
        failed = [r for r in refused.results if r['status'] == 'failed']
        assert failed and 'managed neither by systemd' in failed[-1]['result']['msg']
        assert 'orphan-sysvinit-scripts' in failed[-1]['result']['msg']
        assert _sh(netns_lab, CONFIG_SNAPSHOT) == before

        _sh(netns_lab, 'cat > %s && chmod 0755 %s' % (INIT_SCRIPT, INIT_SCRIPT), input=init_script)
        _sh(netns_lab, '%s start </dev/null >/dev/null 2>&1' % INIT_SCRIPT)
        started = _node_rsyslogd(netns_lab)
        assert started

        first = _play(lab_ansible, tmp_path)
        assert first.rc == 0, first
        assert _restarted(first)
        restarted = _node_rsyslogd(netns_lab)
        assert restarted and restarted != started  # a new rsyslogd, started by the init script, reads the drop-in
        assert _sh(netns_lab, 'cat %s' % DROPIN).startswith('# Managed by netdebug.netfilter.rsyslog_kernlog')

        second = _play(lab_ansible, tmp_path)
        assert second.rc == 0, second
        assert not _restarted(second)
        assert _node_rsyslogd(netns_lab) == restarted

        removed = _play(lab_ansible, tmp_path, 'absent')
        assert removed.rc == 0, removed
        assert _restarted(removed)
        assert _node_rsyslogd(netns_lab) not in ('', restarted)
    finally:
        _sh(netns_lab, 'test -e %s && %s stop </dev/null >/dev/null 2>&1; rm -f %s %s /etc/logrotate.d/netdebug-kernlog'
            % (INIT_SCRIPT, INIT_SCRIPT, INIT_SCRIPT, DROPIN), check=False)
    assert _node_rsyslogd(netns_lab) == ''
    assert _sh(netns_lab, 'test -e %s && echo left; true' % INIT_SCRIPT).strip() == ''
    assert _sh(netns_lab, CONFIG_SNAPSHOT) == before
    assert _controller_rsyslogd() == controller  # the controller's own rsyslog (if any) was never restarted
