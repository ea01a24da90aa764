#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conntrack_query
short_description: Query, count, watch and delete connection tracking entries, filtered in the kernel where possible
version_added: 0.1.0
description:
  - The C(conntrack -L/-G/-C/-S/-D/-E) family as one module returning structured data, fast on tables of millions
    of entries.
  - Talks ctnetlink directly. Dump filters go to the kernel where the running kernel can apply them (mark and mask
    on all kernels, addresses, protocol, ports and ICMP fields from Linux 5.8, status bits from 5.15, zone from
    6.8) and every entry the kernel returns is checked again in Python, so results are the same on every kernel.
    RV(kernel_filtered) tells which filters the kernel applied.
  - Dumps are streamed; counting and filtering take constant memory however large the table is.
  - Conntrack tables are per network namespace. O(netns) reads another namespace's table (a container's or a
    pod's) from the node. A namespace only tracks connections once something in it uses conntrack (a rule with
    C(-m conntrack)/C(-m state), NAT, an nftables C(ct) expression, a C(CT) target); before that its table
    stays empty.
  - Needs root (C(CAP_NET_ADMIN), and C(CAP_SYS_ADMIN) for O(netns)).
author:
  - netdebug.netfilter contributors (@netdebug)
requirements:
  - pyroute2 on the managed node (Debian and Ubuntu package C(python3-pyroute2), pip C(pyroute2)); version 0.7
    or later, 0.7 without kernel-side status filtering.
  - Linux with ctnetlink (C(nf_conntrack_netlink), built in or loaded).
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.linux
attributes:
  check_mode:
    support: full
    details: With O(operation=delete), reports the entries that would be deleted and deletes nothing.
  diff_mode:
    support: none
options:
  operation:
    description:
      - V(list) returns the matching entries (at most O(limit)) and how many matched.
      - V(get) looks up one exact original tuple (O(protocol), O(source), O(destination) and the ports, or
        O(icmp_type), O(icmp_code) and O(icmp_id) for ICMP), like C(conntrack -G).
      - V(count) counts the matching entries; without filters it is the table size (C(conntrack -C)).
      - V(stats) returns the per-CPU counters, summed and per CPU, with the table size, maximum, hash buckets and
        a RV(table_full) verdict. Filters do not apply.
      - V(delete) deletes the matching entries (at least one filter is required).
      - V(watch) collects conntrack events (new, update, destroy) matching the filters for O(duration) seconds.
    type: str
    choices: [list, get, count, stats, delete, watch]
    default: list
  netns:
    description:
      - The network namespace whose table to query, as a name under C(/run/netns) (as C(ip netns) creates), a
        path such as C(/proc/1234/ns/net), or a PID (a container's or pod's process).
      - The module process enters the namespace (C(setns)) before it opens any socket or file, so every answer
        comes from that namespace. Omitted, the namespace of the module process (normally the node's).
    type: str
  family:
    description: Only entries of this address family. Implied by addresses and by O(protocol=icmp)/V(icmpv6).
    type: str
    choices: [ipv4, ipv6]
  protocol:
    description:
      - Layer 4 protocol, by name (V(tcp), V(udp), V(icmp), V(icmpv6), V(sctp), V(dccp), V(udplite), V(gre),
        V(igmp)) or number (0-255).
    type: str
  source:
    description: Source address of the original direction; an address or a network (V(198.18.210.0/24)).
    type: str
  destination:
    description: Destination address of the original direction; an address or a network.
    type: str
  source_port:
    description: Source port of the original direction (0-65535).
    type: int
  destination_port:
    description: Destination port of the original direction (0-65535).
    type: int
  reply_source:
    description: Source address of the reply direction (differs from O(destination) after DNAT).
    type: str
  reply_destination:
    description: Destination address of the reply direction (differs from O(source) after SNAT).
    type: str
  icmp_type:
    description: ICMP or ICMPv6 type of the original direction (needs O(protocol=icmp) or V(icmpv6)).
    type: int
  icmp_code:
    description: ICMP or ICMPv6 code of the original direction.
    type: int
  icmp_id:
    description: ICMP or ICMPv6 identifier of the original direction.
    type: int
  state:
    description:
      - TCP states; an entry matches when it is in any of them. Implies O(protocol=tcp).
      - One of V(NONE), V(SYN_SENT), V(SYN_RECV), V(ESTABLISHED), V(FIN_WAIT), V(CLOSE_WAIT), V(LAST_ACK),
        V(TIME_WAIT), V(CLOSE), V(SYN_SENT2) (V(LISTEN) is accepted for it).
    type: list
    elements: str
  status:
    description:
      - Status flags that must all be set, or, with a leading C(!), must be unset. For example
        V([ASSURED, "!SRC_NAT"]).
      - Flags are V(EXPECTED), V(SEEN_REPLY), V(ASSURED), V(CONFIRMED), V(SRC_NAT), V(DST_NAT), V(SEQ_ADJUST),
        V(SRC_NAT_DONE), V(DST_NAT_DONE), V(DYING), V(FIXED_TIMEOUT), V(TEMPLATE), V(NAT_CLASH), V(HELPER),
        V(OFFLOAD), V(HW_OFFLOAD). V(UNREPLIED) means V(!SEEN_REPLY), as C(conntrack -L) shows it.
    type: list
    elements: str
  unreplied:
    description: V(true) matches entries that saw no reply yet (no V(SEEN_REPLY)), V(false) those that did.
    type: bool
  mark:
    description: Connection mark to match, as a number or a string (decimal or C(0x) hex); see O(mark_mask).
    type: raw
  mark_mask:
    description:
      - Bits of the mark that are compared; an entry matches when C(entry mark & mark_mask == mark & mark_mask).
        Default all 32 bits. Needs O(mark).
    type: raw
  zone:
    description: Conntrack zone (0-65535); 0 is the default zone.
    type: int
  limit:
    description:
      - At most this many entries are returned by V(list) and V(delete); RV(matched) still counts all of them.
        V(0) returns all (mind the size of the result on big tables).
    type: int
    default: 1000
  duration:
    description: Seconds V(watch) collects events for (more than 0, at most 86400).
    type: float
    default: 10
  max_events:
    description: V(watch) stops early after this many matching events.
    type: int
    default: 1000
  events:
    description: Event kinds V(watch) collects.
    type: list
    elements: str
    choices: [new, update, destroy]
    default: [new, update, destroy]
  near_full_percent:
    description: V(stats) says RV(table_full) when the entry count reaches this percentage of the maximum.
    type: int
    default: 90
notes:
  - Addresses are compared exactly as the kernel stores them; networks and the reply-direction filters are
    applied in Python (the kernel's reply tuple filter was wrong on early 5.x kernels).
  - With O(operation=watch), destroy events of kernels before 5.x carry no status, so a status filter does not
    match them.
seealso:
  - name: conntrack(8)
    description: The command line tool this module replaces.
    link: https://manpages.debian.org/bookworm/conntrack/conntrack.8.en.html
"""

EXAMPLES = r"""
- name: The first 100 UDP flows to port 53, and how many there are in all
  netdebug.netfilter.conntrack_query:
    protocol: udp
    destination_port: 53
    limit: 100
  become: true
  register: dns_flows

- name: Unreplied flows from one client inside a container's network namespace
  netdebug.netfilter.conntrack_query:
    netns: "{{ container_pid }}"
    source: 198.18.210.7
    unreplied: true
  become: true

- name: Is the table full? (the cause of "nf_conntrack table full, dropping packet")
  netdebug.netfilter.conntrack_query:
    operation: stats
  become: true
  register: ct_stats

- name: Count established TCP connections carrying mark 0x10 in the low byte
  netdebug.netfilter.conntrack_query:
    operation: count
    state: [ESTABLISHED]
    mark: "0x10"
    mark_mask: "0xff"
  become: true

- name: Forget the flows of a removed backend (check mode shows them first)
  netdebug.netfilter.conntrack_query:
    operation: delete
    destination: 198.18.210.20
    protocol: tcp
    destination_port: 8080
  become: true

- name: Watch new connections in zone 7 for 30 seconds
  netdebug.netfilter.conntrack_query:
    operation: watch
    events: [new]
    zone: 7
    duration: 30
  become: true
"""

RETURN = r"""
entries:
  description:
    - Matching entries (V(list), V(get), V(delete)), at most O(limit).
    - Each has V(family), V(protocol), V(protocol_number), V(original) and V(reply) tuples (V(source),
      V(destination), and V(source_port)/V(destination_port) or V(icmp_type)/V(icmp_code)/V(icmp_id)),
      V(status) (flag names), V(timeout) (seconds), V(mark), V(zone), V(id), V(use), and when present V(state)
      (TCP, SCTP, DCCP), V(counters) (V(original)/V(reply) V(packets) and V(bytes), when accounting is on),
      V(timestamp) (V(start)/V(stop) ns, when timestamps are on), V(helper), V(labels), V(secctx), V(secmark),
      V(zone_direction) (for a zone that applies to one direction only).
  returned: when operation is list, get or delete
  type: list
  elements: dict
  sample:
    - family: ipv4
      protocol: tcp
      protocol_number: 6
      original: {source: 198.18.210.1, destination: 198.18.210.2, source_port: 40112, destination_port: 8080}
      reply: {source: 198.18.210.2, destination: 198.18.210.1, source_port: 8080, destination_port: 40112}
      state: ESTABLISHED
      status: [SEEN_REPLY, ASSURED, CONFIRMED]
      timeout: 431999
      mark: 0
      zone: 0
      id: 3177484512
      use: 1
matched:
  description: How many entries (or, for V(watch), events) matched, also beyond O(limit).
  returned: except with operation stats
  type: int
  sample: 512000
truncated:
  description: V(true) when more entries matched than were returned (O(limit)), or V(watch) stopped at O(max_events).
  returned: when operation is list, delete or watch
  type: bool
found:
  description: Whether V(get) found the tuple.
  returned: when operation is get
  type: bool
count:
  description: The number of matching entries (V(count)) or of all entries (V(stats)).
  returned: when operation is count or stats
  type: int
deleted:
  description: Entries deleted (0 in check mode).
  returned: when operation is delete
  type: int
vanished:
  description: Matching entries that were gone (expired) by the time they were to be deleted.
  returned: when operation is delete
  type: int
events:
  description: Matching events, oldest first; each is an entry (see RV(entries)) plus V(event) (V(new), V(update),
    V(destroy)) and V(time) (epoch seconds). Destroy events carry no timeout.
  returned: when operation is watch
  type: list
  elements: dict
seen:
  description: Events of the requested kinds received, matching or not.
  returned: when operation is watch
  type: int
lost:
  description: Times the kernel reported dropping events because the receive buffer overflowed.
  returned: when operation is watch
  type: int
elapsed:
  description: Seconds V(watch) ran.
  returned: when operation is watch
  type: float
counters:
  description: Per-CPU counters summed, by the kernel's names (for example V(found), V(invalid), V(insert),
    V(insert_failed), V(drop), V(early_drop), V(search_restart)); the set depends on the kernel.
  returned: when operation is stats
  type: dict
per_cpu:
  description: The same counters for each CPU.
  returned: when operation is stats
  type: list
  elements: dict
max:
  description: The table's maximum size (C(net.netfilter.nf_conntrack_max)).
  returned: when operation is stats
  type: int
buckets:
  description: Hash table buckets (C(net.netfilter.nf_conntrack_buckets)).
  returned: when operation is stats
  type: int
table_full:
  description: V(true) when packets were dropped for lack of room (V(drop), V(early_drop), V(insert_failed) not
    zero) or the count reached O(near_full_percent) of the maximum.
  returned: when operation is stats
  type: bool
table_full_reasons:
  description: Why RV(table_full) is V(true), one line per cause.
  returned: when operation is stats
  type: list
  elements: str
source:
  description: Where the counters came from, V(proc) (C(/proc/net/stat/nf_conntrack)) or V(netlink).
  returned: when operation is stats
  type: str
kernel_filtered:
  description: The filters the kernel applied during the dump (all are checked again in Python).
  returned: when operation is list, count, get or delete
  type: list
  elements: str
  sample: [family, protocol, destination_port]
kernel_fallback:
  description: Set when the kernel refused the dump filters it should support and the dump was redone unfiltered.
  returned: when that happened
  type: str
kernel_release:
  description: The node's kernel release, which decides the kernel-side filters.
  returned: always
  type: str
netns:
  description: The namespace entered, as V(path) and V(inode) (the namespace's identity).
  returned: when netns is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import deps
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.query import run
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module

ARGUMENT_SPEC = dict(
    operation=dict(type='str', default='list', choices=['list', 'get', 'count', 'stats', 'delete', 'watch']),
    netns=dict(type='str'),
    family=dict(type='str', choices=['ipv4', 'ipv6']),
    protocol=dict(type='str'),
    source=dict(type='str'),
    destination=dict(type='str'),
    source_port=dict(type='int'),
    destination_port=dict(type='int'),
    reply_source=dict(type='str'),
    reply_destination=dict(type='str'),
    icmp_type=dict(type='int'),
    icmp_code=dict(type='int'),
    icmp_id=dict(type='int'),
    state=dict(type='list', elements='str'),
    status=dict(type='list', elements='str'),
    unreplied=dict(type='bool'),
    mark=dict(type='raw'),
    mark_mask=dict(type='raw'),
    zone=dict(type='int'),
    limit=dict(type='int', default=1000),
    duration=dict(type='float', default=10),
    max_events=dict(type='int', default=1000),
    events=dict(type='list', elements='str', choices=['new', 'update', 'destroy'],
                default=['new', 'update', 'destroy']),
    near_full_percent=dict(type='int', default=90),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not deps.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib(
            deps.PIP_NAME, reason='to talk to the kernel over ctnetlink (Debian/Ubuntu package %s, pip %s)'
            % (deps.DEBIAN_PACKAGE, deps.PIP_NAME)), exception=deps.PYROUTE2_IMPORT_ERROR)
    run_module(module, lambda: run(module.params, check_mode=module.check_mode))


if __name__ == '__main__':
    main()
