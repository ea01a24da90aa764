#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: netfilter_info
short_description: Report a node's iptables variant, netfilter tools, other agents' hooks and ruleset snapshots
version_added: 0.1.0
description:
  - Reports which iptables variant the node uses. V(legacy) or V(nf_tables) when only that backend holds rules,
    V(mixed) when both do (for example Docker writing with iptables-legacy while kube-proxy uses iptables-nft),
    and the variant C(iptables -V) names when neither holds rules.
  - A backend holds rules when its save output (C(iptables-legacy-save), C(iptables-nft-save), and the ip6tables
    ones) has a rule, a user chain or a built-in chain whose policy is not ACCEPT.
  - Lists the hooks other agents have in the rulesets (Calico C(cali-), kube-proxy C(KUBE-), Docker C(DOCKER),
    Cilium C(CILIUM_)) and, with O(snapshot), returns the rulesets normalised for comparison (no counters, no
    comment lines, fixed order).
  - Only reads; the rulesets are never changed.
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.info_module
  - netdebug.netfilter.attributes.linux
options:
  families:
    description:
      - The address families to look at (C(iptables) for V(ipv4), C(ip6tables) for V(ipv6)), for the variant
        decision, the hooks and the snapshot.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  snapshot:
    description:
      - Return the normalised rulesets in RV(snapshot).
    type: bool
    default: false
  include_nft:
    description:
      - Also read C(nft list ruleset) to report native nftables tables and their hooks, and (with O(snapshot)) to
        add the normalised listing to the snapshot. Needs the C(nft) command.
    type: bool
    default: false
notes:
  - The save commands read the rulesets without taking the xtables lock.
  - An agent that runs its own iptables binary of the other variant (in a container, for example) is seen,
    because detection reads both backends with the node's own C(iptables-legacy-save) and C(iptables-nft-save).
    Nodes with iptables older than 1.8 have neither; there the plain C(iptables-save) serves the legacy backend
    and the nf_tables backend is not read.
requirements:
  - iptables (C(iptables -V) and the save commands of either variant).
  - nft, only with O(include_nft).
"""

EXAMPLES = r"""
- name: Find out which iptables variant each node uses
  netdebug.netfilter.netfilter_info:
  register: __netdebug_info

- name: Fail early on nodes where both iptables backends hold rules
  ansible.builtin.assert:
    that: __netdebug_info.variant != 'mixed'
    fail_msg: "{{ inventory_hostname }} has rules in both backends: {{ __netdebug_info.variant_reason }}"

- name: Take an IPv4 snapshot of both backends and of nftables, before a change
  netdebug.netfilter.netfilter_info:
    families: [ipv4]
    snapshot: true
    include_nft: true
  register: __netdebug_before

- name: Show the chains where Calico or kube-proxy hook in
  ansible.builtin.debug:
    msg: "{{ __netdebug_before.foreign_hooks | map(attribute='chain') | unique }}"
"""

RETURN = r"""
variant:
  description:
    - V(legacy), V(nf_tables) or V(mixed); null when the node has no iptables command and no rules in either
      backend.
  returned: always
  type: str
  sample: nf_tables
variant_reason:
  description: Why RV(variant) was chosen, in one sentence.
  returned: always
  type: str
  sample: only the nf_tables backend holds rules
iptables_version:
  description: Version of the plain C(iptables) command (C(ip6tables) when only that exists); null without one.
  returned: always
  type: str
  sample: 1.8.9
iptables_variant:
  description: The variant the plain C(iptables) command edits, from C(iptables -V) (before 1.8 always V(legacy)).
  returned: always
  type: str
  sample: nf_tables
backends_with_rules:
  description: The iptables backends (V(legacy), V(nf_tables)) that hold rules.
  returned: always
  type: list
  elements: str
  sample: [legacy, nf_tables]
binaries:
  description: The netfilter executables the module looked for and found, by name.
  returned: always
  type: dict
  sample:
    iptables: /usr/sbin/iptables
    iptables-legacy-save: /usr/sbin/iptables-legacy-save
    iptables-nft-save: /usr/sbin/iptables-nft-save
foreign_agents:
  description: The agents (V(calico), V(kube-proxy), V(docker), V(cilium)) that have hooks, sorted.
  returned: always
  type: list
  elements: str
  sample: [calico, kube-proxy]
foreign_hooks:
  description:
    - Where other agents hook in. A V(jump) hook is a rule in a chain the agent does not own that jumps or goes to
      a chain it owns; a V(base_chain) hook is a base chain of an nftables table the agent owns (kube-proxy's
      nftables mode).
  returned: always
  type: list
  elements: dict
  contains:
    backend:
      description: V(legacy) or V(nf_tables) (iptables), or V(nftables) (native tables, with O(include_nft)).
      type: str
      sample: nf_tables
    family:
      description: V(ipv4) or V(ipv6) for iptables; the nftables family (V(ip), V(ip6), V(inet), ...) otherwise.
      type: str
      sample: ipv4
    table:
      description: Table name.
      type: str
      sample: filter
    chain:
      description: The chain that holds the hook.
      type: str
      sample: INPUT
    agent:
      description: The agent the hook leads to.
      type: str
      sample: calico
    kind:
      description: V(jump) or V(base_chain).
      type: str
      sample: jump
    position:
      description: 1-based rule number in RV(foreign_hooks[].chain) (null for a base chain).
      type: int
      sample: 2
    handle:
      description: The nftables handle of the rule (of the chain for a base chain); null for iptables.
      type: int
      sample: 12
    target:
      description: The chain jumped to (null for a base chain).
      type: str
      sample: cali-INPUT
    rule:
      description: The rule as the save command or nft prints it, without counters (null for a base chain).
      type: str
      sample: -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT
    hook:
      description: The netfilter hook of the chain (V(input), V(prerouting), ...), null for a chain only jumped to.
      type: str
      sample: input
    priority:
      description: An nftables base chain's priority as nft prints it; null otherwise.
      type: str
      sample: dstnat
base_chains:
  description:
    - Every base chain (a chain that packets enter from a netfilter hook) in every backend, with its numeric
      priority, so that the chains of one hook can be put in the order the kernel runs them, across backends.
    - iptables-legacy chains come from the save output of each family. With O(include_nft=true), iptables-nft and
      native nftables chains come from C(nft list ruleset) (the chains the kernel really holds); without it,
      iptables-nft chains come from C(iptables-nft-save), which also lists built-in chains that may not exist.
  returned: always
  type: list
  elements: dict
  contains:
    backend:
      description: V(legacy), V(nf_tables) (a table iptables-nft made) or V(nftables) (a native table).
      type: str
      sample: nftables
    family:
      description: V(ip), V(ip6) (iptables families), or the nft family (V(inet), V(bridge), V(netdev), ...).
      type: str
      sample: inet
    table:
      description: The table's name.
      type: str
      sample: filter
    chain:
      description: The chain's name.
      type: str
      sample: input
    hook:
      description: The hook, lower-case.
      type: str
      sample: input
    priority:
      description:
        - The priority as a number (iptables tables at the kernel's fixed values, raw -300, mangle -150, nat -100 or
          100, filter 0, security 50; nft names such as V(dstnat) or V(filter + 10) worked out); null if not known.
      type: int
      sample: 0
    type:
      description: The chain type (V(filter), V(nat), V(route)); V(nat) for the iptables nat table.
      type: str
      sample: filter
    policy:
      description: The chain's policy as listed.
      type: str
      sample: accept
    can_drop:
      description:
        - Whether the chain can drop a packet. False for a chain with an accept policy and no rule, for iptables nat
          chains, and for nft nat chains with no drop or reject rule and an accept policy (nat chains see only a
          connection's first packet).
      type: bool
      sample: true
nftables_tables:
  description:
    - The native nftables tables as C(FAMILY NAME). Tables of iptables-nft (V(ip)/V(ip6) tables named raw,
      mangle, nat, filter or security) are left out; they belong to the nf_tables backend.
  returned: when O(include_nft=true)
  type: list
  elements: str
  sample: [inet firewalld, ip kube-proxy]
snapshot:
  description:
    - The rulesets normalised for comparison; two snapshots are equal when only counters changed.
    - The save output of each backend whose save command exists has counters and comment lines removed, tables
      in the order raw, mangle, nat, filter, security, built-in chains first and user chains sorted by name.
      An empty string means nothing is loaded in that backend.
    - The nftables listing has no counter values, handles, quota use or expiry times, and tables, chains and sets
      sorted by name.
  returned: when O(snapshot=true)
  type: dict
  contains:
    legacy:
      description: Normalised C(iptables-legacy-save) (key V(ipv4)) and C(ip6tables-legacy-save) (key V(ipv6)).
      type: dict
      returned: when a legacy save command exists
      sample:
        ipv4: "*filter\n:INPUT ACCEPT\n:FORWARD DROP\n:OUTPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n"
        ipv6: ""
    nf_tables:
      description: Normalised C(iptables-nft-save) (key V(ipv4)) and C(ip6tables-nft-save) (key V(ipv6)).
      type: dict
      returned: when an nf_tables save command exists
      sample:
        ipv4: ""
        ipv6: ""
    nftables:
      description: Normalised C(nft list ruleset), including the tables of iptables-nft.
      type: str
      returned: when O(include_nft=true)
      sample: "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.info import gather


def main():
    module = AnsibleModule(
        argument_spec=dict(
            families=dict(type='list', elements='str', choices=['ipv4', 'ipv6'], default=['ipv4', 'ipv6']),
            snapshot=dict(type='bool', default=False),
            include_nft=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    families = []
    for family in module.params['families']:
        if family not in families:
            families.append(family)
    if not families:
        module.fail_json(msg='families: give at least one of ipv4, ipv6')

    def call():
        result, warnings = gather(ToolRunner(module), families, module.params['snapshot'],
                                  module.params['include_nft'])
        return dict(result, changed=False), warnings

    run_module(module, call)


if __name__ == '__main__':
    main()
