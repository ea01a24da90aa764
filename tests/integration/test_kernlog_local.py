# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsyslog_kernlog and nf_log on this machine, for what needs no VM.

- the issue's ad-hoc check: ``ansible localhost -m netdebug.netfilter.rsyslog_kernlog -a "path=... conf_path=..."
  --check --diff`` reports changed, writes nothing and shows the TRACE rule;
- a private rsyslogd (this machine's rsyslog 8.2302, fed kernel-facility messages over UDP on 127.0.0.1) routes
  lines exactly as the installed drop-in says, with and without ``exclusive``;
- nf_log in a throwaway network namespace: check mode returns ``loggers`` and changes nothing; four steps;
  ``absent`` restores the bindings; a second run that wants another logger is refused.
The host's own rsyslog configuration, sysctls and ruleset are never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from ansible_collections.netdebug.netfilter.tests.integration.conftest import AnsibleRun

RSYSLOGD = shutil.which('rsyslogd', path='/usr/sbin:/sbin:' + os.environ.get('PATH', ''))


class LocalRun(AnsibleRun):
    """AnsibleRun on localhost (local connection), optionally inside a network namespace."""

    def __init__(self, inventory, netns=None):
        super().__init__(inventory)
        self.netns = netns

    def _run(self, argv, extra_env=None, timeout=600):
        prefix = ['ip', 'netns', 'exec', self.netns] if self.netns else []
        return super()._run(prefix + argv, extra_env=extra_env, timeout=timeout)


@pytest.fixture(scope='module')
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp('inv') / 'hosts'
    path.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % _python())
    return path


def _python():
    return shutil.which('python3') or '/usr/bin/python3'


@pytest.fixture
def local(inventory):
    return LocalRun(inventory)


@pytest.fixture
def netns():
    """A throwaway network namespace with both IP loggers unbound, deleted afterwards."""
    name = 'ndkl' + uuid.uuid4().hex[:8]
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    try:
        for family in ('2', '10'):
            subprocess.run(['ip', 'netns', 'exec', name, 'sh', '-c',
                            'echo NONE > /proc/sys/net/netfilter/nf_log/%s' % family], check=True)
        yield name
    finally:
        subprocess.run(['ip', 'netns', 'del', name], check=False)


def _in_ns(name, path):
    return subprocess.run(['ip', 'netns', 'exec', name, 'cat', path], capture_output=True, text=True,
                          check=True).stdout.strip()


def _one(result):
    assert len(result.results) == 1, result
    return result.results[0]


# --- rsyslog_kernlog --------------------------------------------------------------------------------------------

@pytest.mark.skipif(not RSYSLOGD, reason='rsyslogd is not installed on this machine')
def test_adhoc_check_diff_writes_nothing_and_shows_trace_rule(local, tmp_path):
    log, conf = tmp_path / 'x.log', tmp_path / 'x.conf'
    run = local.module('localhost', 'netdebug.netfilter.rsyslog_kernlog', {'path': str(log), 'conf_path': str(conf)},
                       check=True, diff=True)
    entry = _one(run)
    assert entry['status'] == 'ok', run
    assert entry['result']['changed'] is True
    assert not log.exists() and not conf.exists()
    assert os.listdir(str(tmp_path)) == []
    diffs = entry['result']['diff']
    after = ''.join(d['after'] for d in diffs)
    assert "TRACE: " in after and 're_match($msg' in after and '$syslogseverity == 7' in after
    assert str(log) in after
    # The same through the CLI's --diff output, as a user sees it.
    assert '+    re_match($msg, ' in run.stdout and 'TRACE: ' in run.stdout


class PrivateRsyslog:
    """rsyslogd -n with a main config of our own: imudp on 127.0.0.1, the drop-in include, then catch-all rules."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.port = _free_udp_port()
        self.dropin_dir = workdir / 'rsyslog.d'
        self.dropin_dir.mkdir()
        self.main = workdir / 'rsyslog.conf'
        self.kern_log = workdir / 'kern.log'
        self.syslog = workdir / 'syslog'
        self.main.write_text(
            'global(workDirectory="%s")\n'
            'module(load="imudp")\n'
            'input(type="imudp" address="127.0.0.1" port="%d")\n'
            '$IncludeConfig %s/*.conf\n'
            '*.*;auth,authpriv.none  -%s\n'
            'kern.*                  -%s\n' % (workdir, self.port, self.dropin_dir, self.syslog, self.kern_log))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([RSYSLOGD, '-n', '-f', str(self.main), '-i', str(self.workdir / 'pid')],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:  # imudp is listening once a probe message arrives
            self.send(7, 'probe-%d' % self.port, facility=1)
            time.sleep(0.2)
            if self.syslog.exists() and 'probe-%d' % self.port in self.syslog.read_text():
                return
        raise AssertionError('private rsyslogd did not start: %s' % self.stop())

    def send(self, severity, text, facility=0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.sendto(('<%d>kernel: %s' % (facility * 8 + severity, text)).encode(), ('127.0.0.1', self.port))
        finally:
            sock.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            out, _err = self.proc.communicate(timeout=10)
            return out.decode('utf-8', 'replace')
        return ''


def _free_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _read(path):
    return path.read_text() if path.exists() else ''


@pytest.mark.skipif(not RSYSLOGD, reason='rsyslogd is not installed on this machine')
@pytest.mark.parametrize('exclusive', [False, True])
def test_real_rsyslog_routes_lines_as_the_dropin_says(local, tmp_path, exclusive):
    rsyslog = PrivateRsyslog(tmp_path)
    firewall = tmp_path / 'firewall'
    args = {'path': str(firewall), 'conf_path': str(rsyslog.dropin_dir / '30-netdebug-kernlog.conf'),
            'rsyslog_conf': str(rsyslog.main), 'prefixes': ['ndtest:'], 'exclusive': exclusive,
            'owner': 'root', 'group': 'root'}
    entry = _one(local.module('localhost', 'netdebug.netfilter.rsyslog_kernlog', args))
    assert entry['status'] == 'ok' and entry['result']['changed'] is True, entry
    assert entry['result']['validated'] is True
    tag = uuid.uuid4().hex[:8]
    wanted = {
        'trace': (4, 'TRACE: raw:PREROUTING:policy:2 IN=lo OUT= %s' % tag),
        'trace-stamped': (4, '[ 12.345678] TRACE: raw:OUTPUT:rule:1 IN= OUT=lo %s' % tag),
        'log-debug': (7, 'IN=lo OUT= SRC=127.0.0.1 %s' % tag),
        'prefix-info': (6, 'ndtest:r1 IN=lo OUT= %s' % tag),
    }
    unwanted = {
        'other-warning': (4, 'NOTRACE: something else %s' % tag),
        'other-info': (6, 'eth0: link up %s' % tag),
    }
    rsyslog.start()
    try:
        for severity, text in list(wanted.values()) + list(unwanted.values()):
            rsyslog.send(severity, text)
        rsyslog.send(4, 'TRACE: from user facility %s' % tag, facility=1)
        deadline = time.time() + 10
        while time.time() < deadline and _read(firewall).count(tag) < len(wanted):
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        rsyslog.stop()
    fw, kern = _read(firewall), _read(rsyslog.kern_log)
    for name, (_sev, text) in wanted.items():
        assert text in fw, (name, fw)
        assert (text in kern) is not exclusive, (name, exclusive, kern)
    for name, (_sev, text) in unwanted.items():
        assert text not in fw, (name, fw)
        assert text in kern, name
    assert 'from user facility' not in fw


@pytest.mark.skipif(not RSYSLOGD, reason='rsyslogd is not installed on this machine')
def test_rejected_dropin_is_not_installed(local, tmp_path):
    rsyslog = PrivateRsyslog(tmp_path)
    conf = rsyslog.dropin_dir / '30-netdebug-kernlog.conf'
    args = {'path': str(tmp_path / 'firewall'), 'conf_path': str(conf), 'rsyslog_conf': str(rsyslog.main),
            'template': 'NoSuchTemplate', 'owner': 'root', 'group': 'root'}
    entry = _one(local.module('localhost', 'netdebug.netfilter.rsyslog_kernlog', args))
    assert entry['status'] == 'failed'
    assert "Could not find template 0 'NoSuchTemplate'" in entry['result']['msg']
    assert str(conf) in entry['result']['msg'] and 'not installed' in entry['result']['msg']
    assert os.listdir(str(rsyslog.dropin_dir)) == []


# --- nf_log -----------------------------------------------------------------------------------------------------

def test_nf_log_check_mode_returns_loggers_and_changes_nothing(inventory, netns, tmp_path):
    run = LocalRun(inventory, netns)
    args = {'run_id': 'ndkl-check', 'state_dir': str(tmp_path / 'state')}
    entry = _one(run.module('localhost', 'netdebug.netfilter.nf_log', args, check=True))
    result = entry['result']
    assert entry['status'] == 'ok', result
    assert result['changed'] is True
    assert result['loggers']['ipv4'] == 'nf_log_ipv4' and result['loggers']['ipv6'] == 'nf_log_ipv6'
    assert result['previous']['loggers']['ipv4'] is None
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'NONE'
    assert not (tmp_path / 'state').exists()


def test_nf_log_query_on_this_host(local):
    entry = _one(local.module('localhost', 'netdebug.netfilter.nf_log', {'state': 'query'}))
    result = entry['result']
    assert entry['status'] == 'ok' and result['changed'] is False
    assert set(result['loggers']) >= {'ipv4', 'ipv6'}
    with open('/proc/net/netfilter/nf_log') as handle:
        bound = handle.read().splitlines()[2].split()[1]
    assert result['loggers']['ipv4'] == (None if bound == 'NONE' else bound)
    if not os.path.exists('/proc/modules'):
        # This machine's kernel has no module support: built in only where /proc proves it, never "loadable".
        assert result['module_loading'] is False
        assert 'loadable' not in result['modules'].values()
        for name, state in result['modules'].items():
            if state == 'built_in':
                assert 'lists' in result['module_evidence'][name]


def test_nf_log_four_steps_and_restore_in_netns(inventory, netns, tmp_path):
    run = LocalRun(inventory, netns)
    state_dir = tmp_path / 'state'
    args = {'run_id': 'ndkl-a', 'state_dir': str(state_dir)}
    steps = [run.module('localhost', 'netdebug.netfilter.nf_log', args, check=check) for check in
             (True, False, True, False)]
    changed = [_one(step)['result']['changed'] for step in steps]
    assert changed == [True, True, False, False], [s.results for s in steps]
    assert _one(steps[1])['result']['set'] == {'net.netfilter.nf_log.2': 'nf_log_ipv4',
                                               'net.netfilter.nf_log.10': 'nf_log_ipv6'}
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'nf_log_ipv4'
    assert (state_dir / ('ndkl-a@net%d.json' % _one(steps[1])['result']['netns'])).exists()

    # Another run that needs the same bindings keeps them alive; one that wants another logger is refused.
    other = _one(run.module('localhost', 'netdebug.netfilter.nf_log', dict(args, run_id='ndkl-b', families=['ipv4'])))
    assert other['result']['changed'] is False
    refused = _one(run.module('localhost', 'netdebug.netfilter.nf_log',
                              dict(args, run_id='ndkl-c', logger='nflog')))
    assert refused['status'] == 'failed'
    assert 'while run ndkl-a is active, and this run (ndkl-c) wants nfnetlink_log' in refused['result']['msg']
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'nf_log_ipv4'

    released = _one(run.module('localhost', 'netdebug.netfilter.nf_log', dict(args, state='absent')))['result']
    assert released['restored'] == {'net.netfilter.nf_log.10': 'NONE'}
    assert released['kept'] == {'net.netfilter.nf_log.2': 'still needed by run ndkl-b'}
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'nf_log_ipv4'
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/10') == 'NONE'

    last = [run.module('localhost', 'netdebug.netfilter.nf_log', dict(args, run_id='ndkl-b', state='absent'),
                       check=check) for check in (True, False, True, False)]
    assert [_one(step)['result']['changed'] for step in last] == [True, True, False, False]
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'NONE'
    assert not state_dir.exists()  # the last record went, and the state directory with it (issue 15 footprint)


def test_nf_log_all_netns_is_refused_outside_the_initial_namespace(inventory, netns, tmp_path):
    run = LocalRun(inventory, netns)
    entry = _one(run.module('localhost', 'netdebug.netfilter.nf_log',
                            {'run_id': 'ndkl-d', 'all_netns': True, 'state_dir': str(tmp_path / 's')}))
    assert entry['status'] == 'failed'
    assert 'only from the initial network namespace' in entry['result']['msg']
    assert _in_ns(netns, '/proc/sys/net/netfilter/nf_log/2') == 'NONE'  # refused before any change


@pytest.mark.parametrize('args, message', [
    ({'run_id': 'bad id!'}, 'run_id: '),
    ({'run_id': 'x' * 33}, 'run_id: '),
    ({'state': 'absent'}, 'run_id'),
])
def test_nf_log_bad_input(local, args, message):
    entry = _one(local.module('localhost', 'netdebug.netfilter.nf_log', args, check=True))
    assert entry['status'] == 'failed' and message in entry['result']['msg']
