# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernlog role's restart handler without systemd, on this machine, in a private PID and mount namespace.

Inside, PID 1 is a shell, /run is a fresh tmpfs (no /run/systemd/system) and /etc/init.d, /etc/rsyslog.d,
/etc/logrotate.d, /var/log and rsyslog.conf are bind mounts of temporary copies, so nothing of the machine changes.
This machine has systemd installed but not running (/sbin/init links to it), so Ansible's service_mgr fact says
`systemd` here: exactly the case where the role must not trust it. The copied rsyslog.conf has no imklog and no
imuxsock, so the private rsyslogd takes no kernel lines and creates no /dev/log. The rsyslog init script comes from
Debian's orphan-sysvinit-scripts (Debian 12's rsyslog ships none), downloaded through this machine's apt sources.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ansible_collections.netdebug.netfilter.tests.integration.conftest import AnsibleRun
from ansible_collections.netdebug.netfilter.tests.integration.local_apt_repo import rsyslog_init_script
from ansible_collections.netdebug.netfilter.tests.integration.test_kernlog_vm import task_results

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('unshare') or not os.path.exists(
    '/usr/sbin/rsyslogd'), reason='needs root, unshare and rsyslogd')

PLAY = """
- hosts: localhost
  gather_facts: false
  vars: {ansible_python_interpreter: /usr/bin/python3}
  roles:
    - role: netdebug.netfilter.kernlog
      vars: {netdebug_kernlog_probe: false}
"""

# $1: work directory (bind sources and results), $2: playbook. Prints "pid <phase> <rsyslogd pid or none>".
INNER = r"""
set -eu
W=$1 PLAY=$2
mount -t tmpfs none /run
mount -t proc proc /proc
sed -e 's/^module(load="imuxsock")/#&/' -e 's/^module(load="imklog")/#&/' /etc/rsyslog.conf > $W/rsyslog.conf
mount --bind $W/rsyslog.conf /etc/rsyslog.conf
for d in init.d rsyslog.d logrotate.d; do mount --bind $W/$d /etc/$d; done
mount --bind $W/log /var/log
pid() { p=$(cat /run/rsyslogd.pid 2>/dev/null) && [ "$(cat /proc/$p/comm 2>/dev/null)" = rsyslogd ] && echo "pid $1 $p" \
        || echo "pid $1 none"; }
play() { NETDEBUG_RESULTS_FILE=$W/$1.jsonl ansible-playbook -i localhost, -c local -e netdebug_kernlog_state=$2 \
         $PLAY > $W/$1.out 2>&1 || true; pid $1; }
play refused present
cp $W/rsyslog.init /etc/init.d/rsyslog && chmod 0755 /etc/init.d/rsyslog
/etc/init.d/rsyslog start </dev/null >/dev/null 2>&1
pid started
play first present
play second present
play removed absent
/etc/init.d/rsyslog stop </dev/null >/dev/null 2>&1 || true
pid stopped
"""


@pytest.fixture(scope='module')
def init_script():
    return rsyslog_init_script()


def _results(work, phase):
    with open(os.path.join(work, phase + '.jsonl'), encoding='utf-8') as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _restarts(results):
    runs = task_results(results, 'Restart rsyslog')
    assert all(r['status'] == 'ok' for r in runs), runs
    return len(runs)


def test_handler_restarts_rsyslog_with_its_init_script_without_systemd(tmp_path, init_script):
    work = str(tmp_path)
    for name in ('init.d', 'rsyslog.d', 'logrotate.d'):
        shutil.copytree('/etc/' + name, os.path.join(work, name), symlinks=True)
    os.mkdir(os.path.join(work, 'log'))
    (tmp_path / 'rsyslog.init').write_bytes(init_script)
    (tmp_path / 'play.yml').write_text(PLAY)
    (tmp_path / 'inner.sh').write_text(INNER)
    env = AnsibleRun('localhost,')._env(os.path.join(work, 'unused.jsonl'))  # pylint: disable=protected-access
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')  # ansible-playbook of this venv
    proc = subprocess.run(['unshare', '--mount', '--pid', '--fork', '--propagation', 'private', 'sh',
                           str(tmp_path / 'inner.sh'), work, str(tmp_path / 'play.yml')],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    pids = dict(re.findall(r'^pid (\w+) (\S+)$', proc.stdout, re.M))

    refused = [r for r in _results(work, 'refused') if r['status'] == 'failed']
    assert refused, (tmp_path / 'refused.out').read_text()
    assert 'managed neither by systemd' in refused[-1]['result']['msg']
    assert 'orphan-sysvinit-scripts' in refused[-1]['result']['msg']
    assert pids['refused'] == 'none'

    assert pids['started'] != 'none'
    first, second, removed = (_results(work, phase) for phase in ('first', 'second', 'removed'))
    assert not [r for r in first + second + removed if r['status'] == 'failed'], (tmp_path / 'first.out').read_text()
    assert _restarts(first) == 1 and pids['first'] not in ('none', pids['started'])   # drop-in written: restarted
    assert _restarts(second) == 0 and pids['second'] == pids['first']                 # unchanged: left alone
    assert _restarts(removed) == 1 and pids['removed'] not in ('none', pids['second'])  # drop-in removed: restarted
    assert pids['stopped'] == 'none'
    assert not os.path.exists(os.path.join(work, 'rsyslog.d', '30-netdebug-kernlog.conf'))
    assert not os.path.exists('/etc/init.d/rsyslog')  # the machine's own /etc was never written
