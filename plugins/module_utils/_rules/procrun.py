# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reaper's command runner: ``run(argv, data=None, check=True, timeout=None) -> Result``.

The reaper runs after the Ansible module has exited and so has no AnsibleModule (the modules use the
foundation's ToolRunner behind the same interface, see module_api.FoundationRunner): stdlib subprocess,
argv lists only, C locale, a timeout on every command.
"""

from __future__ import annotations

import os
import subprocess

from .errors import RulesError

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C', 'LANGUAGE': 'C'}
DEFAULT_TIMEOUT = 60


class Result:
    __slots__ = ('cmd', 'rc', 'stdout', 'stderr')

    def __init__(self, cmd, rc, stdout, stderr):
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


def _failure(result, what=None):
    first = (result.stderr or result.stdout or '').strip().splitlines()
    detail = first[-1] if first else 'exit code %s' % result.rc
    return RulesError('%s failed: %s' % (what or os.path.basename(result.cmd[0]), detail),
                      cmd=result.cmd, rc=result.rc, stdout=result.stdout, stderr=result.stderr)


class ProcRunner:
    def __init__(self, timeout=DEFAULT_TIMEOUT):
        self.timeout = timeout

    def run(self, argv, data=None, check=True, timeout=None):
        env = dict(os.environ)
        env.update(C_LOCALE)
        argv = [str(a) for a in argv]
        try:
            proc = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  timeout=timeout or self.timeout, check=False, universal_newlines=True,
                                  stdin=None if data is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise RulesError('%s did not finish within %s seconds' % (argv[0], exc.timeout), cmd=argv) from None
        except OSError as exc:
            raise RulesError('cannot run %s: %s' % (argv[0], exc), cmd=argv) from None
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        if check and result.rc != 0:
            raise _failure(result)
        return result
