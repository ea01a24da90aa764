#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iptables_log
short_description: Temporary, self-expiring, rate-limited LOG or NFLOG rules (legacy, iptables-nft or nftables)
version_added: 0.1.0
description:
  - Inserts a LOG (or NFLOG) rule for the packets that the match parameters select, rate-limited by default, and
    removes it again by itself after O(ttl) seconds.
  - LOG lines go to the kernel log at O(log_level) (7, debug, by default, which the drop-in of
    M(netdebug.netfilter.rsyslog_kernlog) captures), prefixed with O(log_prefix).
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.rules
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.check_mode_full
  - netdebug.netfilter.attributes.diff_mode_full
  - netdebug.netfilter.attributes.linux
options:
  table:
    description:
      - Table of the chain.
    type: str
    choices: [raw, mangle, nat, filter, security]
    default: raw
  chain:
    description:
      - Chain to log in, a built-in chain of O(table) or an existing user chain (not with O(backend=nftables)).
    type: str
    default: PREROUTING
  target:
    description:
      - V(LOG) writes to the kernel log; V(NFLOG) sends the packet to the netlink group O(nflog_group) (ulogd).
    type: str
    choices: [LOG, NFLOG]
    default: LOG
  log_prefix:
    description:
      - Prefix of each line; printable ASCII without quotes or backslashes, at most 29 characters for V(LOG) (the
        kernel's limit) and 63 for V(NFLOG).
      - Default C(nd:<run_id> ) (the run id cut to 25 characters), so that lines shipped to a central syslog stay
        attributable to their run.
    type: str
  log_level:
    description:
      - Syslog level of V(LOG) lines, V(0) to V(7) or a name (V(debug), V(info), V(warning) ...).
    type: str
    default: '7'
  log_tcp_sequence:
    description: Log TCP sequence numbers (V(LOG) only).
    type: bool
    default: false
  log_tcp_options:
    description: Log TCP options (V(LOG) only).
    type: bool
    default: false
  log_ip_options:
    description: Log IP options (V(LOG) only).
    type: bool
    default: false
  log_uid:
    description: Log the user id of the local socket (V(LOG) only).
    type: bool
    default: false
  nflog_group:
    description: Netlink group for V(NFLOG), 0 to 65535 (default 0).
    type: int
  limit:
    description:
      - Average rate of logged packets, as with C(-m limit), such as V(5/second) or V(100/minute).
      - Ignored with O(unlimited=true).
    type: str
    default: 5/second
  limit_burst:
    description: Packets logged at once before O(limit) applies, 1 to 10000.
    type: int
    default: 10
  unlimited:
    description:
      - Log every matching packet. Off by default, because a busy match can flood the kernel log and rsyslog.
    type: bool
    default: false
seealso:
  - module: netdebug.netfilter.iptables_trace
  - module: netdebug.netfilter.rsyslog_kernlog
"""

EXAMPLES = r"""
- name: Log new TCP connections to port 22 in filter INPUT for ten minutes
  netdebug.netfilter.iptables_log:
    run_id: ssh-audit
    table: filter
    chain: INPUT
    protocol: tcp
    destination_port: "22"
    ttl: 600
    log_prefix: "ssh-audit "

- name: Log what enters a user chain, unlimited, with NFLOG to group 5
  netdebug.netfilter.iptables_log:
    run_id: incident-42
    table: filter
    chain: app-guard
    target: NFLOG
    nflog_group: 5
    unlimited: true

- name: Remove the run's rules now
  netdebug.netfilter.iptables_log:
    run_id: incident-42
    state: absent
"""

RETURN = r"""
run_id:
  description: The run (generated when not given).
  returned: always
  type: str
  sample: ssh-audit
backend:
  description: Backends used, joined with C(+).
  returned: when state is present
  type: str
  sample: legacy
backends:
  description: Backends used.
  returned: when state is present
  type: list
  elements: str
  sample: [legacy]
variant:
  description: The node's iptables variant as detected (C(legacy), C(nf_tables), C(mixed)), or the backend asked for.
  returned: when state is present
  type: str
  sample: legacy
rules:
  description: The run's rules of this call as the ruleset shows them (planned ones in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    backend:
      description: legacy, nft or nftables.
      type: str
    family:
      description: ipv4, ipv6, or inet (nftables).
      type: str
    table:
      description: Table (C(netdebug) for nftables).
      type: str
    chain:
      description: Chain.
      type: str
    rule:
      description: The rule as C(iptables -S) or C(nft list) prints it.
      type: str
    expires_at:
      description: Epoch seconds when the reaper removes it.
      type: int
state_dir:
  description: The run's state directory on the node.
  returned: when state is present
  type: str
started_at:
  description: Epoch seconds of the run's first rule.
  returned: when state is present
  type: int
expires_at:
  description: Epoch seconds when the last rule of this call expires.
  returned: when state is present
  type: int
window:
  description:
    - The window in wall-clock time the rules match in (node's clock, epoch seconds), and how many seconds after its
      start the rules were added (0 when they were in place before it).
    - None without O(window_start) and O(window_end).
  returned: when state is present
  type: dict
  sample: {start: 1795000000, end: 1795000060, late: 0}
  contains:
    start:
      description: First second of the window.
      type: int
    end:
      description: The rules stop matching at this second.
      type: int
    late:
      description: Seconds between the window's start and this call's arming, 0 when armed ahead.
      type: int
reapers:
  description: The run's scheduled removals (C(systemd) timer units or detached C(process) ids).
  returned: when state is present
  type: list
  elements: dict
capture_files:
  description: Always empty for this module (LOG goes to the kernel log, NFLOG to its netlink group).
  returned: when state is present
  type: list
  elements: str
log_prefix:
  description: The prefix the rules' lines start with (O(log_prefix), or its default), to find them in the kernel log.
  returned: when state is present
  type: str
  sample: "nd:INC-42 "
kernel_log:
  description: Always false for this module (only relevant to TRACE).
  returned: when state is present
  type: bool
removed:
  description: What was (in check mode, would be) removed, with state absent.
  returned: when state is absent
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import module_api


def main():
    module = AnsibleModule(argument_spec=module_api.LOG_ARGS, mutually_exclusive=module_api.MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    run_module(module, lambda: module_api.run('log', module_api.make_node(module), module.params,
                                              check_mode=module.check_mode))


if __name__ == '__main__':
    main()
