"""Tests of the vm kind of the lab: real Debian 12 VMs under qemu (TCG), reached over SSH.

Run as root: pytest tests/lab/test_lab_vm.py.  The first run builds the image (about 1.5 minutes), later
runs use the cache; two VMs boot to SSH in well under a minute under TCG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(LAB_DIR))

# pylint: disable=wrong-import-position
from labkit import common, vm  # noqa: E402
from labkit.vm import VmLab  # noqa: E402

LAB = LAB_DIR / 'lab'
NODES = ('node1', 'node2')
EXEC_TIMEOUT = 120


def leftovers() -> dict:
    """What the vm kind can leave on the machine: qemu processes, links, state."""
    return {'qemu': vm.lab_qemu_pids(), 'links': vm.lab_links(), 'state': common.state_dir('vm').exists()}


def run_on(lab, node, argv, **kwargs):
    proc = lab.exec(node, argv, timeout=EXEC_TIMEOUT, **kwargs)
    assert proc.returncode == 0, (node, argv, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout.decode()


def ansible_bin(name):
    """The ansible CLI next to the interpreter running pytest (the project's .venv), else from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def clean_machine(vm_lab):
    """Start from nothing: clear what a crashed run left, but never take over a lab that is up and running."""
    if os.geteuid() != 0:
        pytest.fail('the vm lab tests need root (taps, bridge, qemu)')
    if vm_lab.status()['up']:
        pytest.fail('a vm lab is already up (another run?): stop it with `tests/lab/lab down --kind vm` first')
    vm_lab.down()
    assert leftovers() == {'qemu': [], 'links': [], 'state': False}


@pytest.fixture(scope='module')
def lab():
    vm_lab = VmLab()
    clean_machine(vm_lab)
    vm_lab.up(len(NODES))
    yield vm_lab
    vm_lab.down()


def test_status_reports_nodes(lab):
    status = lab.status()
    assert status['up'] is True
    assert status['nodes'] == 2
    assert status['addresses'] == {'node1': '198.18.1.1', 'node2': '198.18.1.2'}
    assert all(isinstance(pid, int) and common.pid_alive(pid) for pid in status['pids'].values())
    assert len(set(status['pids'].values())) == 2


def test_distinct_hostnames(lab):
    assert [run_on(lab, node, ['hostname']).strip() for node in NODES] == list(NODES)


def test_each_vm_runs_its_own_kernel(lab):
    host_boot_id = Path('/proc/sys/kernel/random/boot_id').read_text().strip()
    boot_ids = [run_on(lab, node, ['cat', '/proc/sys/kernel/random/boot_id']).strip() for node in NODES]
    assert len(set(boot_ids)) == 2 and host_boot_id not in boot_ids
    releases = {run_on(lab, node, ['uname', '-r']).strip() for node in NODES}
    assert releases == {lab.status()['kernel_release']}
    machine_ids = {run_on(lab, node, ['cat', '/etc/machine-id']).strip() for node in NODES}
    assert len(machine_ids) == 2


def loaded_modules(lab, node):
    return {line.split()[0] for line in run_on(lab, node, ['lsmod']).splitlines()[1:]}


def test_modprobe_loads_a_real_module(lab):
    for node in NODES:
        assert 'xt_LOG' not in loaded_modules(lab, node), f'xt_LOG already loaded at boot on {node}'
        run_on(lab, node, ['modprobe', 'xt_LOG'])
        assert 'xt_LOG' in loaded_modules(lab, node)
        assert '/xt_LOG.ko' in run_on(lab, node, ['modinfo', '-n', 'xt_LOG'])


def test_systemd_manages_rsyslog_and_journald(lab):
    for node in NODES:
        assert run_on(lab, node, ['readlink', '/proc/1/exe']).strip() == '/usr/lib/systemd/systemd'
        states = run_on(lab, node, ['systemctl', 'is-active', 'rsyslog', 'systemd-journald', 'ssh']).split()
        assert states == ['active', 'active', 'active']


def test_both_iptables_variants(lab):
    out = run_on(lab, 'node1', ['update-alternatives', '--list', 'iptables']).split()
    assert sorted(out) == ['/usr/sbin/iptables-legacy', '/usr/sbin/iptables-nft']
    assert '(legacy)' in run_on(lab, 'node1', ['iptables-legacy', '-V'])
    assert '(nf_tables)' in run_on(lab, 'node1', ['iptables-nft', '-V'])
    run_on(lab, 'node1', ['nft', 'list', 'ruleset'])
    run_on(lab, 'node1', ['conntrack', '-L'])


def test_ping_between_vms_and_from_controller(lab):
    run_on(lab, 'node1', ['ping', '-c', '2', '-W', '5', '198.18.1.2'])
    run_on(lab, 'node2', ['ping', '-c', '2', '-W', '5', 'node1'])
    run_on(lab, 'node1', ['ping', '-c', '1', '-W', '5', vm.CONTROLLER])
    for address in ('198.18.1.1', '198.18.1.2'):
        proc = subprocess.run(['ping', '-c', '1', '-W', '5', address], capture_output=True, check=False)
        assert proc.returncode == 0, proc.stdout


def test_exec_passes_exit_code_output_and_input(lab):
    proc = lab.exec('node1', ['sh', '-c', 'cat; echo oops >&2; exit 7'], timeout=EXEC_TIMEOUT, input=b'hello')
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, b'hello', b'oops\n')
    # Arguments reach the node as they are: no word splitting, no expansion by the remote shell.
    assert run_on(lab, 'node2', ['printf', '%s|', 'a b', '$HOME', '*']) == 'a b|$HOME|*|'


def test_exec_rejects_unknown_node(lab):
    with pytest.raises(common.LabError, match='node9'):
        lab.exec('node9', ['true'])


def test_cli_exec_and_inventory(lab):  # pylint: disable=unused-argument
    proc = subprocess.run([str(LAB), 'exec', '--kind', 'vm', 'node2', '--', 'sh', '-c', 'hostname; exit 3'],
                          capture_output=True, text=True, timeout=EXEC_TIMEOUT, check=False)
    assert (proc.returncode, proc.stdout) == (3, 'node2\n'), proc.stderr
    proc = subprocess.run([str(LAB), 'inventory', '--kind', 'vm'], capture_output=True, text=True, check=True)
    inventory = proc.stdout.splitlines()[-1]
    text = Path(inventory).read_text()
    assert 'node1:' in text and 'node2:' in text and 'ansible_host: "198.18.1.2"' in text
    assert 'ansible_pipelining: true' in text  # the VM tests run Ansible with pipelining, the netns ones without


def test_ansible_ping_over_ssh(lab):
    proc = subprocess.run([ansible_bin('ansible'), '-i', lab.inventory(), 'lab', '-m', 'ansible.builtin.ping'],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_HOST_KEY_CHECKING='False'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for node in NODES:
        assert f'{node} | SUCCESS' in proc.stdout


def test_up_again_is_a_no_op_and_other_size_is_refused(lab):
    pids = lab.status()['pids']
    lab.up(2)
    assert lab.status()['pids'] == pids
    with pytest.raises(common.LabError, match='down --kind vm'):
        lab.up(3)
    assert lab.status()['pids'] == pids


def test_bad_node_count_is_refused_before_anything_changes(lab):
    before = leftovers()
    for nodes in (0, 4, '2'):
        with pytest.raises(common.LabError, match='--nodes'):
            lab.up(nodes)
    assert leftovers() == before


def test_down_leaves_nothing_behind(lab):
    pids = list(lab.status()['pids'].values())
    lab.down()
    assert leftovers() == {'qemu': [], 'links': [], 'state': False}
    assert not any(common.pid_alive(pid) for pid in pids)
    lab.down()  # idempotent
    assert lab.status()['up'] is False


def test_down_cleans_up_after_a_crash():
    """A lab whose state was lost (a crash of the lab itself) is still removed by down."""
    crashed = VmLab()
    clean_machine(crashed)
    pid = None
    try:
        crashed.up(1)
        pid = crashed.status()['pids']['node1']
        shutil.rmtree(common.state_dir('vm'))
        assert common.pid_alive(pid) and vm.BRIDGE in vm.lab_links()
        with pytest.raises(common.LabError, match='leftovers'):
            crashed.up(1)
    finally:
        crashed.down()
    assert leftovers() == {'qemu': [], 'links': [], 'state': False}
    assert pid and not common.pid_alive(pid)


def test_failed_boot_shows_the_console_and_stops_the_vms():
    failing = VmLab()
    clean_machine(failing)
    try:
        with pytest.raises(common.LabError) as error:
            failing.up(1, boot_timeout=1)
        message = str(error.value)
        assert 'SSH did not answer within 1 s on node1' in message
        assert '--- node1 console (/run/netdebug-lab/vm/node1/console.log)' in message
        assert 'down --kind vm' in message
        assert failing.status()['phase'] == 'failed' and vm.lab_qemu_pids() == []
        with pytest.raises(common.LabError, match='down --kind vm'):
            failing.up(1)
    finally:
        failing.down()
    assert leftovers() == {'qemu': [], 'links': [], 'state': False}
