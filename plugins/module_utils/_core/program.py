# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install a small program on the node from the running module's own files, so that it outlives the module
(whose AnsiballZ payload is deleted when it exits): the reaper that puts things back at a run's expiry.

The files keep their import path (ansible_collections/...) under <lib>/<digest>/, so they import each other
unchanged; their __init__ files are empty, which makes them regular packages that win over any other copy on
sys.path. The digest keeps versions apart; an existing complete copy is reused. Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ToolError

# Where a state directory keeps its installed program (every program installs under <state dir>/lib/).
LIB = 'lib'


LAUNCHER = '''"""netdebug: %(what)s (installed by netdebug.netfilter)."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from %(module)s import main  # noqa: E402
sys.exit(main())
'''


def source_of(module):
    loader = getattr(module, '__loader__', None)
    source = loader.get_source(module.__name__) if loader is not None and hasattr(loader, 'get_source') else None
    if not source:
        raise ToolError('cannot read the source of %s to install it on the node' % module.__name__)
    return source


def package_dirs(path):
    """The package directories of a file path: 'a/b/c.py' -> ['a', 'a/b']."""
    parts = path.split('/')[:-1]
    return ['/'.join(parts[:n]) for n in range(1, len(parts) + 1)]


def module_files(modules):
    """{path under the install directory: source text} of modules under their import path, with __init__ files."""
    files = dict((module.__name__.replace('.', '/') + '.py', source_of(module)) for module in modules)
    for path in list(files):
        for package in package_dirs(path):
            files.setdefault(package + '/__init__.py', '')
    return files


def install(lib, files, launcher_name, entry_module, what):
    """Path of the launcher <lib>/<digest>/<launcher_name>, which runs entry_module's main(); installed if needed."""
    files = dict(files)
    files[launcher_name] = LAUNCHER % {'what': what, 'module': entry_module}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b'\0' + files[name].encode('utf-8') + b'\0')
    os.makedirs(lib, mode=0o700, exist_ok=True)
    dest = os.path.join(lib, digest.hexdigest()[:16])
    launcher = os.path.join(dest, launcher_name)
    if os.path.isfile(launcher):
        return launcher
    tmp = '%s.tmp%d' % (dest, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    for name, text in files.items():
        path = os.path.join(tmp, *name.split('/'))
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)
    os.chmod(os.path.join(tmp, launcher_name), 0o700)
    try:
        os.rename(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a concurrent install won the race; its copy is identical
        if not os.path.isfile(launcher):
            raise
    return launcher


def expiry_argv(python, launcher, at, **options):
    """The command line of an installed expiry program: ``python launcher --name value ... --at EPOCH`` (options in
    the order given; underscores in names become dashes). expiry_options() reads it back."""
    argv = [python, launcher]
    for name, value in options.items():
        argv += ['--' + name.replace('_', '-'), str(value)]
    return argv + ['--at', str(int(at))]


# -- the installed program's side ----------------------------------------------------------------------------------
def expiry_options(prog, options, args=None):
    """Read an expiry program's command line (expiry_argv's, plus --detached from the scheduler): options maps each
    name to its type. A detached program becomes a daemon here, before it says anything."""
    parser = argparse.ArgumentParser(prog=prog)
    for name, kind in options.items():
        parser.add_argument('--' + name.replace('_', '-'), type=kind, required=True)
    parser.add_argument('--at', type=int, required=True)
    parser.add_argument('--detached', action='store_true')
    opts = parser.parse_args(args)
    if opts.detached:
        daemonize()
    return opts


def daemonize():
    """Second fork: the caller started us in a new session (schedule.popen_detached) and reads our pid from stdout;
    our child can never regain a terminal."""
    pid = os.fork()
    if pid:
        os._exit(0)  # pylint: disable=protected-access
    sys.stdout.write('%d\n' % os.getpid())
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.chdir('/')


def log_line(path, message, clock=time.time):
    """Append one time-stamped line to the program's log file (best effort: never stops what it reports)."""
    try:
        with open(path, 'a') as handle:
            handle.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(clock())), message))
    except OSError:
        pass


def sleep_until(at, clock=time.time, sleep=time.sleep):
    """Sleep until the epoch at, in steps of at most 30 s (a clock step does not oversleep by much)."""
    while True:
        remaining = at - clock()
        if remaining <= 0:
            return
        sleep(min(remaining, 30))


def lib_dir(state_dir):
    return os.path.join(state_dir, LIB)
