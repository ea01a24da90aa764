# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install the reaper program on the node (see _core/program.py): the stdlib-only files of this package and
the shared files they import, copied from the running module's own code (they arrive in the AnsiballZ payload),
under <root>/lib/<digest>/. The trace monitors' stamper (stamp_main.py) comes with it, with its own launcher.

The reaper must outlive the module, whose payload is deleted when it exits, so it needs its own copy.
"""

from __future__ import annotations

import os

# Static imports, so that Ansible ships every file of the program in the module payload.
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import layout as bundle_layout
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import (
    constants as conntrack_constants, errors as conntrack_errors, stats as conntrack_stats,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._core import (
    errors as core_errors, procs, program, runner as core_runner,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import (
    conntrack_counters as drops_conntrack, errors as drops_errors, instance as drops_instance, reasons as drops_reasons,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import rules_main, schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import (
    errors as kmod_errors, index as kmod_index, parsers as kmod_parsers,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter import (
    binaries as shared_binaries, model as netfilter_model, nft_list as netfilter_nft_list,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import (
    errors, iptables_backend, iptables_parse, legacy_tables, monitor, nft_parse, nftables_backend, node, removal,
    stamp_main, state, tag,
)

# rules_main (the reaper) and what it imports, directly or not, and the monitors' stamper; each must import only
# the stdlib and these.
PROGRAM_MODULES = (core_errors, core_runner, program, procs, shared_binaries, netfilter_model, netfilter_nft_list,
                   kmod_errors, kmod_parsers, kmod_index, bundle_layout, conntrack_constants, conntrack_errors,
                   conntrack_stats, drops_conntrack, drops_errors, drops_reasons, drops_instance, errors, tag,
                   iptables_parse, iptables_backend, nft_parse, nftables_backend, state, monitor, node, legacy_tables,
                   removal, schedule, rules_main, stamp_main)
STAMP_LAUNCHER = 'stamp.py'


def sources():
    """{path under the install directory: source text} of the program's files, the stamper's launcher included."""
    files = program.module_files(PROGRAM_MODULES)
    files[STAMP_LAUNCHER] = program.LAUNCHER % {'what': 'writes trace monitor lines with their time',
                                                'module': stamp_main.__name__}
    return files


def install(root):
    """Path of the installed launcher (reap.py), installing it first if needed."""
    return program.install(program.lib_dir(root), sources(), state.REAPER_LAUNCHER, rules_main.__name__,
                           'removes the rules of one run at its expiry')


def stamper(launcher, python):
    """The argv prefix that runs the installed stamper, beside the launcher install() returned."""
    return [python, os.path.join(os.path.dirname(launcher), STAMP_LAUNCHER)]
