"""The vm kind of the lab: Debian 12 VMs under qemu on a bridge in the root namespace.

Each VM boots the cached image (labkit.image) through its own qcow2 overlay, so the base stays clean,
with qemu's -kernel/-initrd and root=/dev/vda.  Its identity (hostname, address, root's
authorized_keys, SSH host key) comes from a second, raw disk holding a tar archive that a unit baked
into the image applies before the network and sshd start.  The serial console goes to a file so a
failed boot can be shown.  TCG by default: on these machines KVM guests hang at early boot.

Layout: bridge ndlabvm0 198.18.1.254/24, tap ndlabvmtN and nodeN = 198.18.1.N/24 per VM; state,
overlays, consoles and the lab key under /run/netdebug-lab/vm/.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

from . import common, image

KIND = 'vm'
BRIDGE = 'ndlabvm0'
TAP_PREFIX = 'ndlabvmt'
NET_PREFIX = '198.18.1.'
CONTROLLER = NET_PREFIX + '254'
PREFIX_LEN = 24
MAX_NODES = 3  # a 2-core machine: more TCG guests only make every boot slower
MEMORY_MB = 1024
BOOT_TIMEOUT = {'tcg': 900, 'kvm': 300}  # seconds until SSH answers on every node
GUEST_NAME = 'ndlab-vm-'  # qemu -name prefix: how down finds our qemu processes after a crash
STOP_WAIT = 15


def node_name(index: int) -> str:
    return f'node{index}'


def node_address(index: int) -> str:
    return f'{NET_PREFIX}{index}'


def node_mac(index: int) -> str:
    return f'52:54:00:4e:44:{index:02x}'


def tap_name(index: int) -> str:
    return f'{TAP_PREFIX}{index}'


def kernel_cmdline(index: int, machine_id: str) -> str:
    """Root on the overlay, console on the serial port, identity known to systemd from its first line."""
    return ' '.join([
        'root=/dev/vda', 'rw', 'console=ttyS0,115200', 'net.ifnames=0', 'panic=1',
        f'systemd.hostname={node_name(index)}', f'systemd.machine_id={machine_id}',
    ])


def network_unit(index: int) -> str:
    """systemd-networkd file: the lab address only, no gateway (nothing in the lab routes anywhere else)."""
    return (f'[Match]\nMACAddress={node_mac(index)}\n\n'
            f'[Network]\nAddress={node_address(index)}/{PREFIX_LEN}\n'
            'LinkLocalAddressing=no\nIPv6AcceptRA=no\n')


def hosts_file(nodes: int) -> str:
    lines = ['127.0.0.1\tlocalhost', f'{CONTROLLER}\tcontroller']
    lines += [f'{node_address(i)}\t{node_name(i)}' for i in range(1, nodes + 1)]
    return '\n'.join(lines) + '\n'


def config_archive(files: dict) -> bytes:
    """Tar archive (the VM's raw config disk) of {name: bytes}; a tar is a whole number of 512-byte sectors."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.USTAR_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def console_tail(path: Path, lines: int = 40) -> str:
    """Last lines of a serial console log, without carriage returns and terminal escapes."""
    try:
        text = path.read_bytes()[-65536:].decode('utf-8', 'replace')
    except FileNotFoundError:
        return '(no console log)'
    text = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]|\r', '', text)
    return '\n'.join(text.splitlines()[-lines:])


def _is_lab_qemu(cmdline: list) -> bool:
    return bool(cmdline) and os.path.basename(cmdline[0]).startswith('qemu-system') and any(
        arg.startswith('guest=' + GUEST_NAME) for arg in cmdline)


def lab_qemu_pids() -> list:
    """Every running qemu started by this lab kind (found by its -name), with or without state."""
    return [pid for pid in common.all_pids() if _is_lab_qemu(common.pid_cmdline(pid))]


def lab_links() -> list:
    """Names of this kind's taps and bridge that exist now."""
    out = common.run([common.tool('ip', 'iproute2'), '-o', 'link', 'show']).stdout
    names = [line.split(':')[1].strip().split('@')[0] for line in out.splitlines() if ':' in line]
    return [name for name in names if name == BRIDGE or re.match(rf'^{TAP_PREFIX}\d+$', name)]


def _disable_ipv6(ifname: str):
    # Keep router solicitations and MLD reports off the lab segment; only links we created are touched.
    path = Path(f'/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6')
    if path.exists():
        path.write_text('1\n')


class VmLab:
    """Debian VMs under qemu; see the module docstring and docs/lab-vm.md."""

    kind = KIND

    def __init__(self):
        self.dir = common.state_dir(KIND)
        self.state_file = self.dir / 'state.json'
        self.key_file = self.dir / 'id_ed25519'
        self.inventory_file = self.dir / 'inventory.yml'

    # -- state -------------------------------------------------------------------------------------

    def _state(self) -> dict:
        return common.read_json(self.state_file, default={}) or {}

    def _save(self, state: dict):
        common.write_json(self.state_file, state)

    @contextlib.contextmanager
    def _locked(self):
        """Serialise up and down of this machine's one vm lab (two suites starting it at once wait, not clash)."""
        lock_path = common.STATE_ROOT / f'{KIND}.lock'  # beside the state directory: down removes that one
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, 'w', encoding='ascii') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _node_dir(self, name: str) -> Path:
        return self.dir / name

    def _pid(self, name: str):
        try:
            pid = int((self._node_dir(name) / 'qemu.pid').read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_lab_qemu(common.pid_cmdline(pid)) else None

    def _alive(self, state: dict) -> dict:
        return {name: bool(self._pid(name)) for name in state.get('addresses', {})}

    # -- up ----------------------------------------------------------------------------------------

    @staticmethod
    def _check_opts(nodes, opts: dict) -> dict:
        unknown = sorted(set(opts) - {'kvm', 'memory', 'boot_timeout'})
        if unknown:
            raise common.LabError(f'unknown option(s) for the vm kind: {", ".join(unknown)}; '
                                  'supported: kvm, memory, boot_timeout')
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
            raise common.LabError(f'--nodes must be an integer from 1 to {MAX_NODES} for the vm kind '
                                  f'(each VM is a full TCG guest on a 2-core machine), got {nodes!r}')
        kvm = bool(opts.get('kvm'))
        memory = opts.get('memory') or MEMORY_MB
        if not isinstance(memory, int) or memory < 256:
            raise common.LabError(f'memory must be an integer number of MiB >= 256, got {memory!r}')
        try:
            timeout = float(opts.get('boot_timeout') or os.environ.get('NETDEBUG_LAB_VM_BOOT_TIMEOUT') or 0)
        except ValueError as exc:
            raise common.LabError('boot_timeout / NETDEBUG_LAB_VM_BOOT_TIMEOUT must be a number of seconds') from exc
        timeout = timeout or BOOT_TIMEOUT['kvm' if kvm else 'tcg']
        if kvm and not os.access('/dev/kvm', os.R_OK | os.W_OK):
            raise common.LabError('--kvm given but /dev/kvm is not usable; drop --kvm to use TCG')
        if not os.path.exists('/dev/net/tun'):
            raise common.LabError('/dev/net/tun is missing: the vm kind needs tap devices (modprobe tun)')
        return {'kvm': kvm, 'memory': memory, 'boot_timeout': float(timeout)}

    def up(self, nodes: int, **opts) -> None:
        """Boot N VMs in parallel; return once SSH answers on each, else raise with the console tails."""
        common.require_root()
        opts = self._check_opts(nodes, opts)
        with self._locked():
            self._up(nodes, opts)

    def _up(self, nodes: int, opts: dict) -> None:
        state = self._state()
        if state:
            if state.get('phase') == 'up' and state.get('nodes') == nodes and all(self._alive(state).values()):
                return
            raise common.LabError(
                f'the vm lab is already {state.get("phase", "present")} with {state.get("nodes")} node(s) '
                f'(some VMs may have stopped); run `tests/lab/lab down --kind vm` first')
        leftovers = lab_links() + [f'qemu pid {pid}' for pid in lab_qemu_pids()]
        if leftovers:
            raise common.LabError(f'leftovers of an earlier vm lab exist ({", ".join(leftovers)}); '
                                  'run `tests/lab/lab down --kind vm` first')
        qemu = common.tool('qemu-system-x86_64', 'qemu-system-x86')
        common.tool('qemu-img', 'qemu-utils')
        meta = image.ensure_image()
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        names = [node_name(i) for i in range(1, nodes + 1)]
        state = {'kind': KIND, 'phase': 'starting', 'nodes': nodes, 'accel': 'kvm' if opts['kvm'] else 'tcg',
                 'memory_mb': opts['memory'], 'image': meta['dir'], 'kernel_release': meta['kernel_release'],
                 'addresses': {node_name(i): node_address(i) for i in range(1, nodes + 1)}}
        self._save(state)
        try:
            common.ensure_ssh_keypair(self.key_file, 'netdebug-lab-vm')
            self._make_network(nodes)
            for index in range(1, nodes + 1):
                self._start_vm(qemu, index, nodes, meta, opts)
            state['phase'] = 'booting'
            self._save(state)
            self._wait_ssh(names, opts['boot_timeout'])
        except BaseException:
            # Do not leave TCG guests burning CPU; the rest (logs, links) stays for inspection until `down`.
            self._stop_vms()
            state['phase'] = 'failed'
            self._save(state)
            raise
        # Pipelining: one SSH call per task instead of four or five, each a process start on a slow TCG guest
        # (a one-node capture took 180 s instead of 213). The netns lab keeps Ansible's default, so both are tested.
        common.write_inventory(self.inventory_file, state['addresses'], self.key_file, KIND,
                               extra_vars={'ansible_pipelining': True})
        state.update(phase='up', boot_seconds=round(time.monotonic() - started, 1))
        self._save(state)

    def _make_network(self, nodes: int):
        ip = common.tool('ip', 'iproute2')
        common.run([ip, 'link', 'add', BRIDGE, 'type', 'bridge'])
        _disable_ipv6(BRIDGE)
        common.run([ip, 'addr', 'add', f'{CONTROLLER}/{PREFIX_LEN}', 'dev', BRIDGE])
        common.run([ip, 'link', 'set', BRIDGE, 'up'])
        for index in range(1, nodes + 1):
            tap = tap_name(index)
            common.run([ip, 'tuntap', 'add', 'dev', tap, 'mode', 'tap'])
            _disable_ipv6(tap)
            common.run([ip, 'link', 'set', tap, 'master', BRIDGE, 'up'])

    def _config_disk(self, index: int, nodes: int, path: Path):
        host_key = self._node_dir(node_name(index)) / 'ssh_host_ed25519_key'
        common.ensure_ssh_keypair(host_key, f'root@{node_name(index)}')
        files = {
            'hostname': node_name(index) + '\n',
            'hosts': hosts_file(nodes),
            '10-ndlab.network': network_unit(index),
            'authorized_keys': Path(str(self.key_file) + '.pub').read_text(),
            'ssh_host_ed25519_key': host_key.read_text(),
            'ssh_host_ed25519_key.pub': Path(str(host_key) + '.pub').read_text(),
        }
        path.write_bytes(config_archive({name: text.encode() for name, text in files.items()}))

    def _start_vm(self, qemu: str, index: int, nodes: int, meta: dict, opts: dict):
        name = node_name(index)
        node_dir = self._node_dir(name)
        node_dir.mkdir(exist_ok=True)
        overlay, config = node_dir / 'overlay.qcow2', node_dir / 'config.tar'
        common.run([common.tool('qemu-img', 'qemu-utils'), 'create', '-q', '-f', 'qcow2', '-F', 'raw',
                    '-b', meta['rootfs_ext4'], str(overlay)])
        self._config_disk(index, nodes, config)
        # qemu64 under TCG advertises SVM, which only makes the guest load kvm modules for nothing.
        accel = ['-accel', 'kvm', '-cpu', 'host'] if opts['kvm'] else ['-accel', 'tcg', '-cpu', 'qemu64,-svm']
        argv = [
            qemu, '-name', f'guest={GUEST_NAME}{name},process={GUEST_NAME}{name}',
            '-machine', 'pc', *accel, '-smp', '1', '-m', str(opts['memory']),
            '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
            '-serial', f'file:{node_dir / "console.log"}',
            '-kernel', meta['vmlinuz'], '-initrd', meta['initrd_img'],
            '-append', kernel_cmdline(index, uuid.uuid4().hex),
            '-drive', f'file={overlay},if=virtio,format=qcow2,cache=unsafe',
            '-drive', f'file={config},if=virtio,format=raw,readonly=on',
            '-netdev', f'tap,id=net0,ifname={tap_name(index)},script=no,downscript=no',
            '-device', f'virtio-net-pci,netdev=net0,mac={node_mac(index)}',
            '-device', 'virtio-rng-pci',
            '-daemonize', '-pidfile', str(node_dir / 'qemu.pid'),
        ]
        common.run(argv, timeout=60)

    def _probe_ssh(self, address: str) -> bool:
        try:
            with socket.create_connection((address, 22), timeout=3):
                pass
        except OSError:
            return False
        argv = common.ssh_argv(address, self.key_file, connect_timeout=10) + ['--', 'true']
        try:
            return common.run(argv, check=False, timeout=60).returncode == 0
        except common.LabError:  # sshd accepted but stalled (a loaded host): try again on the next round
            return False

    def _boot_failure(self, names: list, why: str) -> common.LabError:
        tails = [f'--- {name} console ({self._node_dir(name) / "console.log"}), last lines:\n'
                 + console_tail(self._node_dir(name) / 'console.log') for name in names]
        return common.LabError(f'vm lab: {why}; run `tests/lab/lab down --kind vm` to clean up\n' + '\n'.join(tails))

    def _wait_ssh(self, names: list, timeout: float):
        deadline = time.monotonic() + timeout
        state = self._state()
        pending = list(names)
        while pending:
            for name in list(pending):
                if not self._pid(name):
                    raise self._boot_failure([name], f'qemu of {name} exited during boot')
                if self._probe_ssh(state['addresses'][name]):
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                raise self._boot_failure(pending, f'SSH did not answer within {timeout:.0f} s on {", ".join(pending)}')
            if pending:
                time.sleep(2)

    # -- down --------------------------------------------------------------------------------------

    def _stop_vms(self):
        pids = set(lab_qemu_pids())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_WAIT
        while any(common.pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in pids:
            if common.pid_alive(pid) and _is_lab_qemu(common.pid_cmdline(pid)):
                os.kill(pid, signal.SIGKILL)

    def down(self) -> None:
        """Stop every lab VM, delete taps and bridge, overlays and state; idempotent, works after a crash."""
        common.require_root()
        with self._locked():
            self._down()

    def _down(self) -> None:
        self._stop_vms()
        ip = common.tool('ip', 'iproute2')
        for link in sorted(lab_links(), key=lambda name: name == BRIDGE):  # taps first, then the bridge
            common.run([ip, 'link', 'del', link], check=False)
        left = lab_links()
        if left:
            raise common.LabError(f'could not delete {", ".join(left)}; delete them with `ip link del NAME`')
        if self.dir.exists():
            shutil.rmtree(self.dir)

    # -- queries -----------------------------------------------------------------------------------

    def status(self) -> dict:
        state = self._state()
        alive = self._alive(state)
        pids = {name: self._pid(name) for name in alive}
        return {
            'kind': KIND,
            'up': state.get('phase') == 'up' and bool(alive) and all(alive.values()),
            'phase': state.get('phase', 'down'),
            'nodes': state.get('nodes', 0),
            'addresses': state.get('addresses', {}),
            'pids': pids,
            'bridge': BRIDGE if state else None,
            'controller': CONTROLLER if state else None,
            'accel': state.get('accel'),
            'kernel_release': state.get('kernel_release'),
            'boot_seconds': state.get('boot_seconds'),
            'inventory': str(self.inventory_file) if self.inventory_file.exists() else None,
        }

    def _require_up(self) -> dict:
        state = self._state()
        if state.get('phase') != 'up':
            raise common.LabError('the vm lab is not up: run `tests/lab/lab up --kind vm --nodes N` first')
        return state

    def exec(self, node: str, argv: list, timeout: float = None, input: bytes = None):  # pylint: disable=redefined-builtin
        """Run argv on node over SSH; returns a CompletedProcess with the remote exit code and output (bytes).

        ssh itself exits 255 when it cannot connect.
        """
        state = self._require_up()
        if node not in state['addresses']:
            raise common.LabError(f'unknown node {node!r}: the vm lab has {", ".join(state["addresses"])}')
        if not argv:
            raise common.LabError('exec needs a command to run on the node')
        remote = shlex.join(str(arg) for arg in argv)
        ssh = common.ssh_argv(state['addresses'][node], self.key_file) + ['--', remote]
        proc = subprocess.run(ssh, input=input, capture_output=True, timeout=timeout, check=False,
                              env=common.command_env())
        return subprocess.CompletedProcess(list(argv), proc.returncode, proc.stdout, proc.stderr)

    def inventory(self) -> str:
        self._require_up()
        return str(self.inventory_file)
