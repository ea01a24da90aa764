# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture_pack_args and bundle_host_dir filters (documentation in capture_pack_args.yml and bundle_host_dir.yml);
the decisions live in module_utils/_bundle."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.layout import host_dir
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.pack_args import pack_args


def capture_pack_args(trace, kernlog_source='dmesg', kernlog_file='/var/log/firewall', match=None, conntrack_limit=None):
    """A host's netdebug_trace fact -> capture_pack's texts, copies, kernlog and conntrack options."""
    return pack_args(trace, kernlog_source, kernlog_file, match, conntrack_limit)


def bundle_host_dir(host):
    """An inventory host name -> its directory name in the bundle."""
    return host_dir(host)


class FilterModule:
    def filters(self):
        return {'capture_pack_args': capture_pack_args, 'bundle_host_dir': bundle_host_dir}
