#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nf_log
short_description: Ensure and report the kernel's LOG/TRACE support and netfilter logger bindings
version_added: 0.1.0
description:
  - Reports, for each kernel piece that LOG and TRACE need, whether it is C(built_in), C(loaded), C(loadable) or
    C(missing) - C(xt_LOG), the syslog logger (C(nf_log_syslog), or C(nf_log_ipv4)/C(nf_log_ipv6) before Linux
    5.13), C(xt_TRACE), and with O(nflog) C(nfnetlink_log)/C(xt_NFLOG). Aliases are resolved (C(ipt_LOG) is
    C(xt_LOG), C(nf_log_ipv4) is C(nf_log_syslog) on 5.13+), so a second run reports unchanged.
  - A module counts as built in only when that can be shown (C(modules.builtin) lists it, or the kernel has it
    registered - in C(/proc/net/netfilter/nf_log) or C(/proc/net/ip_tables_targets) - without it being a loaded
    module). On a kernel without module support and without such proof the module is reported C(missing).
  - With O(state=present), loads what is missing (C(modprobe)) and binds the IPv4 and IPv6 loggers
    (C(net.netfilter.nf_log.2), C(net.netfilter.nf_log.10)) to the syslog logger, or to C(nfnetlink_log) with
    O(logger=nflog). TRACE lines reach the kernel log only through the logger bound to their family.
  - Records what it changed under O(state_dir), keyed by O(run_id) and network namespace. O(state=absent) with the
    same O(run_id) puts back exactly those values and unloads exactly the modules it loaded, but not while another
    run on the node still needs them (that run then inherits the duty). It never unloads a module it did not load.
  - With O(ttl), the node puts back this run's changes by itself after O(ttl) seconds, as O(state=absent) would
    (only values that still hold what this run set; one changed by someone else since is left alone and logged in
    C(<state_dir>/expiry.log)), so that no controller is needed. The restore is a transient systemd timer where
    systemd is PID 1 and the module runs in the initial network namespace, else a detached process in the
    module's namespace; it runs a copy of its program installed under C(<state_dir>/lib/). A later call for the
    same run keeps the first expiry while it is pending. O(state=absent) cancels it.
  - O(state=query) changes nothing.
author:
  - netdebug.netfilter contributors (@netdebug)
requirements:
  - modprobe and rmmod (package C(kmod)) where modules have to be loaded or unloaded
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.linux
attributes:
  check_mode:
    support: full
    details:
      - Nothing on the node changes (no module loaded, no sysctl written, no run record); the result shows the
        loggers and modules as a real run would leave them.
  diff_mode:
    support: full
    details:
      - Shows the sysctls as they were and as they are (or would be) after the call, the modules loaded or
        unloaded and, with O(ttl), the time the node puts them back.
options:
  state:
    description: V(present) ensures, V(absent) puts back what O(run_id) changed, V(query) only reports.
    type: str
    choices: [present, absent, query]
    default: present
  run_id:
    description:
      - The capture run this change belongs to (1 to 32 letters, digits, C(.), C(_) or C(-)). Required with
        O(state=present) and O(state=absent); with O(state=absent), V(*) releases every run in this network
        namespace.
    type: str
  families:
    description: Protocol families whose logger is bound.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  logger:
    description:
      - V(syslog) binds the kernel-log loggers (C(nf_log_ipv4), C(nf_log_ipv6)), whose lines rsyslog or the
        journal receive; V(nflog) binds C(nfnetlink_log), whose packets go to an NFLOG listener (C(ulogd),
        C(tcpdump -i nflog)) instead of the kernel log.
    type: str
    choices: [syslog, nflog]
    default: syslog
  log_target:
    description: Ensure the iptables LOG target (C(xt_LOG)).
    type: bool
    default: true
  trace_target:
    description: Ensure the iptables TRACE target (C(xt_TRACE)).
    type: bool
    default: true
  nflog:
    description: Also ensure C(nfnetlink_log) and the NFLOG target (implied by O(logger=nflog)).
    type: bool
    default: false
  all_netns:
    description:
      - Set C(net.netfilter.nf_log_all_netns=1) so that network namespaces other than the initial one (containers,
        pods) can log to the kernel log. Only possible from the initial network namespace; the module fails with a
        message saying so elsewhere.
    type: bool
    default: false
  state_dir:
    description: Where the records of each run's changes are kept (a tmpfs, so they do not outlive a reboot).
    type: path
    default: /run/netdebug/nf_log
  ttl:
    description:
      - Seconds (1 to 86400) after which the node itself puts back what this run changed, with O(state=present).
        Without it, the changes stay until O(state=absent) (or a reboot).
      - Use the expiry of the run's rules (M(netdebug.netfilter.iptables_trace) O(ttl)), so that a controller
        that dies mid-capture leaves every node as it was.
      - At the expiry, while a run of the rules engine with the same O(run_id) lasts on the node (its directory
        under C(runs/) beside O(state_dir)), the node waits, at most until that run's own expiry plus 10 seconds, so
        that a ttl counted from an earlier moment than the rules' never unbinds a logger they still use.
    type: int
notes:
  - Needs root. Loading modules needs C(modprobe) and C(rmmod) (kmod).
  - Bindings are per network namespace; modules are shared by the whole kernel.
seealso:
  - module: netdebug.netfilter.rsyslog_kernlog
"""

EXAMPLES = r"""
- name: Make sure LOG and TRACE lines reach the kernel log
  netdebug.netfilter.nf_log:
    run_id: inc42
  register: nflog

- name: What is bound and loaded, without changing anything
  netdebug.netfilter.nf_log:
    state: query

- name: Bind the loggers for ten minutes; the node puts them back by itself afterwards
  netdebug.netfilter.nf_log:
    run_id: inc43
    ttl: 600
  register: nflog_timed

- name: Put back what run inc42 changed
  netdebug.netfilter.nf_log:
    state: absent
    run_id: inc42
"""

RETURN = r"""
loggers:
  description: Family -> logger bound in this network namespace (null when none), after the call.
  returned: always
  type: dict
  sample: {ipv4: nf_log_ipv4, ipv6: nf_log_ipv6, arp: null, bridge: null, netdev: null}
available_loggers:
  description: Family -> loggers the kernel has for it.
  returned: always
  type: dict
  sample: {ipv4: [nf_log_ipv4, nfnetlink_log]}
modules:
  description: Module -> V(built_in), V(loaded), V(loadable) or V(missing), after the call.
  returned: always
  type: dict
  sample: {xt_LOG: loaded, nf_log_syslog: loaded, xt_TRACE: loadable, nfnetlink_log: loadable, xt_NFLOG: loadable}
module_evidence:
  description: Module -> how its state was determined.
  returned: always
  type: dict
module_loading:
  description: Whether this kernel can load modules now (module support, not disabled, modules.dep readable).
  returned: always
  type: bool
all_netns:
  description: Value of C(net.netfilter.nf_log_all_netns), null outside the initial network namespace.
  returned: always
  type: str
  sample: '0'
kernel_release:
  description: The running kernel's release.
  returned: always
  type: str
netns:
  description: Inode number of this network namespace (the run records are kept per namespace).
  returned: always
  type: int
previous:
  description: Loggers, module states and the sysctls this call manages, from before the call.
  returned: with O(state=present)
  type: dict
loaded:
  description: Modules this call loaded (dependencies included), in load order.
  returned: with O(state=present)
  type: list
  elements: str
set:
  description: Sysctls this call changed (dotted name -> new value), including bindings made by loading a logger.
  returned: with O(state=present)
  type: dict
  sample: {net.netfilter.nf_log.2: nf_log_ipv4}
state_file:
  description: The record of this run's changes.
  returned: with O(state=present)
  type: str
expires_at:
  description:
    - Epoch second at which the node puts back this run's changes by itself (the pending expiry, which a later
      call keeps), null without O(ttl) and no pending expiry.
  returned: with O(state=present)
  type: int
  sample: 1795000000
restored:
  description: Sysctls put back (dotted name -> value).
  returned: with O(state=absent)
  type: dict
unloaded:
  description: Modules unloaded.
  returned: with O(state=absent)
  type: list
  elements: str
kept:
  description: Changes not put back yet, and why (another run needs them, or something else changed them since).
  returned: with O(state=absent)
  type: dict
released:
  description: Run ids whose records were released.
  returned: with O(state=absent)
  type: list
  elements: str
reapers:
  description: Pending restores at the ttl that were cancelled (C(kind) V(systemd) with C(unit), or V(process) with
    C(pid); C(run_id), C(expires_at)).
  returned: with O(state=absent)
  type: list
  elements: dict
runs:
  description: Runs with a record on this node (all network namespaces).
  returned: with O(state=query)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry.nflog import Expiry
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.manage import NfLogManager


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent', 'query'], default='present'),
            run_id=dict(type='str'),
            families=dict(type='list', elements='str', choices=['ipv4', 'ipv6'], default=['ipv4', 'ipv6']),
            logger=dict(type='str', choices=['syslog', 'nflog'], default='syslog'),
            log_target=dict(type='bool', default=True),
            trace_target=dict(type='bool', default=True),
            nflog=dict(type='bool', default=False),
            all_netns=dict(type='bool', default=False),
            state_dir=dict(type='path', default='/run/netdebug/nf_log'),
            ttl=dict(type='int'),
        ),
        required_if=[('state', 'present', ['run_id']), ('state', 'absent', ['run_id'])],
        supports_check_mode=True,
    )
    runner = ToolRunner(module)
    run_module(module, lambda: NfLogManager(module, runner, expiry=Expiry(runner)).run(module.params))


if __name__ == '__main__':
    main()
