# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the temporary-rule modules iptables_log and iptables_trace."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  state:
    description:
      - V(present) adds the rules of this call (unless the run already has them) and schedules their removal at
        expiry.
      - V(absent) removes every rule of the run O(run_id), whichever module added it, and stops its trace monitors
        and reapers. With O(run_id=*) it removes every netdebug rule, monitor and reaper on the node.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description:
      - Names the run. Every rule gets the comment C(netdebug:<run_id>:<expiry epoch>), and removal goes by that
        tag only.
      - 1 to 32 letters, digits, C(.), C(_) or C(-). Generated (and returned) when omitted with O(state=present).
      - Required with O(state=absent); V(*) there means every run.
    type: str
  ttl:
    description:
      - Seconds until the node removes the rules (and stops the trace monitor) by itself, even when the controller
        is gone. From 1 to 86400 (a day).
      - A systemd transient timer runs the removal where systemd is the init system, a detached process elsewhere.
      - With O(window_start) and O(window_end), the ttl counts from the window's end instead of from now.
    type: int
    default: 300
  window_start:
    description:
      - Start of a trace window fixed in wall-clock time, in epoch seconds of the node's clock. The rules are
        added now and match only from this second on (a time match, C(-m time --datestart) for iptables,
        C(meta time) for nftables), so the node's own kernel starts the trace at the same moment whenever the
        call ran.
      - Given with O(window_end); a start in the past is allowed (the rules come late, and RV(window.late) says by
        how much).
      - The node's kernel needs the time match (module C(xt_time) for iptables; Linux 5.4 or later for nftables).
    type: int
  window_end:
    description:
      - End of the window, in epoch seconds of the node's clock, after O(window_start) and in the future. The
        rules stop matching at this second and are removed O(ttl) seconds later.
    type: int
  backend:
    description:
      - V(legacy) is iptables-legacy, V(nft) is iptables-nft, V(nftables) puts native rules in the module's own
        table C(inet netdebug), in a chain that runs just before the table named by the call (for raw at priority
        -310, before raw's -300).
      - V(auto) follows the node's iptables variant. On a node where both variants hold rules (C(mixed)),
        iptables_trace traces both sides; iptables_log logs on the side of the plain C(iptables) command.
      - For iptables_trace, V(auto) on a legacy node that also has native nftables base chains (for IP packets,
        other than C(inet netdebug)) adds V(nftables), so that those chains are traced too; on nf_tables and
        mixed nodes the iptables-nft TRACE rule already makes nf_tables trace the native chains after it.
    type: str
    choices: [auto, legacy, nft, nftables]
    default: auto
  ip_version:
    description:
      - Address family of the rules; V(both) adds one rule per family (one C(inet) rule with O(backend=nftables)).
      - O(source) and O(destination) must be of this family; V(both) cannot take addresses.
    type: str
    choices: [ipv4, ipv6, both]
    default: ipv4
  protocol:
    description:
      - Protocol name (V(tcp), V(udp), V(sctp), V(icmp), V(ipv6-icmp) ...) or number. A leading V(!) negates.
      - V(icmp) needs O(ip_version=ipv4), V(ipv6-icmp) (or V(icmpv6)) needs O(ip_version=ipv6).
    type: str
  source:
    description:
      - Source address or network (CIDR). Host names are not accepted. A leading V(!) negates.
    type: str
  destination:
    description:
      - Destination address or network (CIDR). Host names are not accepted. A leading V(!) negates.
    type: str
  source_port:
    description:
      - Source port, range V(LOW:HIGH), or a comma-separated list of those (at most 15, a range counts twice).
      - Needs O(protocol) V(tcp), V(udp) or V(sctp). A leading V(!) negates.
    type: str
  destination_port:
    description:
      - Destination port, range V(LOW:HIGH), or a comma-separated list of those (at most 15, a range counts twice).
      - Needs O(protocol) V(tcp), V(udp) or V(sctp). A leading V(!) negates.
    type: str
  in_interface:
    description:
      - Input interface; a trailing V(+) is a wildcard. A leading V(!) negates. Not in OUTPUT or POSTROUTING.
    type: str
  out_interface:
    description:
      - Output interface; a trailing V(+) is a wildcard. A leading V(!) negates. Not in PREROUTING or INPUT.
    type: str
  icmp_type:
    description:
      - ICMP or ICMPv6 type, by name (as iptables spells it, for example V(echo-request)) or as V(TYPE[/CODE]).
      - Needs O(protocol=icmp) or O(protocol=ipv6-icmp). A leading V(!) negates.
    type: str
  ctstate:
    description:
      - Connection tracking states (V(NEW), V(ESTABLISHED), V(RELATED), V(INVALID), V(UNTRACKED), V(SNAT), V(DNAT)).
      - In the raw table connection tracking has not seen the packet yet; the module warns.
    type: list
    elements: str
  mark:
    description:
      - Packet mark V(VALUE) or V(VALUE/MASK), decimal or hex. A leading V(!) negates.
    type: str
  uid_owner:
    description:
      - Owner (user name, uid or uid range) of the local socket; only in OUTPUT and POSTROUTING.
    type: str
  match_extra:
    description:
      - For experts, more match tokens appended as they are, for example V(["-m", "length", "--length", "0:100"])
        (or nft words with O(backend=nftables)).
      - Before anything changes, the complete rule is inserted in a throwaway network namespace, where the kernel
        checks it; a rule the kernel rejects fails the call and the node is unchanged. Tokens that set a target,
        a chain or a comment are refused.
    type: list
    elements: str
  match:
    description:
      - The match options above (O(ip_version) to O(match_extra)) as one dict, for example the match a playbook
        got from its user; keys as the options, none of them required. Give either O(match) or the separate
        options, not both.
    type: dict
    suboptions:
      ip_version:
        description: As O(ip_version) (default V(ipv4)).
        type: str
        choices: [ipv4, ipv6, both]
      protocol:
        description: As O(protocol).
        type: str
      source:
        description: As O(source).
        type: str
      destination:
        description: As O(destination).
        type: str
      source_port:
        description: As O(source_port).
        type: str
      destination_port:
        description: As O(destination_port).
        type: str
      in_interface:
        description: As O(in_interface).
        type: str
      out_interface:
        description: As O(out_interface).
        type: str
      icmp_type:
        description: As O(icmp_type).
        type: str
      ctstate:
        description: As O(ctstate).
        type: list
        elements: str
      mark:
        description: As O(mark).
        type: str
      uid_owner:
        description: As O(uid_owner).
        type: str
      match_extra:
        description: As O(match_extra).
        type: list
        elements: str
  position:
    description:
      - Where the rule goes in its chain, V(top), V(bottom) or a rule number from 1.
      - With O(backend=nftables) the position counts within the module's own chain.
    type: raw
    default: top
  wait:
    description:
      - Seconds to wait for the xtables lock held by another program, per command (iptables C(-w)).
    type: int
    default: 10
notes:
  - Rules are only ever inserted one by one and removed by their exact specification when their comment carries
    the run's tag; nothing is flushed or restored wholesale, and other tables are never written (iptables-nft may
    create the C(raw) table and chain on first use; the module removes them again when they are empty and it
    created them).
  - State lives under C(/run/netdebug) on the node (rules of each run, trace capture files, reaper log). A run's
    directory goes once the run is over and holds no capture file or recorded ruleset (capture_pack's
    C(remove_copied) removes those), at its expiry if the rules were still in, or with O(run_id=*); the whole
    directory goes with the last run.
  - When other agents (Calico C(cali-), kube-proxy C(KUBE-), Docker, Cilium) already have jumps in the same chain,
    the module warns; they may re-insert their hooks above ours and a verdict there hides packets.
requirements:
  - iptables (legacy and/or nf_tables variant), or nft for O(backend=nftables).
  - C(unshare) from util-linux for the kernel dry run (required with O(match_extra)).
"""
