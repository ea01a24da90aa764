# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the kernel's module tables (pure functions over text or bytes).

- /proc/modules: modules loaded now (absent when the kernel has no module support);
- /lib/modules/<release>/modules.builtin: modules compiled into the kernel;
- modules.builtin.modinfo: NUL-separated ``module.key=value`` records of the built-in modules (their aliases);
- modules.alias: ``alias <pattern> <module>`` lines written by depmod;
- modules.dep: ``<path>.ko[.xz|.zst|.gz]: <deps>`` lines, i.e. what modprobe can load.
"""

from __future__ import annotations

import fnmatch
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError

_KO_RE = re.compile(r'\.ko(\.(xz|gz|zst|bz2))?$')


def module_name(name):
    """Kernel module names treat '-' and '_' alike; the kernel shows '_'."""
    return name.strip().replace('-', '_')


def _name_from_path(path):
    base = path.strip().rsplit('/', 1)[-1]
    return module_name(_KO_RE.sub('', base))


def parse_proc_modules(text):
    """name -> {'size', 'refcount', 'holders', 'state'} from /proc/modules.

    A line is ``name size refcount holders state address [taints]``; holders is ``-`` or ``a,b,``.
    """
    modules = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 5 or not fields[1].isdigit():
            raise KmodError('/proc/modules line %d is not "name size refcount holders state ...": %r' % (number, line))
        refcount = int(fields[2]) if fields[2].lstrip('-').isdigit() else None
        holders = [] if fields[3] == '-' else [h for h in fields[3].split(',') if h]
        modules[module_name(fields[0])] = {'size': int(fields[1]), 'refcount': refcount, 'holders': holders,
                                           'state': fields[4]}
    return modules


def parse_modules_builtin(text):
    """Set of module names listed in modules.builtin (one ``kernel/.../name.ko`` path per line)."""
    return set(_name_from_path(line) for line in text.splitlines() if line.strip())


def parse_builtin_modinfo(data):
    """alias -> module name for the built-in modules, from modules.builtin.modinfo (bytes or text)."""
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    aliases = {}
    for record in data.split('\0'):
        name, dot, rest = record.partition('.')
        key, equals, value = rest.partition('=')
        if dot and equals and key == 'alias' and value:
            aliases.setdefault(value, module_name(name))
    return aliases


def parse_modules_alias(text):
    """List of (pattern, module) from modules.alias, in file order (modprobe takes every match)."""
    aliases = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith('#'):
            continue
        if fields[0] != 'alias' or len(fields) != 3:
            raise KmodError('modules.alias line %d is not "alias <pattern> <module>": %r' % (number, line))
        aliases.append((fields[1], module_name(fields[2])))
    return aliases


def parse_modules_dep(text):
    """module name -> (path, [dependency names]) from modules.dep."""
    modules = {}
    for line in text.splitlines():
        path, colon, deps = line.partition(':')
        if not colon:
            continue
        modules[_name_from_path(path)] = (path.strip(), [_name_from_path(d) for d in deps.split()])
    return modules


def resolve_alias(name, aliases):
    """Modules that the alias name stands for, in modules.alias order; [] when it is no alias.

    Exact entries win over wildcard patterns (``nf_log_ipv4`` vs ``nf-logger-*``), as in modprobe.
    """
    wanted = module_name(name)
    exact = [mod for pattern, mod in aliases if module_name(pattern) == wanted]
    if exact:
        return _unique(exact)
    return _unique([mod for pattern, mod in aliases
                    if any(c in pattern for c in '*?[') and fnmatch.fnmatchcase(wanted, module_name(pattern))])


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
