#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iptables_trace
short_description: Temporary, self-expiring TRACE rules (legacy, iptables-nft or native nftables)
version_added: 0.1.0
description:
  - Adds TRACE rules (C(meta nftrace set 1) in nftables) at the top of raw PREROUTING and/or OUTPUT for the packets
    that the match parameters select, and removes them again by itself after O(ttl) seconds.
  - With the legacy backend the kernel writes the TRACE lines to the kernel log; the module checks first that a
    logger is bound for the family (see M(netdebug.netfilter.nf_log)) and fails with the remedy if not.
  - With iptables-nft and native nftables, TRACE never reaches the kernel log, so the module starts the trace monitor
    (C(xtables-monitor --trace) or C(nft monitor trace)) before inserting the rule, writing to a capture file in the
    run's state directory C(/run/netdebug/runs/<run_id>/); the monitor ends at expiry with the rules.
  - With O(duration) the call adds the rules, waits, removes them and returns the captured lines.
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.rules
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.check_mode_full
  - netdebug.netfilter.attributes.diff_mode_full
  - netdebug.netfilter.attributes.linux
options:
  hooks:
    description:
      - Built-in chains of the raw table to trace in.
      - Default is both, or the one that fits the match (O(in_interface) needs PREROUTING; O(out_interface) and
        O(uid_owner) need OUTPUT).
    type: list
    elements: str
    choices: [PREROUTING, OUTPUT]
  duration:
    description:
      - Seconds to trace in one call. The module adds the rules, wait, remove them, and return the lines seen (O(ttl) still
        bounds the rules if the call is interrupted; it must be longer than O(duration)).
      - Meant for ad-hoc use (C(ansible -m)); for a fleet, start and stop in separate tasks so the windows overlap.
    type: int
  record_rulesets:
    description:
      - Write the rulesets of the run to C(ruleset/) in the run's state directory (see RV(record_dir)), under the
        names the capture bundle uses, so that one call replaces the separate snapshots and listings.
      - With O(state=present), before the first change of the run, C(before.json) (the normalised snapshot as
        M(netdebug.netfilter.netfilter_info) returns it with O(netdebug.netfilter.netfilter_info#module:snapshot=true)
        and O(netdebug.netfilter.netfilter_info#module:include_nft=true), families ipv4 and ipv6; without the nft
        command, no C(nftables) key) and its non-empty texts C(before/iptables-legacy.save),
        C(before/ip6tables-legacy.save), C(before/iptables-nft.save), C(before/ip6tables-nft.save) and
        C(before/nft.ruleset). A later call of the same run keeps them; once the run has been stopped
        (C(after.json) written), a new start with the same O(run_id) records everything afresh.
      - With O(state=present), once the rules are in (also when they already were), the raw listings with our rules
        in place C(iptables-legacy.save), C(ip6tables-legacy.save), C(iptables-nft.save), C(ip6tables-nft.save)
        (the save commands) and C(nft.ruleset) (C(nft -a list ruleset)); a tool that is missing or fails leaves its
        listing out. Also C(ip_tables_names) and C(ip6_tables_names), copies of C(/proc/net/ip_tables_names) and
        C(/proc/net/ip6_tables_names), the legacy tables the kernel holds, even where no iptables-legacy is
        installed to list them.
      - With O(state=absent), after the removal, C(after.json) and C(after/<file>) the same way as before, and
        RV(ruleset_restored).
      - Files are mode 0600, directories 0700. Check mode writes nothing. Needs one O(run_id) (not C(*)).
    type: bool
    default: false
  limit:
    description:
      - Average rate of traced packets per rule, as with C(-m limit) (nftables C(limit rate)), such as V(100/second)
        or V(6000/minute). Packets over the rate pass the rule untraced; every other rule sees them as always.
      - Each traced packet gives one line per rule it crosses, so the rate bounds the kernel log or capture file.
      - The packets the rate holds back are counted, and the stop returns them in RV(packets). For that the
        iptables backends get a second rule beside each TRACE rule, with the same match and tag but neither limit
        nor target (it only counts, and sits just above the TRACE rule, so that only a packet already traced by
        another backend or hook shows it in its path; see docs/rules.md); the
        nftables backend puts a C(counter) before and after the rule's C(limit).
      - Ignored with O(unlimited=true).
    type: str
    default: 100/second
  limit_burst:
    description: Packets traced at once before O(limit) applies, 1 to 10000.
    type: int
    default: 200
  unlimited:
    description:
      - Trace every matching packet, with a warning. Off by default, because a busy match can load the node and fill
        the capture.
    type: bool
    default: false
  capture_max_bytes:
    description:
      - Cap in bytes of each trace monitor's capture file (backends C(nft) and C(nftables); legacy TRACE lines go to
        the kernel log), from V(65536) to V(1073741824). The node lowers it to a quarter of the free space of the
        state directory's file system (C(/run), in RAM) when that is less, and refuses to start a monitor below 64
        KiB.
      - Each line in the file has the node's wall-clock time in front (C(@<epoch seconds> <monitor line>)),
        written by a stamper between the monitor and the file, which also keeps the cap - past it, it reads on but
        writes nothing more, so the monitor keeps reading its netlink socket, and the rules stay. The stop cuts the
        file back to its last whole line and lists the monitor in RV(monitors_truncated), with a warning.
    type: int
    default: 33554432
  drop_reasons:
    description:
      - Also record the packets the kernel drops during the run, with the kernel's reason (C(skb:kfree_skb), Linux
        5.17 and later), in a tracefs instance of the run's own (C(instances/netdebug-<run_id>-<network namespace>)),
        the event filtered to the match's IP families, a buffer of 256 KiB per CPU that keeps the first drops and
        counts the rest as lost. Nothing else of the node's tracing is touched; where tracefs is not mounted it is
        mounted under C(/run/netdebug-tracefs/) only for the moment of the start and of the stop.
      - The stop writes the drops of the window to C(drop-reasons.json) in the run's state directory (see
        RV(drop_reasons)) and removes the instance; the run's reaper removes it at the expiry as it does the rules.
      - The reason names and numbers are read from the running kernel's event format. A kernel without the event
        or its C(reason) field, or a node where tracefs cannot be had, records none and says why in
        RV(drop_reasons) (C(available=false)); the trace goes on.
      - Network namespaces share one kernel, so the instance sees the drops of every namespace on it.
    type: bool
    default: false
seealso:
  - module: netdebug.netfilter.iptables_log
  - module: netdebug.netfilter.nf_log
"""

EXAMPLES = r"""
- name: Trace ICMP from one address for five minutes (default ttl), removed by the node itself afterwards
  netdebug.netfilter.iptables_trace:
    run_id: incident-42
    protocol: icmp
    source: 198.18.0.1
  register: trace

- name: Where the lines go
  ansible.builtin.debug:
    msg: "{{ trace.capture_files if trace.capture_files else 'kernel log (legacy TRACE)' }}"

- name: Trace TCP to port 443 on both families with native nftables, for one minute
  netdebug.netfilter.iptables_trace:
    run_id: incident-42-v6
    backend: nftables
    ip_version: both
    protocol: tcp
    destination_port: "443"
    ttl: 60

- name: Trace the match a playbook got from its user, given as one dict
  netdebug.netfilter.iptables_trace:
    run_id: incident-44
    match: "{{ user_match }}"  # for example {"protocol": "udp", "destination_port": "53"}

- name: Arm now, trace from 14:00:00 to 14:01:00 UTC on the node's clock, remove two minutes after that
  netdebug.netfilter.iptables_trace:
    run_id: incident-45
    protocol: udp
    destination_port: "53"
    window_start: 1796565600  # 2026-12-06T14:00:00Z
    window_end: 1796565660
    ttl: 120

- name: Stop the run early
  netdebug.netfilter.iptables_trace:
    run_id: incident-42
    state: absent

- name: Trace, keeping the rulesets before, during and after in the run's directory on the node
  netdebug.netfilter.iptables_trace:
    run_id: incident-43
    protocol: icmp
    record_rulesets: true
  register: trace

- name: Stop it; ruleset_restored says whether the ruleset is back as it was before
  netdebug.netfilter.iptables_trace:
    run_id: incident-43
    state: absent
    record_rulesets: true
  register: stopped

- name: Remove every netdebug rule, monitor and reaper on the node
  netdebug.netfilter.iptables_trace:
    run_id: '*'
    state: absent

# Ad hoc: ansible node2 -m netdebug.netfilter.iptables_trace -a 'protocol=udp destination_port=53 duration=10'
- name: Trace for ten seconds and return the lines
  netdebug.netfilter.iptables_trace:
    protocol: udp
    destination_port: "53"
    duration: 10
  register: window
"""

RETURN = r"""
run_id:
  description: The run (generated when not given).
  returned: always
  type: str
  sample: 20261124T180512-a3f1
backend:
  description: Backends used, joined with C(+) (C(legacy+nft) on a mixed node).
  returned: when state is present
  type: str
  sample: nft
backends:
  description: Backends used.
  returned: when state is present
  type: list
  elements: str
  sample: [legacy, nft]
variant:
  description: The node's iptables variant as detected (C(legacy), C(nf_tables), C(mixed)), or the backend asked for.
  returned: when state is present
  type: str
  sample: nf_tables
rules:
  description:
    - The run's rules of this call as the ruleset shows them (planned ones in check mode), the count rules beside
      rate-limited iptables TRACE rules included (see O(limit)).
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
  sample:
    - backend: nft
      family: ipv4
      table: raw
      chain: PREROUTING
      rule: -A PREROUTING -s 198.18.0.1/32 -p icmp -m comment --comment "netdebug:incident-42:1795000000" -j TRACE
      expires_at: 1795000000
capture_files:
  description: Files the trace monitors write to (nf_tables and nftables backends).
  returned: when state is present
  type: list
  elements: str
  sample: [/run/netdebug/runs/incident-42/nft.trace]
kernel_log:
  description: True when TRACE lines go to the kernel log (legacy backend).
  returned: when state is present
  type: bool
state_dir:
  description: The run's state directory on the node.
  returned: when state is present
  type: str
  sample: /run/netdebug/runs/incident-42
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
drop_reasons:
  description:
    - With O(drop_reasons) and state present, the run's drop-reason capture; null without it (and in check mode
      before the run started).
    - With state absent, what the stop read from the run's instance; null when the run had none, a dict per run
      with O(run_id=*).
  returned: always
  type: dict
  sample: {available: true, why: null, instance: netdebug-incident-42-4026531840, trace_clock: local,
           filter: protocol == 2048, file: /run/netdebug/runs/incident-42/drop-reasons.json}
  contains:
    available:
      description: False where the kernel has no drop reasons (or tracefs cannot be had); RV(drop_reasons.why) says why.
      type: bool
    why:
      description: "Why drop reasons are not available on this node (C(drop reasons not available on this kernel: ...))."
      type: str
    instance:
      description: The tracefs instance's name.
      type: str
    file:
      description: Where the stop writes the drops of the window (collected as C(drop-reasons.json) of the host).
      type: str
    events:
      description: With state absent, the drops of the window written to the file.
      type: int
    lost:
      description: With state absent, drops the full buffer could not keep.
      type: int
    outside_window:
      description: With state absent, drops before or after the window, left out.
      type: int
removed:
  description: What was (in check mode, would be) removed, with state absent or after a O(duration).
  returned: when state is absent or duration is set
  type: dict
  contains:
    rules:
      description: Rules removed.
      type: list
      elements: dict
    monitors:
      description:
        - Trace monitors stopped, each with its C(run_id), C(backend) and C(pid), and (monitors of this release)
          C(capture_file), C(bytes) (the capture file's size after the stop), C(max_bytes) (its cap),
          C(truncated) (the cap was reached) and C(cpu_seconds) (CPU time the monitor used, restarts included; the
          kernel's own share of tracing is not in it).
      type: list
      elements: dict
    reapers:
      description: Reapers cancelled.
      type: list
      elements: dict
    tables:
      description:
        - Empty tables or chains removed that netdebug had created, including a legacy table whose module our insert
          loaded (C(legacy ipv4 table raw (module iptable_raw unloaded))); see docs/rules.md.
      type: list
      elements: str
    drop_instances:
      description:
        - The tracefs instances of drop reasons removed (with O(run_id=*), also those of runs that lost their state).
      type: list
      elements: str
record_dir:
  description: With O(record_rulesets), the directory the rulesets are written to (also in check mode, which writes
    nothing); null without it.
  returned: always
  type: str
  sample: /run/netdebug/runs/incident-43/ruleset
recorded:
  description: Files this call wrote under RV(record_dir), relative to it, sorted.
  returned: always
  type: list
  elements: str
  sample: [before.json, before/iptables-nft.save, before/nft.ruleset, iptables-nft.save, nft.ruleset]
ruleset_restored:
  description:
    - With O(record_rulesets), true when the snapshot after the removal equals C(before.json) (counters aside),
      false when it differs (something else changed the ruleset during the run, or a rule could not be removed).
    - When the snapshots differ and another netdebug run's tag shows in either, what other runs did meanwhile is
      left out and they are compared again (the files keep everything), so that a capture running at the same
      time does not count as a change - their tagged rules, iptables tables left with no rule and only ACCEPT
      policies (iptables-nft makes them for such rules), the C(inet netdebug) table unless it still holds a rule
      of this run, and in the nftables listing the iptables-nft tables, which the iptables-nft save output
      compares already. This run's own leftovers always count.
    - Null when there is no C(before.json), without O(record_rulesets), and in check mode.
  returned: when state is absent or duration is set
  type: bool
monitors_died:
  description:
    - Trace monitors of the run that had already ended when the stop came although their expiry had not passed.
      Their capture file lacks every trace line after that moment; a warning says so too.
    - A monitor process that exits with an error, or is killed, is run again on the node (see
      RV(monitors_restarted)). A monitor is listed here when the loop that runs it again gave up (the monitor
      failed 20 times within 10 seconds, so it could not run at all), when the monitor ended without an error,
      or when that loop or the C(timeout) around it was killed.
  returned: when state is absent or duration is set
  type: list
  elements: dict
  contains:
    run_id:
      description: The monitor's run.
      type: str
    backend:
      description: C(nft) (C(xtables-monitor --trace)) or C(nftables) (C(nft monitor trace)).
      type: str
    pid:
      description: Its process id.
      type: int
    capture_file:
      description: Its capture file.
      type: str
  sample:
    - run_id: incident-42
      backend: nft
      pid: 4711
      capture_file: /run/netdebug/runs/incident-42/nft.trace
monitors_restarted:
  description:
    - Trace monitors of the run whose monitor process exited with an error and was run again on the node, after
      a new line in the capture file and a pause of 50 ms. C(xtables-monitor --trace) exits with C(No such file
      or directory) when a traced rule is deleted before it looks the rule up, as agents that rewrite their
      chains (kube-proxy, Calico) do.
    - The number of restarts over the ttl has no limit; the node gives up only when the monitor fails 20 times
      within 10 seconds (see RV(monitors_died)).
    - Trace lines in each gap (a few milliseconds) may be missing from the capture file; a warning says so too.
      The node records each restart in C(<backend>.stderr) next to the capture file.
  returned: when state is absent or duration is set
  type: list
  elements: dict
  contains:
    run_id:
      description: The monitor's run.
      type: str
    backend:
      description: C(nft) (C(xtables-monitor --trace)) or C(nftables) (C(nft monitor trace)).
      type: str
    pid:
      description: The process id of the monitor's C(timeout), which outlives the restarts.
      type: int
    capture_file:
      description: Its capture file.
      type: str
    restarts:
      description: How many times the monitor process was run again.
      type: int
    last_error:
      description: The last line the monitor process wrote to its standard error before the last restart, null
        when it wrote none.
      type: str
  sample:
    - run_id: incident-42
      backend: nft
      pid: 4711
      capture_file: /run/netdebug/runs/incident-42/nft.trace
      restarts: 3
      last_error: 'error: No such file or directory'
monitors_truncated:
  description:
    - Trace monitors of the run whose capture file reached its cap (O(capture_max_bytes)); trace lines after that
      moment are missing from it. A warning says so too.
    - Each entry has the keys of an entry of RV(removed.monitors) (C(run_id), C(backend), C(pid), C(capture_file),
      C(bytes) after the cut to whole lines, C(max_bytes), C(truncated), and C(cpu_seconds) when the monitor was
      still running at the stop).
  returned: when state is absent or duration is set
  type: list
  elements: dict
  sample:
    - run_id: incident-42
      backend: nftables
      pid: 4711
      capture_file: /run/netdebug/runs/incident-42/nftables.trace
      bytes: 33554211
      max_bytes: 33554432
      truncated: true
packets:
  description:
    - What the rate limit (O(limit)) held back, from the rules' counters read just before they were removed; null
      without a limit (O(unlimited=true)), in check mode, and when no counted rule was left to read.
    - Each backend sees every matching packet, so on a node traced by two backends (legacy and nftables) the
      figures are those of the backend that counted most.
  returned: when state is absent or duration is set
  type: dict
  contains:
    matched:
      description: Packets that matched the rules during the run.
      type: int
    traced:
      description: Of those, the packets traced.
      type: int
    untraced:
      description: Of those, the packets the rate limit let pass untraced.
      type: int
    rules:
      description: The counts per run, backend, family, table and chain (C(run_id), C(backend), C(family), C(table),
        C(chain), C(matched), C(traced)).
      type: list
      elements: dict
  sample:
    matched: 1000000
    traced: 2199
    untraced: 997801
    rules:
      - run_id: incident-42
        backend: nft
        family: ipv4
        table: raw
        chain: PREROUTING
        matched: 1000000
        traced: 2199
lines:
  description: With O(duration), the TRACE lines seen during the window (kernel log first, then monitors).
  returned: when duration is set
  type: list
  elements: str
trace_lines:
  description: With O(duration), the same lines by source (C(kernel_log), C(nft), C(nftables)).
  returned: when duration is set
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import module_api


def main():
    module = AnsibleModule(argument_spec=module_api.TRACE_ARGS, mutually_exclusive=module_api.MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    run_module(module, lambda: module_api.run('trace', module_api.make_node(module), module.params,
                                              check_mode=module.check_mode))


if __name__ == '__main__':
    main()
