# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the netfilter tools run: argv lists only (never a shell), the C locale, executables resolved with
get_bin_path (sbin directories included), xtables lock waits bounded, and failures raised as
NetfilterCommandError carrying cmd, rc, stdout and stderr.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections import namedtuple

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import (
    NetfilterCommandError, ParameterError, ToolError, ToolNotFoundError, XtablesLockError,
)

# Parsers read English tool output; LANGUAGE too, because gettext prefers it over LC_ALL.
C_LOCALE = {'LANG': 'C', 'LC_ALL': 'C', 'LANGUAGE': 'C'}
# Non-login shells (cron, some sudo setups) often lack the sbin directories where the tools live.
SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin']

DEFAULT_LOCK_WAIT = 10
# ProcessModule's bound on any one command (AnsibleModule has none; the tools used bound themselves there).
DEFAULT_TIMEOUT = 60
MAX_LOCK_WAIT = 300
# iptables exits with RESOURCE_PROBLEM (4) when it stops waiting for the lock.
LOCK_EXIT_CODE = 4
# Oldest versions whose -w takes a bound: iptables/ip6tables 1.6.0, the restore commands 1.6.2. Older ones are
# run without -w: they then fail at once when the lock is taken, which is bounded too.
WAIT_SECONDS_SINCE = (1, 6, 0)
RESTORE_WAIT_SINCE = (1, 6, 2)


class Result(namedtuple('Result', ['cmd', 'rc', 'stdout', 'stderr'])):
    """What a command did: the argv that ran, its exit code and its output (text)."""

    __slots__ = ()


def check_lock_wait(value, param='lock_wait'):
    """The lock wait bound as an int, or ParameterError naming param."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(param, 'must be a whole number of seconds, got %r' % (value,))
    if not 1 <= value <= MAX_LOCK_WAIT:
        raise ParameterError(param, 'must be between 1 and %d seconds, got %d; the bound keeps a busy agent '
                                    'from blocking the run for ever' % (MAX_LOCK_WAIT, value))
    return value


def xtables_wait_args(tool, seconds, version=None):
    """The lock arguments for an xtables command: ['-w', 'SECONDS'], or [] for commands without a lock.

    tool is the executable (name or path); version a tuple such as (1, 8, 9), None meaning current.
    The save commands only read and never take the lock.
    """
    name = os.path.basename(tool)
    if name.endswith('-save'):
        return []
    since = RESTORE_WAIT_SINCE if name.endswith('-restore') else WAIT_SECONDS_SINCE
    if version is not None and tuple(version) < since:
        return []
    return ['-w', str(seconds)]


def format_cmd(cmd):
    """A command as one copy-pasteable line, for messages."""
    return ' '.join(shlex.quote(arg) for arg in cmd)


def _first_line(text):
    for line in (text or '').splitlines():
        if line.strip():
            return line.strip()
    return ''


def command_error(result):
    """NetfilterCommandError for a failed Result; the message ends with the tool's first line of complaint.

    The first line: iptables and nft put the reason there and a usage hint or the echoed command after it.
    """
    said = _first_line(result.stderr) or _first_line(result.stdout) or 'no output'
    msg = '%s failed with exit code %s: %s' % (format_cmd(result.cmd), result.rc, said)
    return NetfilterCommandError(msg, result.cmd, result.rc, result.stdout, result.stderr)


def is_lock_timeout(result):
    """True when an xtables command gave up waiting for the lock."""
    return result.rc == LOCK_EXIT_CODE and 'xtables lock' in (result.stderr or '')


def lock_error(result, seconds, param='lock_wait'):
    msg = ('%s: another program held the xtables lock for more than %d seconds (the lock wait bound), so the '
           'command did nothing. Run again later, or raise %s if an agent such as kube-proxy or Calico '
           'holds the lock for long on this node.' % (format_cmd(result.cmd), seconds, param))
    return XtablesLockError(msg, result.cmd, result.rc, result.stdout, result.stderr, lock_wait=seconds)


class ToolRunner:
    """Runs the netfilter tools through AnsibleModule.run_command.

    lock_wait bounds how long xtables commands wait for the lock (seconds); lock_param is the name the module's
    user sets it with, for the lock-timeout message.
    """

    def __init__(self, module, lock_wait=DEFAULT_LOCK_WAIT, lock_param='lock_wait'):
        self.module = module
        self.lock_wait = check_lock_wait(lock_wait, param=lock_param)
        self.lock_param = lock_param
        self._paths = {}

    def find(self, name, required=False, package=None):
        """Absolute path of an executable; None when missing, or ToolNotFoundError when required.

        get_bin_path is asked with required=False so that a missing tool becomes our error, naming the package.
        """
        if name not in self._paths:
            self._paths[name] = self.module.get_bin_path(name, required=False, opt_dirs=SBIN_DIRS)
        path = self._paths[name]
        if path is None and required:
            raise ToolNotFoundError(name, package)
        return path

    def command(self, argv):
        """The argv that really runs for argv.

        The one place to change to run in another network namespace (for example prefixing
        ``ip netns exec NAME`` or ``nsenter``); it returns argv unchanged today.
        """
        return list(argv)

    def run(self, argv, data=None, check=True):
        """Run argv (a list); returns a Result. With check, a non-zero exit raises NetfilterCommandError.

        data (text) goes to stdin as is: no newline is added.
        """
        if isinstance(argv, (str, bytes)):
            raise TypeError('argv must be a list of arguments, not a string')
        cmd = self.command([str(arg) for arg in argv])
        kwargs = {
            'check_rc': False,
            'environ_update': dict(C_LOCALE),
            # run_command would otherwise expand ~ and $VARS inside arguments such as rule comments.
            'expand_user_and_vars': False,
        }
        if data is not None:
            kwargs['data'] = data
            kwargs['binary_data'] = True
        rc, out, err = self.module.run_command(cmd, **kwargs)
        result = Result(cmd, rc, out, err)
        if check and rc != 0:
            raise command_error(result)
        return result

    def run_xtables(self, argv, data=None, check=True, version=None):
        """Run an iptables/ip6tables command (any variant, including -restore and -save) with the lock bounded.

        ``-w SECONDS`` goes right after the executable. A lock timeout raises XtablesLockError even without
        check: nothing ran, so the caller cannot treat it as an answer.
        """
        argv = [str(arg) for arg in argv]
        full = argv[:1] + xtables_wait_args(argv[0], self.lock_wait, version) + argv[1:]
        result = self.run(full, data=data, check=False)
        if result.rc != 0 and is_lock_timeout(result):
            raise lock_error(result, self.lock_wait, self.lock_param)
        if check and result.rc != 0:
            raise command_error(result)
        return result

    def found(self):
        """{name: path} of every executable looked up so far and found."""
        return dict((name, path) for name, path in sorted(self._paths.items()) if path is not None)


class ProcessModule:
    """The two AnsibleModule methods ToolRunner uses, for a program that runs without Ansible (the rules reaper,
    started after the module has exited): ``ToolRunner(ProcessModule())``. Stdlib only, so that it can be
    installed on the node with this file and errors.py.

    Every command is killed after timeout seconds: nothing waits for ever once no Ansible task is watching.
    """

    def __init__(self, timeout=DEFAULT_TIMEOUT):
        self.timeout = timeout

    def get_bin_path(self, arg, opt_dirs=None, **_ignored):
        """Like AnsibleModule.get_bin_path with required=False (as ToolRunner asks): the path, or None."""
        for directory in os.environ.get('PATH', os.defpath).split(os.pathsep) + list(opt_dirs or []):
            path = os.path.join(directory, arg)
            if directory and os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        return None

    def run_command(self, args, environ_update=None, data=None, **_ignored):
        """(rc, stdout, stderr) of the argv list args, as ToolRunner asks for it: no check_rc, no expansion of
        ~ or $VARS, data sent as is (no newline added).

        A command that cannot start or does not finish in time raises ToolError with its cmd.
        """
        env = dict(os.environ)
        env.update(environ_update or {})
        try:
            proc = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  timeout=self.timeout, check=False, universal_newlines=True,
                                  stdin=None if data is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ToolError('%s did not finish within %s seconds' % (args[0], exc.timeout), cmd=args) from None
        except OSError as exc:
            raise ToolError('cannot run %s: %s' % (args[0], exc), cmd=args) from None
        return proc.returncode, proc.stdout, proc.stderr
