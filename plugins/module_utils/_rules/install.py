# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install the reaper program on the node: the stdlib-only files of this package and the shared errors and runner
they import, copied from the running module's own code (they arrive in the AnsiballZ payload), under
<root>/lib/<digest>/ (netdebug_rules/ and ansible_collections/.../_netfilter/).

The reaper must outlive the module, whose payload is deleted when it exits, so it needs its own copy.
The digest keeps versions apart; an existing complete copy is reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil

# Static imports, so that Ansible ships every file of the program in the module payload.
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter import errors as shared_errors
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter import runner as shared_runner

from . import errors, iptables_backend, iptables_parse, monitor, nft_parse, nftables_backend, node, procs
from . import reaper_main, removal, state, tag
from .errors import RulesError
from .state import ensure_dir

# Imported by reaper_main, directly or not; each must import only the stdlib, its siblings and SHARED_MODULES.
PROGRAM_MODULES = (errors, tag, iptables_parse, iptables_backend, nft_parse, nftables_backend, procs, state, monitor,
                   node, removal, reaper_main)
# The collection's shared files the program imports, installed under their own package path.
SHARED_MODULES = (shared_errors, shared_runner)
PACKAGE = 'netdebug_rules'
LAUNCHER = '''#!/usr/bin/env python3
"""netdebug reaper: removes the rules of one run at its expiry (installed by netdebug.netfilter)."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netdebug_rules.reaper_main import main  # noqa: E402
sys.exit(main())
'''


def _source(module):
    loader = getattr(module, '__loader__', None)
    source = loader.get_source(module.__name__) if loader is not None and hasattr(loader, 'get_source') else None
    if not source:
        raise RulesError('cannot read the source of %s to install the reaper program' % module.__name__)
    return source


def _packages(path):
    """The package directories of a file path: 'a/b/c.py' -> ['a', 'a/b']."""
    parts = path.split('/')[:-1]
    return ['/'.join(parts[:n]) for n in range(1, len(parts) + 1)]


def sources():
    """{path under the install directory: source text} of the program's files, package __init__ files included.

    The shared files keep their import path (ansible_collections/...), so that they import each other unchanged;
    their __init__ files are empty, which makes these regular packages that win over any other copy on sys.path.
    """
    files = dict(('%s/%s.py' % (PACKAGE, module.__name__.rsplit('.', 1)[-1]), _source(module))
                 for module in PROGRAM_MODULES)
    for module in SHARED_MODULES:
        files[module.__name__.replace('.', '/') + '.py'] = _source(module)
    for path in list(files):
        for package in _packages(path):
            files[package + '/__init__.py'] = ''
    return files


def install(root):
    """Path of the installed launcher (reap.py), installing it first if needed."""
    files = sources()
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b'\0' + files[name].encode('utf-8') + b'\0')
    lib = ensure_dir(os.path.join(root, 'lib'))
    dest = os.path.join(lib, digest.hexdigest()[:16])
    launcher = os.path.join(dest, 'reap.py')
    if os.path.isfile(launcher):
        return launcher
    tmp = '%s.tmp%d' % (dest, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    for name, text in files.items():
        path = os.path.join(tmp, *name.split('/'))
        ensure_dir(os.path.dirname(path))
        with open(path, 'w') as handle:
            handle.write(text)
    with open(os.path.join(tmp, 'reap.py'), 'w') as handle:
        handle.write(LAUNCHER)
    os.chmod(os.path.join(tmp, 'reap.py'), 0o700)
    try:
        os.rename(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a concurrent install won the race; its copy is identical
        if not os.path.isfile(launcher):
            raise
    return launcher
