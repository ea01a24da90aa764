# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture's temporary rules (iptables_trace, iptables_log): the match and target (spec, target, icmp),
where they go (desired, backends, iptables_backend, nftables_backend), the dry run, the monitors and their stamper,
the run's record on the node (state, record, tag), removal, progress and the modules' glue (module_api).
"""
