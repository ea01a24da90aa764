"""The netns kind: lab nodes made of Linux namespaces on this machine, one bridge, one sshd per node.

What `up` makes for node N (and `down` removes):

- network namespace ``ndlab-nodeN``: ``eth0`` = 198.18.0.N/24 and ``lo``, both up; no default route, so lab traffic
  never leaves the bridge. The other end of eth0, ``ndlab0pN``, is a port of bridge ``ndlab0`` (198.18.0.254/24)
  in the root namespace: the controller's side.
- a keeper process: PID 1 of the node's own PID namespace, holding its mount, UTS and IPC namespaces. It mounts
  private overlays (the host's directory below, a tmpfs above) on /etc, /var, /root, /tmp, /dev and /run, fresh
  /proc and /sys, sets the hostname ``nodeN``, starts sshd on the node's address and reaps orphans. Killing it
  ends every process of the node and drops all of the node's mounts at once, which keeps `down` simple and makes
  it work after any crash: nothing of a node is mounted in the host's mount namespace.
"""

from __future__ import annotations

import ctypes
import json
import os
import pathlib
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

from .common import (LabError, lab_lock, pid_alive, pid_cmdline, all_pids, read_json, require_root, run,
                     ensure_ssh_keypair, state_dir, tool, write_inventory, write_json, write_text, SYSTEM_PATH)

KIND = 'netns'
BRIDGE = 'ndlab0'
BRIDGE_MAC = '02:00:c6:12:00:fe'  # fixed, so the controller's MAC does not change while ports join
NET_PREFIX = '198.18.0.'
PREFIXLEN = 24
CONTROLLER = NET_PREFIX + '254'
MAX_NODES = 250
NETNS_DIR = pathlib.Path('/run/netns')
NETNS_RE = re.compile(r'^ndlab-node(\d+)$')
VETH_RE = re.compile(r'^ndlab0p(\d+)$')
KEEPER_ARG = '_netns-keeper'  # hidden subcommand of tests/lab/lab that runs the keeper
LAB_SCRIPT = pathlib.Path(__file__).resolve().parent.parent / 'lab'
# Mounted in this order; /run comes last because the tmpfs that holds the upper layers lives under it.
PRIVATE_DIRS = ('/etc', '/var', '/root', '/tmp', '/dev', '/run')
NF_LOG_ALL_NETNS = pathlib.Path('/proc/sys/net/netfilter/nf_log_all_netns')
NODE_ENV = {'PATH': SYSTEM_PATH, 'HOME': '/root', 'USER': 'root', 'LOGNAME': 'root', 'SHELL': '/bin/sh',
            'LANG': 'C.UTF-8'}
UP_TIMEOUT = 60  # seconds for all keepers to report and every sshd to answer


def node_name(index):
    return 'node%d' % index


def netns_name(index):
    return 'ndlab-node%d' % index


def veth_name(index):
    return 'ndlab0p%d' % index


def node_address(index):
    return NET_PREFIX + str(index)


def _check_nodes(nodes):
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
        raise LabError('nodes must be an integer from 1 to %d (got %r): pass --nodes N' % (MAX_NODES, nodes))
    return nodes


class NetnsLab:
    """The netns lab on this machine (there is one: its names and addresses are fixed)."""

    kind = KIND

    def __init__(self):
        self.dir = state_dir(KIND)
        self.state_file = self.dir / 'state.json'
        self.ssh_dir = self.dir / 'ssh'
        self.key_file = self.ssh_dir / 'id_ed25519'
        self.host_key = self.ssh_dir / 'ssh_host_ed25519_key'
        self.authorized_keys = self.ssh_dir / 'authorized_keys'
        self.sshd_config = self.ssh_dir / 'sshd_config'
        self.inventory_file = self.dir / 'inventory.yml'
        self.nf_log_saved = self.dir / 'nf_log_all_netns.saved'

    # ---------------------------------------------------------------- public API (see /tmp/lab-contract.md)

    def up(self, nodes, **opts):
        """Start N nodes; a no-op when the same N is already up and healthy."""
        if opts:
            raise LabError('the netns kind has no option %s (--kvm is for --kind vm)' % ', '.join(sorted(opts)))
        nodes = _check_nodes(nodes)
        require_root()
        with lab_lock('netns up'):
            self._up_locked(nodes)

    def _up_locked(self, nodes):
        state = read_json(self.state_file)
        if state is not None:
            if state.get('phase') == 'up' and state.get('nodes') == nodes:
                problems = self._problems(state)
                if not problems:
                    return
                raise LabError('the netns lab is up but broken (%s): run `tests/lab/lab down --kind netns`, then up '
                               'again' % '; '.join(problems))
            raise LabError('the netns lab is already %s with %s nodes (asked for %d): run `tests/lab/lab down --kind '
                           'netns` first' % (state.get('phase', 'up'), state.get('nodes'), nodes))
        leftovers = self._leftovers()
        if leftovers:
            raise LabError('an earlier netns lab left things behind (%s): run `tests/lab/lab down --kind netns` first'
                           % _describe(leftovers))
        self._preflight()
        try:
            self._up(nodes)
        except BaseException:
            # Leave nothing half made: a failed `up` cleans up after itself, then reports the first error.
            try:
                self._down()
            except (LabError, OSError) as exc:
                sys.stderr.write('lab: cleaning up after the failed up also failed: %s\n' % exc)
            raise

    def down(self):
        """Remove everything the netns kind made; idempotent, needs no state (works after a crash)."""
        require_root()
        with lab_lock('netns down'):
            self._down()

    def _down(self):
        state = read_json(self.state_file, {})
        self._kill_processes(state)
        ip = tool('ip', 'iproute2')
        for link in self._lab_links():
            # Deleting the root-namespace end of a veth removes its peer too, synchronously.
            run([ip, 'link', 'del', 'dev', link], check=False)
        for name in self._lab_netns():
            run([ip, 'netns', 'del', name], check=False)
        self._restore_nf_log_all_netns()
        for mount_point in sorted(self._host_mounts_under_state(), reverse=True):
            run([tool('umount', 'mount'), '-l', mount_point], check=False)
        if self.dir.exists():
            shutil.rmtree(str(self.dir))
        leftovers = self._leftovers()
        if leftovers:
            raise LabError('down could not remove: %s' % _describe(leftovers))

    def status(self):
        state = read_json(self.state_file)
        result = {'kind': KIND, 'up': False, 'state_dir': str(self.dir), 'bridge': BRIDGE,
                  'controller': '%s/%d' % (CONTROLLER, PREFIXLEN), 'nodes': 0, 'hosts': [],
                  'ssh': {'user': 'root', 'port': 22, 'key_file': str(self.key_file)},
                  'nf_log_all_netns': self._nf_log_status(), 'warnings': []}
        if state is None:
            leftovers = self._leftovers()
            if leftovers:
                result['warnings'].append('leftovers of an earlier lab (run down): %s' % _describe(leftovers))
            return result
        hosts = []
        for index in range(1, state.get('nodes', 0) + 1):
            keeper = state.get('keepers', {}).get(node_name(index))
            alive = bool(keeper) and self._is_keeper(keeper) and (NETNS_DIR / netns_name(index)).exists()
            hosts.append({'name': node_name(index), 'address': node_address(index), 'netns': netns_name(index),
                          'keeper_pid': keeper, 'sshd_pid': self._sshd_pid(keeper) if alive else None,
                          'alive': alive})
        problems = self._problems(state)
        result.update({'up': state.get('phase') == 'up' and not problems, 'phase': state.get('phase'),
                       'nodes': state.get('nodes', 0), 'hosts': hosts, 'problems': problems,
                       'inventory': str(self.inventory_file) if self.inventory_file.exists() else None})
        result['warnings'].extend(_host_firewall_warnings())
        return result

    def exec(self, node, argv, timeout=None, input=None):  # pylint: disable=redefined-builtin
        """Run argv inside the node's namespaces; returns CompletedProcess (bytes), raises TimeoutExpired."""
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise LabError('exec needs a command as a non-empty list of strings (got %r)' % (argv,))
        keeper = self._keeper_for(node)
        argv = [tool('nsenter', 'util-linux'), '-t', str(keeper), '-m', '-u', '-i', '-n', '-p', '--'] + list(argv)
        # A new session, so that a timeout can kill the command and everything it started in the node.
        with subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(NODE_ENV), cwd='/',
                              start_new_session=True) as proc:
            try:
                stdout, stderr = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid)
                stdout, stderr = proc.communicate()
                raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr) from None
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)

    def inventory(self):
        state = read_json(self.state_file)
        if state is None or state.get('phase') != 'up' or not self.inventory_file.exists():
            raise LabError('the netns lab is down: run `tests/lab/lab up --kind netns --nodes N` first')
        return str(self.inventory_file)

    # ---------------------------------------------------------------- helpers for tests

    def nodes(self):
        state = read_json(self.state_file, {})
        return [node_name(index) for index in range(1, state.get('nodes', 0) + 1)]

    def address(self, node):
        return node_address(self._index(node))

    def keeper_pid(self, node):
        return self._keeper_for(node)

    # ---------------------------------------------------------------- up

    def _preflight(self):
        for name, package in (('ip', 'iproute2'), ('nsenter', 'util-linux'), ('unshare', 'util-linux'),
                              ('sshd', 'openssh-server'), ('ssh-keygen', 'openssh-client')):
            tool(name, package)
        used = run([tool('ip', 'iproute2'), '-o', '-4', 'addr', 'show']).stdout
        for line in used.splitlines():
            fields = line.split()
            if len(fields) > 3 and fields[3].startswith(NET_PREFIX):
                raise LabError('%s0/%d is already in use (%s on %s): the netns lab needs it for itself'
                               % (NET_PREFIX, PREFIXLEN, fields[3], fields[1]))

    def _up(self, nodes):
        self.dir.mkdir(parents=True, exist_ok=True)
        for directory in (self.dir.parent, self.dir):
            os.chmod(str(directory), 0o755)
        state = {'kind': KIND, 'phase': 'starting', 'nodes': nodes, 'started': time.time()}
        write_json(self.state_file, state)
        self._write_ssh_files()
        self._set_nf_log_all_netns()
        self._make_links(nodes)
        state['netns_inodes'] = {netns_name(i): os.stat(str(NETNS_DIR / netns_name(i))).st_ino
                                 for i in range(1, nodes + 1)}
        write_json(self.state_file, state)
        deadline = time.monotonic() + UP_TIMEOUT
        state['keepers'] = self._start_keepers(nodes, deadline)
        write_json(self.state_file, state)
        self._wait_for_sshd(nodes, deadline)
        write_inventory(self.inventory_file, {node_name(i): node_address(i) for i in range(1, nodes + 1)},
                        self.key_file, KIND)
        state['phase'] = 'up'
        state['up_seconds'] = round(time.time() - state['started'], 2)
        write_json(self.state_file, state)

    def _write_ssh_files(self):
        self.ssh_dir.mkdir(mode=0o700, exist_ok=True)
        ensure_ssh_keypair(self.key_file, 'netdebug-lab-netns')
        ensure_ssh_keypair(self.host_key, 'netdebug-lab-netns-host')
        write_text(self.authorized_keys, self.key_file.with_name('id_ed25519.pub').read_text(encoding='utf-8'),
                   0o600)
        # One config for every node; the node's ListenAddress comes on the command line.
        write_text(self.sshd_config, '\n'.join([
            '# sshd of the netdebug netns lab nodes, written by tests/lab/lab',
            'Port 22',
            'HostKey %s' % self.host_key,
            # the lab's key for root; a test's own non-root user brings its own (the -b row)
            'AuthorizedKeysFile %s .ssh/authorized_keys' % self.authorized_keys,
            'PermitRootLogin prohibit-password',
            'PubkeyAuthentication yes',
            'PasswordAuthentication no',
            'KbdInteractiveAuthentication no',
            'UsePAM yes',  # as on Debian; without PAM, sshd refuses a root account whose password is locked
            'UseDNS no',
            'PrintMotd no',
            'X11Forwarding no',
            'AcceptEnv LANG LC_*',
            'Subsystem sftp internal-sftp',
            'MaxStartups 200:30:400',  # many parallel Ansible forks may connect at once
            'MaxSessions 100',
            'PidFile none',
        ]) + '\n', 0o600)

    def _make_links(self, nodes):
        lines = ['link add %s address %s type bridge stp_state 0 forward_delay 0' % (BRIDGE, BRIDGE_MAC),
                 'addr add %s/%d dev %s' % (CONTROLLER, PREFIXLEN, BRIDGE),
                 'link set %s up' % BRIDGE]
        for i in range(1, nodes + 1):
            lines += ['netns add %s' % netns_name(i),
                      'link add %s type veth peer name eth0 address 02:00:c6:12:00:%02x netns %s'
                      % (veth_name(i), i, netns_name(i)),
                      'link set %s master %s up' % (veth_name(i), BRIDGE)]
        run([tool('ip', 'iproute2'), '-batch', '-'], input='\n'.join(lines) + '\n')

    def _keeper_config(self, index, nodes):
        hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
                 '%s\tcontroller' % CONTROLLER]
        hosts += ['%s\t%s' % (node_address(i), node_name(i)) for i in range(1, nodes + 1)]
        return {
            'hostname': node_name(index),
            'address': '%s/%d' % (node_address(index), PREFIXLEN),
            'layers': str(self.dir / 'nodes' / node_name(index) / 'layers'),
            'hosts': '\n'.join(hosts) + '\n',
            'ip': tool('ip', 'iproute2'),
            'sshd': [tool('sshd', 'openssh-server'), '-D', '-e', '-f', str(self.sshd_config),
                     '-o', 'ListenAddress=%s' % node_address(index)],
        }

    def _start_keepers(self, nodes, deadline):
        nsenter, unshare = tool('nsenter', 'util-linux'), tool('unshare', 'util-linux')
        procs = {}
        for i in range(1, nodes + 1):
            node_dir = self.dir / 'nodes' / node_name(i)
            (node_dir / 'layers').mkdir(parents=True, exist_ok=True)
            config = write_json(node_dir / 'keeper.json', self._keeper_config(i, nodes))
            argv = [nsenter, '--net=%s' % (NETNS_DIR / netns_name(i)), '--',
                    unshare, '--mount', '--uts', '--ipc', '--pid', '--fork', '--kill-child', '--propagation', 'private',
                    '--', sys.executable, str(LAB_SCRIPT), KEEPER_ARG, str(config)]
            with open(str(node_dir / 'keeper.log'), 'ab') as log:
                # A session of its own: the node outlives this command and its terminal.
                procs[i] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                            env=dict(NODE_ENV), cwd='/', start_new_session=True)
        keepers, errors = {}, []
        with selectors.DefaultSelector() as selector:
            for i, proc in procs.items():
                selector.register(proc.stdout, selectors.EVENT_READ, i)
            while len(keepers) + len(errors) < nodes:
                events = selector.select(max(0.0, deadline - time.monotonic()))
                if not events:
                    break
                for key, _mask in events:
                    i = key.data
                    line = key.fileobj.readline().decode('utf-8', 'replace').strip()
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    if line.startswith('ready '):
                        keepers[node_name(i)] = int(line.split()[1])
                    else:
                        errors.append('%s: %s (%s)' % (node_name(i), line or 'keeper exited',
                                                       self._keeper_log_tail(i)))
        missing = [node_name(i) for i in procs if node_name(i) not in keepers]
        if errors or missing:
            raise LabError('nodes did not start: %s' % ('; '.join(errors) or 'no answer from ' + ', '.join(missing)))
        return keepers

    def _keeper_log_tail(self, index):
        try:
            text = (self.dir / 'nodes' / node_name(index) / 'keeper.log').read_text(encoding='utf-8', errors='replace')
        except OSError:
            return 'no keeper log'
        return ' | '.join(text.strip().splitlines()[-5:]) or 'keeper log empty'

    def _wait_for_sshd(self, nodes, deadline):
        waiting = set(range(1, nodes + 1))
        while waiting:
            for i in sorted(waiting):
                if _ssh_banner(node_address(i)):
                    waiting.discard(i)
            if waiting and time.monotonic() > deadline:
                raise LabError('sshd did not answer on %s within %ds; keeper log of %s: %s'
                               % (', '.join(node_name(i) for i in sorted(waiting)), UP_TIMEOUT,
                                  node_name(min(waiting)), self._keeper_log_tail(min(waiting))))
            if waiting:
                time.sleep(0.05)

    def _set_nf_log_all_netns(self):
        """Let LOG and legacy TRACE in the nodes reach the kernel log; the old value is saved for `down`."""
        if not NF_LOG_ALL_NETNS.exists():
            return
        current = NF_LOG_ALL_NETNS.read_text(encoding='ascii').strip()
        if not self.nf_log_saved.exists():
            write_text(self.nf_log_saved, current + '\n', 0o600)
        if current != '1':
            try:
                NF_LOG_ALL_NETNS.write_text('1\n', encoding='ascii')
            except OSError as exc:
                raise LabError('cannot set net.netfilter.nf_log_all_netns=1 (%s): the lab needs to run in the '
                               'initial network namespace, as root' % exc) from exc

    # ---------------------------------------------------------------- down

    def _restore_nf_log_all_netns(self):
        if not self.nf_log_saved.exists():
            return
        saved = self.nf_log_saved.read_text(encoding='ascii').strip()
        if saved not in ('0', '1'):
            raise LabError('%s holds %r, not 0 or 1: set net.netfilter.nf_log_all_netns yourself and delete the file'
                           % (self.nf_log_saved, saved))
        if NF_LOG_ALL_NETNS.exists() and NF_LOG_ALL_NETNS.read_text(encoding='ascii').strip() != saved:
            NF_LOG_ALL_NETNS.write_text(saved + '\n', encoding='ascii')
        self.nf_log_saved.unlink()

    def _kill_processes(self, state):
        """SIGKILL the keepers (which ends each node's PID namespace), then anything else left in a lab netns."""
        for _attempt in range(100):
            keepers, members = self._lab_processes(state)
            if not keepers and not members:
                return
            for pid in keepers + (members if not keepers else []):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
            _reap(keepers + members)
        keepers, members = self._lab_processes(state)
        if keepers or members:
            raise LabError('processes of the netns lab survived SIGKILL: %s' % ', '.join(map(str, keepers + members)))

    def _lab_processes(self, state):
        """(keepers, members): live keeper processes, and live processes in a lab network namespace."""
        inodes = set(state.get('netns_inodes', {}).values())
        for name in self._lab_netns():
            try:
                inodes.add(os.stat(str(NETNS_DIR / name)).st_ino)
            except OSError:
                pass
        keepers, members = [], []
        for pid in all_pids():
            if pid == os.getpid() or not pid_alive(pid):
                continue
            if self._is_keeper(pid):
                keepers.append(pid)
                continue
            try:
                netns = os.stat('/proc/%d/ns/net' % pid).st_ino
            except OSError:
                continue
            if netns in inodes:
                members.append(pid)
        return keepers, members

    def _host_mounts_under_state(self):
        prefix = str(self.dir) + '/'
        return [mnt for mnt, _fstype in _mountinfo('/proc/self/mountinfo') if mnt.startswith(prefix)]

    # ---------------------------------------------------------------- inspection

    @staticmethod
    def _is_keeper(pid):
        cmd = pid_cmdline(pid)
        return any(arg == KEEPER_ARG and cmd[pos - 1].endswith('/lab') for pos, arg in enumerate(cmd) if pos) \
            and pid_alive(pid)

    @staticmethod
    def _lab_netns():
        try:
            return sorted(name for name in os.listdir(str(NETNS_DIR)) if NETNS_RE.match(name))
        except FileNotFoundError:
            return []

    @staticmethod
    def _lab_links():
        out = run([tool('ip', 'iproute2'), '-o', 'link', 'show']).stdout
        names = [line.split(':')[1].strip().split('@')[0] for line in out.splitlines() if ':' in line]
        # veths first: the bridge goes last.
        return sorted((n for n in names if VETH_RE.match(n)), key=lambda n: int(VETH_RE.match(n).group(1))) + \
            [n for n in names if n == BRIDGE]

    def _leftovers(self):
        keepers, members = self._lab_processes(read_json(self.state_file, {}))
        found = {'netns': self._lab_netns(), 'links': self._lab_links(), 'processes': sorted(keepers + members),
                 'mounts': self._host_mounts_under_state(),
                 'state_dir': [str(self.dir)] if self.dir.exists() else []}
        return {key: value for key, value in found.items() if value}

    def _problems(self, state):
        problems = []
        for index in range(1, state.get('nodes', 0) + 1):
            name = node_name(index)
            keeper = state.get('keepers', {}).get(name)
            if not (NETNS_DIR / netns_name(index)).exists():
                problems.append('%s: network namespace %s is gone' % (name, netns_name(index)))
            elif not keeper or not self._is_keeper(keeper):
                problems.append('%s: keeper %s is not running' % (name, keeper))
        return problems

    def _index(self, node):
        state = read_json(self.state_file)
        if state is None or state.get('phase') != 'up':
            raise LabError('the netns lab is down: run `tests/lab/lab up --kind netns --nodes N` first')
        match = re.match(r'^node(\d+)$', str(node))
        if not match or not 1 <= int(match.group(1)) <= state['nodes']:
            raise LabError('unknown node %r: the netns lab has node1..node%d' % (node, state['nodes']))
        return int(match.group(1))

    def _keeper_for(self, node):
        index = self._index(node)
        keeper = read_json(self.state_file, {}).get('keepers', {}).get(node_name(index))
        if not keeper or not self._is_keeper(keeper):
            raise LabError('%s is not running (its keeper %s is gone): run `tests/lab/lab down --kind netns` and up '
                           'again' % (node_name(index), keeper))
        return keeper

    @staticmethod
    def _sshd_pid(keeper):
        try:
            with open('/proc/%d/task/%d/children' % (keeper, keeper), encoding='ascii') as fh:
                children = [int(pid) for pid in fh.read().split()]
        except OSError:
            return None
        for pid in children:
            try:
                with open('/proc/%d/comm' % pid, encoding='utf-8', errors='replace') as fh:
                    if fh.read().strip() == 'sshd':
                        return pid
            except OSError:
                continue
        return None

    def _nf_log_status(self):
        current = NF_LOG_ALL_NETNS.read_text(encoding='ascii').strip() if NF_LOG_ALL_NETNS.exists() else None
        saved = self.nf_log_saved.read_text(encoding='ascii').strip() if self.nf_log_saved.exists() else None
        return {'current': current, 'saved_by_lab': saved}


# -------------------------------------------------------------------- module helpers

def _describe(leftovers):
    return '; '.join('%s: %s' % (key, ', '.join(map(str, values))) for key, values in sorted(leftovers.items()))


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pids):
    """Collect exit statuses of our own children among pids (keepers started by this process)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def _ssh_banner(address, port=22, timeout=1.0):
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            return sock.recv(8).startswith(b'SSH-')
    except OSError:
        return False


def _unescape_mount_path(path):
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), path)


def _mountinfo(path):
    """[(mount point, fstype)] from a mountinfo file."""
    mounts = []
    with open(path, encoding='utf-8', errors='replace') as fh:
        for line in fh:
            fields = line.split()
            sep = fields.index('-')
            mounts.append((_unescape_mount_path(fields[4]), fields[sep + 1]))
    return mounts


def forward_drops(legacy_save, nft_ruleset):
    """Which host rulesets drop forwarded packets by policy, from `iptables-legacy-save` and `nft list ruleset`."""
    found = []
    if re.search(r'^:FORWARD DROP\b', legacy_save or '', re.M):
        found.append('iptables-legacy filter FORWARD policy DROP')
    if re.search(r'hook forward[^;]*;[^;]*policy drop', nft_ruleset or ''):
        found.append('an nftables forward chain with policy drop (iptables-nft or nft)')
    return found


def _host_firewall_warnings():
    """Read-only look at the host firewall: with br_netfilter, bridged lab traffic crosses the host's FORWARD hooks."""
    call = pathlib.Path('/proc/sys/net/bridge/bridge-nf-call-iptables')
    if not call.exists() or call.read_text(encoding='ascii').strip() != '1':
        return []
    save = shutil.which('iptables-legacy-save', path=SYSTEM_PATH)
    nft = shutil.which('nft', path=SYSTEM_PATH)
    # iptables-legacy-save lists only the tables that exist and nft only reads: neither creates anything.
    dropping = forward_drops(run([save], check=False).stdout if save else '',
                             run([nft, 'list', 'ruleset'], check=False).stdout if nft else '')
    if not dropping:
        return []
    return ['br_netfilter is on (net.bridge.bridge-nf-call-iptables=1), so traffic between lab nodes crosses the '
            'host firewall, which has %s: node-to-node traffic may be dropped. The lab never changes the host '
            'firewall; accept traffic on bridge %s there if you need it.' % (' and '.join(dropping), BRIDGE)]


# -------------------------------------------------------------------- the keeper (runs inside a new node)

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH = 2


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc, source, target, fstype, flags=0, data=''):
    if libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode()) != 0:
        err = ctypes.get_errno()
        raise LabError('mount -t %s %s %s -o %s: %s' % (fstype, source, target, data, os.strerror(err)))


def _node_network(cfg):
    run([cfg['ip'], '-batch', '-'], input='link set lo up\naddr add %s dev eth0\nlink set eth0 up\n' % cfg['address'])


def _node_mounts(cfg):
    libc = _libc()
    # Detach what the private directories, /proc and /sys would only hide, and every copy of the host's namespace
    # mounts (ip netns, ...): those would keep the host's namespaces alive for as long as the node lives.
    covered = PRIVATE_DIRS + ('/proc', '/sys')
    for mount_point, fstype in sorted(_mountinfo('/proc/self/mountinfo'), reverse=True):
        if fstype == 'nsfs' or mount_point in ('/proc', '/sys') or \
                any(mount_point.startswith(directory + '/') for directory in covered):
            libc.umount2(mount_point.encode(), _MNT_DETACH)
    layers = cfg['layers']
    _mount(libc, 'ndlab-layers', layers, 'tmpfs', _MS_NOSUID | _MS_NODEV, 'mode=0700')
    for directory in PRIVATE_DIRS:
        layer = os.path.join(layers, directory.strip('/'))
        os.makedirs(layer + '/upper')
        os.makedirs(layer + '/work')
        # Keep the host directory's mode on the upper layer, so that /tmp stays 1777 and /root stays 0700.
        os.chmod(layer + '/upper', os.stat(directory).st_mode & 0o7777)
        _mount(libc, 'ndlab' + directory.replace('/', '-'), directory, 'overlay', 0,
               'lowerdir=%s,upperdir=%s/upper,workdir=%s/work' % (directory, layer, layer))
        if directory == '/dev':
            _mount(libc, 'devpts', '/dev/pts', 'devpts', _MS_NOSUID | _MS_NOEXEC,
                   'newinstance,ptmxmode=0666,mode=0620,gid=5')
            _mount(libc, 'shm', '/dev/shm', 'tmpfs', _MS_NOSUID | _MS_NODEV, 'mode=1777')
    _mount(libc, 'proc', '/proc', 'proc', _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount(libc, 'sysfs', '/sys', 'sysfs', _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)


def _node_identity(cfg):
    socket.sethostname(cfg['hostname'])
    for path, text in (('/etc/hostname', cfg['hostname'] + '\n'), ('/etc/hosts', cfg['hosts']),
                       ('/etc/machine-id', os.urandom(16).hex() + '\n')):
        with open(path, 'w', encoding='utf-8') as fh:
            fh.write(text)
    os.makedirs('/run/sshd', mode=0o755, exist_ok=True)  # sshd's privilege separation directory


def _reap_forever():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # SIGCHLD stays pending while blocked, so no exit is missed between a reap and the wait.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        signal.sigtimedwait({signal.SIGCHLD}, 60)


def keeper_main(args):
    """Entry point of `lab _netns-keeper CONFIG_FILE`: PID 1 of a node, started by NetnsLab._start_keepers."""
    with open(args[0], encoding='utf-8') as fh:
        cfg = json.load(fh)
    try:
        host_pid = int(os.readlink('/proc/self'))  # the host's /proc is still mounted here
        _node_network(cfg)
        _node_mounts(cfg)
        _node_identity(cfg)
        subprocess.Popen(cfg['sshd'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                         cwd='/')
    except (OSError, LabError, subprocess.SubprocessError) as exc:
        sys.stdout.write('error %s\n' % str(exc).replace('\n', ' | '))
        sys.stdout.flush()
        return 1
    sys.stdout.write('ready %d\n' % host_pid)
    sys.stdout.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    _reap_forever()
    return 0
