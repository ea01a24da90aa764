"""Helpers shared by every lab kind: state directory, command runner, SSH keys and the Ansible inventory.

Stdlib only: the lab runs before anything else is installed and from any Python 3.9+.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

STATE_ROOT = pathlib.Path('/run/netdebug-lab')  # one directory per kind: /run/netdebug-lab/<kind>/
IMAGE_CACHE = pathlib.Path('/var/cache/netdebug-lab')  # VM images, kept across runs
SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
NODE_PYTHON = '/usr/bin/python3'
INVENTORY_GROUP = 'lab'
DEFAULT_TIMEOUT = 120


class LabError(Exception):
    """A lab operation failed; carries the command and its output when a command was the cause."""

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None):
        super().__init__(msg)
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __str__(self):
        parts = [self.msg]
        if self.cmd is not None:
            parts.append('command: %s' % ' '.join(str(a) for a in self.cmd))
        if self.rc is not None:
            parts.append('rc: %s' % self.rc)
        for name in ('stdout', 'stderr'):
            value = getattr(self, name)
            if isinstance(value, bytes):
                value = value.decode('utf-8', 'replace')
            if value and value.strip():
                parts.append('%s: %s' % (name, value.strip()[-2000:]))
        return '\n  '.join(parts)


def state_dir(kind):
    """The state directory of a kind (not created here)."""
    return STATE_ROOT / kind


@contextlib.contextmanager
def lab_lock(what, timeout=600):
    """Serialise `up` and `down` of the lab on this machine (a lock on STATE_ROOT itself, which `down` keeps)."""
    STATE_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(str(STATE_ROOT), os.O_RDONLY | os.O_DIRECTORY)  # not inherited: node processes never hold it
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    raise LabError('%s: another lab up/down has held %s for %ds; wait for it or find it with '
                                   '`fuser -v %s`' % (what, STATE_ROOT, timeout, STATE_ROOT)) from exc
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def require_root():
    if os.geteuid() != 0:
        raise LabError('the lab needs root (it creates namespaces, bridges and mounts): run it as root')


def tool(name, package):
    """Absolute path of a program, or a LabError naming the Debian package that provides it."""
    path = shutil.which(name, path=SYSTEM_PATH + os.pathsep + os.environ.get('PATH', ''))
    if not path:
        raise LabError('%s not found: install the Debian package %s (tools/setup installs everything the lab needs)'
                       % (name, package))
    return path


def command_env(extra=None):
    """Environment for the tools the lab runs: C locale, a PATH that has the sbin directories."""
    env = dict(os.environ)
    env.update({'LC_ALL': 'C', 'LANG': 'C', 'PATH': SYSTEM_PATH + os.pathsep + os.environ.get('PATH', '')})
    env.update(extra or {})
    return env


def run(argv, check=True, input=None, timeout=DEFAULT_TIMEOUT, env=None, text=True):  # pylint: disable=redefined-builtin
    """Run argv (a list, never a shell string); raise LabError with cmd/rc/stdout/stderr when check fails."""
    argv = [str(arg) for arg in argv]
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=text, timeout=timeout,
                              env=env or command_env(), check=False)
    except FileNotFoundError as exc:
        raise LabError('%s: command not found' % argv[0], cmd=argv) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError('command timed out after %ss' % timeout, cmd=argv, stdout=exc.stdout, stderr=exc.stderr) from exc
    if check and proc.returncode != 0:
        raise LabError('command failed', cmd=argv, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
    return proc


def write_text(path, text, mode=0o644):
    """Write a file atomically (temporary file in the same directory, then rename)."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % path.name, dir=str(path.parent))
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_json(path, default=None):
    try:
        with open(str(path), encoding='utf-8') as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default
    except ValueError:
        # A crash while writing cannot leave half a file (writes are atomic), but a hand edit can.
        return default


def write_json(path, data, mode=0o600):
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + '\n', mode)


def ensure_ssh_keypair(path, comment):
    """Create an ed25519 key pair at path (and path.pub) unless it exists; return the private key path."""
    path = pathlib.Path(path)
    if not (path.exists() and path.with_name(path.name + '.pub').exists()):
        for stale in (path, path.with_name(path.name + '.pub')):
            if stale.exists():
                stale.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        run([tool('ssh-keygen', 'openssh-client'), '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', str(path)])
    os.chmod(str(path), 0o600)
    return path


def ssh_options(connect_timeout=10):
    """SSH client options that never prompt: lab keys change on every `up`, so no host key is remembered."""
    return [
        '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'BatchMode=yes',
        '-o', 'ConnectTimeout=%d' % connect_timeout,
        '-o', 'IdentitiesOnly=yes',
        '-o', 'LogLevel=ERROR',
    ]


def ssh_argv(address, key_file, user='root', connect_timeout=10):
    """argv prefix for running a command on a lab node over SSH: append the remote command."""
    return [tool('ssh', 'openssh-client'), '-i', str(key_file)] + ssh_options(connect_timeout) + ['%s@%s' % (user, address)]


def _yaml_scalar(value):
    # JSON strings and numbers are valid YAML scalars, so no YAML library is needed.
    return json.dumps(value)


def write_inventory(path, hosts, key_file, kind, python_interpreter=NODE_PYTHON, connect_timeout=10, host_vars=None,
                    extra_vars=None):
    """Write the YAML inventory of a lab: group `lab` with hosts in the given order.

    hosts: mapping of inventory name -> address. host_vars: optional mapping name -> dict of extra variables.
    extra_vars: optional dict of more variables for the whole group.
    """
    group_vars = {
        'ansible_user': 'root',
        'ansible_ssh_private_key_file': str(key_file),
        'ansible_ssh_common_args': ' '.join(ssh_options(connect_timeout)),
        'ansible_python_interpreter': python_interpreter,
    }
    group_vars.update(extra_vars or {})
    lines = [
        '---',
        '# Written by tests/lab/lab for the %s kind; rewritten by every `lab up`.' % kind,
        'all:',
        '  children:',
        '    %s:' % INVENTORY_GROUP,
        '      hosts:',
    ]
    for name, address in hosts.items():
        lines.append('        %s:' % name)
        variables = {'ansible_host': address}
        variables.update((host_vars or {}).get(name, {}))
        lines.extend('          %s: %s' % (key, _yaml_scalar(value)) for key, value in variables.items())
    lines.append('      vars:')
    lines.extend('        %s: %s' % (key, _yaml_scalar(value)) for key, value in group_vars.items())
    return write_text(path, '\n'.join(lines) + '\n', 0o644)


def pid_alive(pid):
    """True when the process exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid, encoding='utf-8', errors='replace') as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Field 3 (state) follows the command name, which is in parentheses and may contain anything.
    return stat[stat.rfind(')') + 2:][:1] not in ('Z', 'X', '')


def pid_cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as fh:
            return [arg.decode('utf-8', 'replace') for arg in fh.read().split(b'\0') if arg]
    except (FileNotFoundError, ProcessLookupError):
        return []


def all_pids():
    return [int(name) for name in os.listdir('/proc') if name.isdigit()]
