"""Tests of the lab itself (`tests/run lab`): real namespaces, real sshd, Ansible over real SSH.

Every test that brings a lab up takes it down again in a finalizer, also when the test fails. The netns lab has
fixed names and addresses, so these tests must not run while another suite (integration, molecule) uses it.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

LAB_DIR = pathlib.Path(__file__).resolve().parent
LAB = LAB_DIR / 'lab'
sys.path.insert(0, str(LAB_DIR))

from labkit.common import LabError, pid_alive, pid_cmdline  # noqa: E402 pylint: disable=wrong-import-position
from labkit.netns import NetnsLab, forward_drops  # noqa: E402 pylint: disable=wrong-import-position

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the lab needs root')

NF_LOG = pathlib.Path('/proc/sys/net/netfilter/nf_log_all_netns')
# Names of the netns kind only: the vm kind's links (ndlabvm*) are another lab's business.
LAB_NAME_RE = re.compile(r'ndlab-node\d+|ndlab0(p\d+)?\b|/run/netdebug-lab/netns|_netns-keeper')


def lab_cli(*args, timeout=120):
    return subprocess.run([str(LAB)] + list(args), capture_output=True, text=True, timeout=timeout, check=False)


def node_exec(lab, node, *argv, check=True, **kwargs):
    proc = lab.exec(node, list(argv), **kwargs)
    if check:
        assert proc.returncode == 0, (argv, proc.returncode, proc.stdout, proc.stderr)
    return proc


def out(proc):
    return proc.stdout.decode('utf-8', 'replace')


def ansible(inventory, *args, env=None, timeout=600):
    """Ad-hoc Ansible with one-line output; returns (proc, {host: (status, result dict)})."""
    exe = shutil.which('ansible')
    assert exe, 'ansible is not on PATH (tests/run puts .venv/bin there)'
    full_env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0')
    full_env.update(env or {})
    proc = subprocess.run([exe, '-i', str(inventory), '-o'] + list(args), capture_output=True, text=True,
                          env=full_env, timeout=timeout, check=False)
    results = {}
    for line in proc.stdout.splitlines():
        match = re.match(r'^(\S+) \| ([A-Z!]+)(?:: | => )(.*)$', line)
        if match:
            try:
                result = json.loads(match.group(3))
            except ValueError:
                result = {'raw': match.group(3)}
            results[match.group(1)] = (match.group(2), result)
    return proc, results


def snapshot():
    """What the machine has that the netns lab could leave behind."""
    links = subprocess.run(['ip', '-o', 'link', 'show'], capture_output=True, text=True, check=True).stdout
    procs = {}
    for pid in (int(p) for p in os.listdir('/proc') if p.isdigit()):
        if pid_alive(pid):
            procs[pid] = ' '.join(pid_cmdline(pid))
    return {
        'netns': set(os.listdir('/run/netns')) if os.path.isdir('/run/netns') else set(),
        'links': {line.split(':')[1].strip().split('@')[0] for line in links.splitlines()},
        'mounts': set(pathlib.Path('/proc/mounts').read_text(encoding='utf-8').splitlines()),
        'procs': procs,
        'nf_log': NF_LOG.read_text(encoding='ascii').strip() if NF_LOG.exists() else None,
    }


def lab_processes(lab):
    """Every process of the running lab: keepers, and everything in a node's network namespace."""
    inodes = {os.stat('/run/netns/ndlab-node%d' % i).st_ino for i in range(1, len(lab.nodes()) + 1)}
    pids = set()
    for pid in (int(p) for p in os.listdir('/proc') if p.isdigit()):
        try:
            if os.stat('/proc/%d/ns/net' % pid).st_ino in inodes:
                pids.add(pid)
        except OSError:
            continue
    return pids, inodes


def assert_nothing_left(before, after, lab_pids=(), lab_inodes=()):
    """after (taken after down) has nothing of the lab that before did not have."""
    new = {key: sorted(str(v) for v in after[key] - before[key]) for key in ('netns', 'links', 'mounts')}
    leaked = {key: [v for v in values if LAB_NAME_RE.search(v)] for key, values in new.items()}
    leaked['processes'] = sorted('%d %s' % (pid, cmd) for pid, cmd in after['procs'].items()
                                 if pid not in before['procs'] and LAB_NAME_RE.search(cmd))
    leaked['lab_pids_alive'] = sorted(pid for pid in lab_pids if pid_alive(pid))
    in_lab_netns = []
    for pid in after['procs']:
        try:
            if os.stat('/proc/%d/ns/net' % pid).st_ino in lab_inodes:
                in_lab_netns.append(pid)
        except OSError:
            continue
    leaked['in_lab_netns'] = in_lab_netns
    leaked = {key: value for key, value in leaked.items() if value}
    assert not leaked, 'down left behind: %r' % leaked
    assert after['nf_log'] == before['nf_log'], 'nf_log_all_netns not restored'
    assert not pathlib.Path('/run/netdebug-lab/netns').exists()


@pytest.fixture
def fresh_lab():
    """A netns lab that is down before the test and taken down after it, whatever happens."""
    lab = NetnsLab()
    lab.down()
    try:
        yield lab
    finally:
        lab.down()


# -------------------------------------------------------------------- reading the host firewall

# Recorded in a throwaway namespace: `iptables-legacy -P FORWARD DROP; iptables-legacy -A FORWARD -i eth9 -j ACCEPT`.
LEGACY_FORWARD_DROP = """# Generated by iptables-save v1.8.9 on Tue Nov 24 18:22:31 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i eth9 -j ACCEPT
COMMIT
# Completed on Tue Nov 24 18:22:31 2026
"""
# Recorded likewise: `iptables-nft -P FORWARD DROP` plus an inet table with an accepting forward chain and a
# dropping input chain.
NFT_FORWARD_DROP = """table ip filter {
\tchain FORWARD {
\t\ttype filter hook forward priority filter; policy drop;
\t}
}
table inet t {
\tchain fw {
\t\ttype filter hook forward priority filter; policy accept;
\t}

\tchain inp {
\t\ttype filter hook input priority filter; policy drop;
\t}
}
"""


@pytest.mark.parametrize('legacy, nft, expected', [
    ('', '', []),
    (LEGACY_FORWARD_DROP, '', ['iptables-legacy']),
    (LEGACY_FORWARD_DROP.replace(':FORWARD DROP', ':FORWARD ACCEPT'), '', []),
    ('', NFT_FORWARD_DROP, ['nftables']),
    ('', NFT_FORWARD_DROP.replace('forward priority filter; policy drop', 'forward priority filter; policy accept'),
     []),
    (LEGACY_FORWARD_DROP, NFT_FORWARD_DROP, ['iptables-legacy', 'nftables']),
])
def test_forward_drops(legacy, nft, expected):
    found = forward_drops(legacy, nft)
    assert len(found) == len(expected)
    for text, word in zip(found, expected):
        assert word in text


# -------------------------------------------------------------------- one 3-node lab for these tests

@pytest.fixture(scope='class')
def lab3():
    lab = NetnsLab()
    lab.down()
    lab.up(3)
    try:
        yield lab
    finally:
        lab.down()


@pytest.mark.usefixtures('lab3')
class TestThreeNodes:
    """Isolation and plumbing of a 3-node lab."""

    def test_status_and_inventory(self, lab3):
        status = lab3.status()
        assert status['up'] is True and status['nodes'] == 3 and not status['problems']
        assert [h['name'] for h in status['hosts']] == ['node1', 'node2', 'node3']
        assert [h['address'] for h in status['hosts']] == ['198.18.0.1', '198.18.0.2', '198.18.0.3']
        assert all(pid_alive(h['keeper_pid']) and pid_alive(h['sshd_pid']) for h in status['hosts'])
        assert NF_LOG.read_text(encoding='ascii').strip() == '1'
        cli = lab_cli('inventory', '--kind', 'netns')
        assert cli.returncode == 0, cli.stderr
        path = cli.stdout.strip().splitlines()[-1]
        assert path == lab3.inventory()
        text = pathlib.Path(path).read_text(encoding='utf-8')
        for needle in ('lab:', 'node1:', 'node3:', 'ansible_host: "198.18.0.2"', 'ansible_user: "root"',
                       'StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null', 'BatchMode=yes',
                       'ansible_ssh_private_key_file', 'ansible_python_interpreter'):
            assert needle in text
        cli = lab_cli('status', '--kind', 'netns')
        assert cli.returncode == 0 and json.loads(cli.stdout)['up'] is True

    def test_up_again_is_a_noop_and_other_sizes_are_refused(self, lab3):
        keepers = [h['keeper_pid'] for h in lab3.status()['hosts']]
        lab3.up(3)
        assert [h['keeper_pid'] for h in lab3.status()['hosts']] == keepers
        with pytest.raises(LabError, match='down --kind netns'):
            lab3.up(4)
        cli = lab_cli('up', '--kind', 'netns', '--nodes', '2')
        assert cli.returncode == 1 and 'down' in cli.stderr
        for bad in (0, -1, 251, '3', True):
            with pytest.raises(LabError, match='nodes must be'):
                lab3.up(bad)

    def test_hostnames_are_distinct(self, lab3):
        for name in ('node1', 'node2', 'node3'):
            assert out(node_exec(lab3, name, 'hostname')).strip() == name
            assert out(node_exec(lab3, name, 'cat', '/etc/hostname')).strip() == name
        assert os.uname().nodename not in ('node1', 'node2', 'node3')

    def test_network_of_a_node(self, lab3):
        links = out(node_exec(lab3, 'node2', 'ip', '-o', 'link', 'show'))
        assert re.search(r'^\d+: lo: <[^>]*\bUP\b', links, re.M), links
        addrs = out(node_exec(lab3, 'node2', 'ip', '-o', '-4', 'addr', 'show'))
        assert 'inet 198.18.0.2/24' in addrs and 'inet 127.0.0.1/8' in addrs
        node_exec(lab3, 'node2', 'ping', '-c1', '-W2', '127.0.0.1')
        # No default route: lab traffic never leaves the bridge.
        assert out(node_exec(lab3, 'node2', 'ip', 'route', 'show', 'default')).strip() == ''
        listening = out(node_exec(lab3, 'node2', 'ss', '-Hltn'))
        assert '198.18.0.2:22' in listening and '0.0.0.0:22' not in listening

    def test_traffic_between_nodes(self, lab3):
        node_exec(lab3, 'node1', 'ping', '-c2', '-W2', '198.18.0.2')
        node_exec(lab3, 'node3', 'ping', '-c1', '-W2', '198.18.0.254')  # the controller
        # TCP from node1 to node2's sshd.
        banner = node_exec(lab3, 'node1', 'python3', '-c',
                           'import socket; s = socket.create_connection(("198.18.0.2", 22), 5); print(s.recv(64))')
        assert b'SSH-2.0' in banner.stdout
        lost = node_exec(lab3, 'node1', 'ping', '-c1', '-W1', '198.18.0.99', check=False)
        assert lost.returncode != 0  # nobody there: the test above could fail

    @pytest.mark.parametrize('iptables', ['iptables-legacy', 'iptables-nft'])
    def test_rulesets_are_separate(self, lab3, iptables):
        rule = ['-t', 'raw', '-A', 'PREROUTING', '-s', '198.18.0.77', '-m', 'comment', '--comment', 'lab-test-rule',
                '-j', 'ACCEPT']
        node_exec(lab3, 'node1', iptables, '-w', '5', *rule)
        try:
            assert 'lab-test-rule' in out(node_exec(lab3, 'node1', iptables, '-t', 'raw', '-S'))
            assert 'lab-test-rule' not in out(node_exec(lab3, 'node2', iptables, '-t', 'raw', '-S'))
            host = subprocess.run([iptables + '-save'], capture_output=True, text=True, check=True).stdout
            assert 'lab-test-rule' not in host
        finally:
            node_exec(lab3, 'node1', iptables, '-w', '5', *(['-D' if a == '-A' else a for a in rule]))

    def test_nft_tables_are_separate(self, lab3):
        node_exec(lab3, 'node3', 'nft', 'add', 'table', 'inet', 'labtest')
        try:
            assert 'table inet labtest' in out(node_exec(lab3, 'node3', 'nft', 'list', 'tables'))
            assert 'labtest' not in out(node_exec(lab3, 'node1', 'nft', 'list', 'tables'))
        finally:
            node_exec(lab3, 'node3', 'nft', 'delete', 'table', 'inet', 'labtest')

    def test_conntrack_tables_are_separate(self, lab3):
        entry = ['-s', '198.18.0.77', '-d', '198.18.0.1', '-p', 'udp', '--sport', '40001', '--dport', '40002']
        node_exec(lab3, 'node1', 'conntrack', '-I', *entry, '-t', '120')
        try:
            assert '198.18.0.77' in out(node_exec(lab3, 'node1', 'conntrack', '-L'))
            assert '198.18.0.77' not in out(node_exec(lab3, 'node2', 'conntrack', '-L'))
            host = subprocess.run(['conntrack', '-L'], capture_output=True, text=True, check=False).stdout
            assert 'sport=40001' not in host
        finally:
            node_exec(lab3, 'node1', 'conntrack', '-D', *entry, check=False)

    @pytest.mark.parametrize('directory', ['/etc/rsyslog.d', '/var/log', '/run', '/root', '/tmp', '/dev'])
    def test_private_directories(self, lab3, directory):
        path = '%s/netdebug-lab-test-%d' % (directory, os.getpid())
        node_exec(lab3, 'node1', 'sh', '-c', 'mkdir -p "$(dirname "$1")" && echo node1 > "$1"', 'sh', path)
        try:
            assert out(node_exec(lab3, 'node1', 'cat', path)).strip() == 'node1'
            assert node_exec(lab3, 'node2', 'test', '-e', path, check=False).returncode == 1
            assert not os.path.exists(path), 'the host sees %s' % path
        finally:
            node_exec(lab3, 'node1', 'rm', '-f', path)

    def test_host_files_are_visible_read_through(self, lab3):
        # The node starts from the host's files (packages, configs): only its changes are private.
        host = pathlib.Path('/etc/os-release').read_text(encoding='utf-8')
        assert out(node_exec(lab3, 'node2', 'cat', '/etc/os-release')) == host

    def test_processes_are_separate(self, lab3):
        ps_out = out(node_exec(lab3, 'node1', 'ps', '-eo', 'pid,args'))
        assert 'ListenAddress=198.18.0.1' in ps_out and 'ListenAddress=198.18.0.2' not in ps_out
        first = ps_out.splitlines()[1].split()
        assert first[0] == '1' and '_netns-keeper' in ps_out

    def test_exec_contract(self, lab3):
        proc = lab3.exec('node2', ['sh', '-c', 'echo out; echo err >&2; exit 3'])
        assert (proc.returncode, proc.stdout, proc.stderr) == (3, b'out\n', b'err\n')
        assert lab3.exec('node2', ['cat'], input=b'piped').stdout == b'piped'
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            lab3.exec('node2', ['sleep', '30'], timeout=1)
        assert time.monotonic() - started < 10
        time.sleep(0.2)
        assert 'sleep 30' not in out(node_exec(lab3, 'node2', 'ps', '-eo', 'args'))  # the timeout killed it
        with pytest.raises(LabError, match='unknown node'):
            lab3.exec('node9', ['true'])
        cli = lab_cli('exec', '--kind', 'netns', 'node3', '--', 'sh', '-c', 'hostname; echo e >&2; exit 5')
        assert (cli.returncode, cli.stdout, cli.stderr) == (5, 'node3\n', 'e\n')

    def test_ansible_over_ssh(self, lab3, tmp_path):
        inventory = lab3.inventory()
        proc, results = ansible(inventory, 'lab', '-m', 'ansible.builtin.ping')
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert {h: r[0] for h, r in results.items()} == {'node1': 'SUCCESS', 'node2': 'SUCCESS', 'node3': 'SUCCESS'}
        # A module writes under /etc/rsyslog.d on node1 only: node2 and the host must not see it.
        target = '/etc/rsyslog.d/99-netdebug-lab-test-%d.conf' % os.getpid()
        try:
            proc, results = ansible(inventory, 'node1', '-m', 'ansible.builtin.copy',
                                    '-a', json.dumps({'dest': target, 'content': '# lab test\n', 'mode': '0644'}))
            assert proc.returncode == 0 and results['node1'][0] == 'CHANGED', proc.stdout + proc.stderr
            assert node_exec(lab3, 'node1', 'test', '-f', target, check=False).returncode == 0
            assert node_exec(lab3, 'node2', 'test', '-e', target, check=False).returncode == 1
            assert not os.path.exists(target)
        finally:
            node_exec(lab3, 'node1', 'rm', '-f', target)
        # Facts come from the node's own namespaces.
        proc, results = ansible(inventory, 'lab', '-m', 'ansible.builtin.setup', '-a', 'filter=ansible_hostname')
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert {h: r[1]['ansible_facts']['ansible_hostname'] for h, r in results.items()} == \
            {'node1': 'node1', 'node2': 'node2', 'node3': 'node3'}
        assert tmp_path.exists()

    def test_ssh_is_key_only(self, lab3, tmp_path):
        base = ['ssh', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
                '-o', 'ConnectTimeout=5', '-o', 'IdentitiesOnly=yes', '-o', 'ControlPath=none']
        key = str(lab3.key_file)
        good = subprocess.run(base + ['-i', key, 'root@198.18.0.1', 'hostname'], capture_output=True, text=True,
                              timeout=60, check=False)
        assert (good.returncode, good.stdout.strip()) == (0, 'node1'), good.stderr
        other = tmp_path / 'other_key'
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(other)], check=True)
        bad = subprocess.run(base + ['-i', str(other), 'root@198.18.0.1', 'true'], capture_output=True, text=True,
                             timeout=60, check=False)
        assert bad.returncode == 255 and 'Permission denied' in bad.stderr
        password = subprocess.run(base + ['-o', 'PreferredAuthentications=password,keyboard-interactive',
                                          'root@198.18.0.1', 'true'], capture_output=True, text=True, timeout=60,
                                  check=False)
        assert password.returncode == 255 and 'Permission denied' in password.stderr


# -------------------------------------------------------------------- lifecycle: down, crashes, 50 nodes

def test_down_leaves_nothing_behind(fresh_lab, tmp_path):
    before = snapshot()
    fresh_lab.up(3)
    lab_pids, lab_inodes = lab_processes(fresh_lab)
    assert len(lab_pids) >= 3 * 2  # at least a keeper and an sshd per node
    assert set(before['netns']) != snapshot()['netns']  # the comparison below can see a namespace
    # Ansible leaves SSH masters (ControlPersist) behind on the controller: they must go with the nodes.
    control = tmp_path / 'cp'
    proc, _results = ansible(fresh_lab.inventory(), 'lab', '-m', 'ansible.builtin.ping',
                             env={'ANSIBLE_SSH_CONTROL_PATH_DIR': str(control)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(str(control) in cmd for cmd in snapshot()['procs'].values())
    fresh_lab.down()
    deadline = time.monotonic() + 10
    while any(str(control) in cmd for cmd in snapshot()['procs'].values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    after = snapshot()
    assert not [cmd for cmd in after['procs'].values() if str(control) in cmd], 'SSH masters to the nodes survived'
    assert_nothing_left(before, after, lab_pids, lab_inodes)
    fresh_lab.down()  # idempotent
    cli = lab_cli('down', '--kind', 'netns')
    assert cli.returncode == 0, cli.stderr
    assert fresh_lab.status()['up'] is False


def test_down_after_a_crash(fresh_lab):
    before = snapshot()
    fresh_lab.up(2)
    lab_pids, lab_inodes = lab_processes(fresh_lab)
    keeper = fresh_lab.keeper_pid('node1')
    os.kill(keeper, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(keeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = fresh_lab.status()
    assert status['up'] is False and any('node1' in p for p in status['problems'])
    with pytest.raises(LabError, match='broken'):
        fresh_lab.up(2)
    with pytest.raises(LabError, match='node1 is not running'):
        fresh_lab.exec('node1', ['true'])
    # The state directory is half gone too: down must still find everything by name.
    (fresh_lab.dir / 'state.json').unlink()
    shutil.rmtree(str(fresh_lab.dir / 'ssh'))
    assert fresh_lab.status()['warnings'], 'status should report the leftovers'
    with pytest.raises(LabError, match='left things behind'):
        fresh_lab.up(2)
    cli = lab_cli('down', '--kind', 'netns')
    assert cli.returncode == 0, cli.stderr
    assert_nothing_left(before, snapshot(), lab_pids, lab_inodes)


def test_down_after_up_was_killed(fresh_lab):
    before = snapshot()
    up = subprocess.Popen([str(LAB), 'up', '--kind', 'netns', '--nodes', '20'], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    # Kill it while it works: once the namespaces exist, before it could finish.
    deadline = time.monotonic() + 20
    while not any(n.startswith('ndlab-node') for n in snapshot()['netns']) and time.monotonic() < deadline:
        time.sleep(0.01)
    up.kill()
    up.wait()
    assert any(n.startswith('ndlab-node') for n in snapshot()['netns'])
    cli = lab_cli('down', '--kind', 'netns')
    assert cli.returncode == 0, cli.stderr
    assert_nothing_left(before, snapshot())


def test_fifty_nodes_and_ansible_ping(fresh_lab, capsys):
    before = snapshot()
    started = time.monotonic()
    fresh_lab.up(50)
    up_seconds = time.monotonic() - started
    lab_pids, lab_inodes = lab_processes(fresh_lab)
    started = time.monotonic()
    proc, results = ansible(fresh_lab.inventory(), 'lab', '-m', 'ansible.builtin.ping', env={'ANSIBLE_FORKS': '25'})
    ping_seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(results) == sorted('node%d' % i for i in range(1, 51))
    assert {r[0] for r in results.values()} == {'SUCCESS'}
    hostnames = {out(node_exec(fresh_lab, 'node%d' % i, 'hostname')).strip() for i in (1, 17, 50)}
    assert hostnames == {'node1', 'node17', 'node50'}
    started = time.monotonic()
    fresh_lab.down()
    down_seconds = time.monotonic() - started
    assert_nothing_left(before, snapshot(), lab_pids, lab_inodes)
    with capsys.disabled():
        sys.stdout.write('\n50-node netns lab: up %.1fs, ansible ping (forks 25) %.1fs, down %.1fs\n'
                         % (up_seconds, ping_seconds, down_seconds))
    assert up_seconds < 60
