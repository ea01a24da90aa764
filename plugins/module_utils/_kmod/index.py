# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a kernel module stands on a node: built_in, loaded, loadable or missing.

``ModuleIndex`` is pure: it is built from the texts of /proc/modules and the /lib/modules/<release> tables (any
of which may be absent) plus "registration" evidence the caller found elsewhere in /proc (for example a logger
listed in /proc/net/netfilter/nf_log). A module counts as built in only when that can be shown: modules.builtin
lists it, or the kernel has it registered while it is not a loaded module (or the kernel has no module support
at all, so whatever is registered must be built in).
"""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import parsers

BUILT_IN = 'built_in'
LOADED = 'loaded'
LOADABLE = 'loadable'
MISSING = 'missing'

PROC_MODULES = '/proc/modules'
MODULES_DISABLED = '/proc/sys/kernel/modules_disabled'


class ModuleIndex:
    """A snapshot of the node's kernel modules."""

    def __init__(self, release, proc_modules=None, builtin=None, builtin_aliases=None, aliases=None, deps=None,
                 modules_disabled=False):
        self.release = release
        self.loaded = proc_modules          # dict, or None: no /proc/modules (no module support)
        self.builtin = builtin              # set, or None: modules.builtin not readable
        self.builtin_aliases = builtin_aliases or {}
        self.aliases = aliases or []
        self.deps = deps                    # dict, or None: modules.dep not readable
        self.modules_disabled = modules_disabled

    @property
    def can_load(self):
        """Whether modprobe could load anything at all on this kernel now."""
        return self.loaded is not None and not self.modules_disabled and self.deps is not None

    def known(self, name):
        return bool((self.loaded and name in self.loaded) or (self.builtin and name in self.builtin)
                    or (self.deps and name in self.deps))

    def canonical(self, name):
        """The real module behind name: itself when known, else what an alias points to (ipt_LOG -> xt_LOG)."""
        name = parsers.module_name(name)
        if self.known(name):
            return name
        if name in self.builtin_aliases:
            return self.builtin_aliases[name]
        targets = parsers.resolve_alias(name, self.aliases)
        return targets[0] if targets else name

    def state(self, name, registered=None):
        """(state, evidence) for module name; registered is a text naming proof that the kernel has it, or None."""
        name = self.canonical(name)
        if self.loaded is not None and name in self.loaded:
            return LOADED, '%s lists %s' % (PROC_MODULES, name)
        if self.builtin is not None and name in self.builtin:
            return BUILT_IN, 'modules.builtin of %s lists %s' % (self.release, name)
        if registered:
            why = 'not a loaded module' if self.loaded is not None else 'the kernel has no module support'
            return BUILT_IN, '%s (and %s)' % (registered, why)
        if self.can_load and name in self.deps:
            return LOADABLE, 'modules.dep of %s has %s' % (self.release, self.deps[name][0])
        return MISSING, self._missing_reason(name)

    def _missing_reason(self, name):
        if self.loaded is None:
            return ('the kernel has no module support (no %s) and nothing shows %s built in' % (PROC_MODULES, name))
        if self.modules_disabled:
            return 'module loading is disabled (kernel.modules_disabled=1) and %s is not loaded' % name
        if self.deps is None:
            return 'no /lib/modules/%s/modules.dep to load %s from' % (self.release, name)
        return '%s is neither built in, loaded nor in modules.dep of %s' % (name, self.release)


def _read(path, binary=False):
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError):
        return None
    return data if binary else data.decode('utf-8', 'replace')


def read_index(release=None, root='/'):
    """Build the ModuleIndex of the running kernel from the node's files (missing files are allowed)."""
    release = release or os.uname()[2]
    moddir = os.path.join(root, 'lib/modules', release)
    proc = _read(os.path.join(root, PROC_MODULES.lstrip('/')))
    builtin = _read(os.path.join(moddir, 'modules.builtin'))
    modinfo = _read(os.path.join(moddir, 'modules.builtin.modinfo'), binary=True)
    alias = _read(os.path.join(moddir, 'modules.alias'))
    dep = _read(os.path.join(moddir, 'modules.dep'))
    disabled = (_read(os.path.join(root, MODULES_DISABLED.lstrip('/'))) or '0').strip() == '1'
    return ModuleIndex(
        release,
        proc_modules=parsers.parse_proc_modules(proc) if proc is not None else None,
        builtin=parsers.parse_modules_builtin(builtin) if builtin is not None else None,
        builtin_aliases=parsers.parse_builtin_modinfo(modinfo) if modinfo is not None else None,
        aliases=parsers.parse_modules_alias(alias) if alias is not None else None,
        deps=parsers.parse_modules_dep(dep) if dep is not None else None,
        modules_disabled=disabled,
    )
