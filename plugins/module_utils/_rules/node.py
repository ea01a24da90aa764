# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an operation needs about the node: a runner, the tool paths, the state root, the lock bound.

The runner is the shared ToolRunner: on the AnsibleModule in the module, on ProcessModule in the reaper. The
module resolves tool paths with get_bin_path and stores them in the run state; the reaper, which has no
AnsibleModule, rebuilds a Node from there. Stdlib only.
"""

from __future__ import annotations

import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import DEFAULT_LOCK_WAIT
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import BACKEND_VARIANTS, FAMILIES
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import (
    IptablesBackend, binary_name,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nftables_backend import NftablesBackend
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import DEFAULT_ROOT

IPTABLES_BACKENDS = tuple(BACKEND_VARIANTS)
TOOL_NAMES = tuple(binary_name(v, f, r) for v in IPTABLES_BACKENDS for f in FAMILIES for r in (False, True)) + (
    'nft', 'xtables-monitor', 'timeout', 'unshare', 'systemd-run', 'systemctl', 'rmmod', 'nsenter', 'mount', 'umount')


class Node:
    def __init__(self, runner, tools, root=DEFAULT_ROOT, lock_wait=DEFAULT_LOCK_WAIT, clock=time.time, detect=None,
                 native=None):
        self.runner = runner
        self.detect = detect  # () -> (variant, default variant); set by the module (backend auto)
        # () -> names of native nftables base chains that IP packets meet (not ours); set by the module
        self.native = native or (lambda: [])
        self.tools = dict(tools)
        self.root = root
        self.lock_wait = lock_wait
        self.clock = clock

    def now(self):
        return int(self.clock())

    def tool(self, name):
        return self.tools.get(name)

    def iptables(self, variant, family):
        path = self.tools.get(binary_name(variant, family))
        return IptablesBackend(self.runner, path, variant, family) if path else None

    def iptables_all(self):
        """Every installed (variant, family) backend; the scan for tagged rules covers them all."""
        found = []
        for variant in IPTABLES_BACKENDS:
            for family in FAMILIES:
                backend = self.iptables(variant, family)
                if backend:
                    found.append(backend)
        return found

    def nftables(self):
        path = self.tools.get('nft')
        return NftablesBackend(self.runner, path) if path else None
