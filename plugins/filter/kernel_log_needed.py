# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel_log_needed and kernel_log_hosts filters (documentation in their .yml files); the decision lives in
module_utils/_capture/kernel_log."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import kernel_log


def kernel_log_needed(check, log_rules=False, backend='auto', info=None):
    return kernel_log.needed(check, log_rules, backend, info)


def kernel_log_hosts(hostvars, hosts):
    return kernel_log.hosts_needing(hostvars, hosts)


class FilterModule:
    def filters(self):
        return {'kernel_log_needed': kernel_log_needed, 'kernel_log_hosts': kernel_log_hosts}
