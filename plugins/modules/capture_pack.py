#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: capture_pack
short_description: Pack one node's part of an incident bundle
version_added: 0.1.0
description:
  - Does in one call everything a capture bundle needs from a node, and packs it into one gzip tar with a sha256
    per file and for the archive. The bundle layout is described in C(docs/bundle.md).
  - Writes the texts the caller already holds (O(texts)), copies files and directories of the node (O(copies)),
    extracts the kernel log lines of the capture window into C(trace/kernel.log) (O(kernlog)), snapshots
    conntrack into C(conntrack.json) and C(conntrack-stats.json) (O(conntrack), as
    M(netdebug.netfilter.conntrack_query) O(netdebug.netfilter.conntrack_query#module:operation=list) and
    V(stats) would return them), records the logger and module state in C(loggers.json) (O(loggers), as
    M(netdebug.netfilter.nf_log) O(netdebug.netfilter.nf_log#module:state=query) returns it) and basic facts in
    C(facts.json).
  - An archive of at most O(inline_max) bytes comes back in the result (RV(content), base64) and nothing is left
    on the node, so no fetch and no clean-up task are needed. A larger one stays at RV(archive), in a private
    directory (mode 0700) the module made, for the caller to fetch and remove (the whole directory).
  - A part the node cannot give (conntrack without pyroute2 or ctnetlink, no netfilter logging) is left out and
    named in RV(problems); a copy source that does not exist and a kernel log that cannot be read are named in
    RV(pack_warnings). Neither fails the task.
  - Only reads the node and reports unchanged, unless O(remove_copied) removes copy sources. The private
    directory of a large archive is the one thing the module leaves, and the caller removes it.
  - Needs root for the conntrack and logger reads and to read the kernel log.
author:
  - netdebug.netfilter contributors (@netdebug)
requirements:
  - pyroute2 on the managed node for O(conntrack) (Debian and Ubuntu package C(python3-pyroute2), pip
    C(pyroute2)); without it the conntrack files are left out and RV(problems) says why.
  - C(journalctl) for O(kernlog.source=journal), C(dmesg) for O(kernlog.source=dmesg).
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.linux
attributes:
  check_mode:
    support: full
    details:
      - The archive is built as in a real run; with O(remove_copied) nothing is removed and RV(removed) lists what
        would be.
  diff_mode:
    support: none
options:
  texts:
    description:
      - Files to write into the archive, path inside the archive -> content. A string is written as is; any other
        value as JSON (indented by 2, keys sorted, with a final newline).
      - Paths are relative, without C(..) and without empty parts (no leading, doubled or trailing C(/)).
      - A text named like a file the module writes itself (C(facts.json), C(conntrack.json), ...) replaces it.
    type: dict
    default: {}
  copies:
    description:
      - Files and directories of the node to put into the archive.
      - A directory's regular files are copied with their relative paths under O(copies[].dest); symbolic links
        inside it are not followed.
      - A O(copies[].src) that does not exist is named in RV(pack_warnings), not an error.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Absolute path of a file or directory on the node.
        type: path
        required: true
      dest:
        description: Path inside the archive (relative, same rules as the keys of O(texts)).
        type: str
        required: true
  remove_copied:
    description:
      - Once the archive is built and its sha256 computed, remove the O(copies) sources that netdebug wrote in its
        run state directory C(/run/netdebug/runs/), that is the trace monitors' C(<backend>.trace) capture files and
        the C(ruleset/) directory that M(netdebug.netfilter.iptables_trace)
        O(netdebug.netfilter.iptables_trace#module:record_rulesets) writes. Nothing else removes them, and they
        take memory (tmpfs) until the node reboots. A file is unlinked, a directory removed with everything in it.
      - "Safety: a source is removed only when its real path (symbolic links and C(..) resolved) lies strictly
        inside C(/run/netdebug/runs/) and is not a run's own state (the run directory itself, its C(run.json) or
        C(reaper.log)). Any other source is never removed; it stays with the pack warning C(remove_copied: <src>
        is not under /run/netdebug/runs; left in place) (or that it is a run's own state)."
      - Nothing but the listed sources is removed. Nothing is removed when packing fails or in check mode. A
        source that cannot be removed is named in RV(pack_warnings) and does not fail the task.
      - Use it once the run is over (M(netdebug.netfilter.iptables_trace)
        O(netdebug.netfilter.iptables_trace#module:state=absent)), since a monitor still running keeps writing
        into a capture file removed under it.
      - A run that is over and holds nothing more to collect then goes as a whole (its directory and the reaper
        kept for its files), and with the last run the rest of C(/run/netdebug).
    type: bool
    default: false
  kernlog:
    description:
      - Extract the kernel log lines of a time window that carry one of O(kernlog.patterns) into
        C(trace/kernel.log).
      - A failure to read the log is named in RV(pack_warnings), and C(trace/kernel.log) may then be empty.
      - Omitted, no kernel log is read.
    type: dict
    suboptions:
      source:
        description:
          - V(rsyslog) reads O(kernlog.file) (lines rotated away are not read; a line whose time stamp cannot be
            read is kept). V(journal) asks C(journalctl -k) for the window. V(dmesg) reads the kernel ring buffer
            and places its relative stamps in time from the boot time (2 seconds of slack on each side).
            V(none) writes nothing.
        type: str
        choices: [rsyslog, journal, dmesg, none]
        required: true
      file:
        description: The file rsyslog writes the netfilter lines to; required with O(kernlog.source=rsyslog).
        type: path
      since:
        description: Start of the window, epoch seconds; required unless O(kernlog.source=none).
        type: float
      until:
        description: End of the window, epoch seconds; required unless O(kernlog.source=none).
        type: float
      patterns:
        description: A line is kept when it contains any of these strings.
        type: list
        elements: str
        default: ['TRACE:']
  conntrack:
    description:
      - Snapshot the conntrack entries matching the filter into C(conntrack.json) (keys V(entries), V(matched),
        V(truncated), V(filter), the filter given without O(conntrack.limit), and V(source)) and the conntrack
        statistics into C(conntrack-stats.json) (the result of M(netdebug.netfilter.conntrack_query)
        O(netdebug.netfilter.conntrack_query#module:operation=stats)).
      - Over netlink when pyroute2 is on the node (V(source=netlink)); without it from C(conntrack -L -o extended,id)
        (conntrack-tools) or else C(/proc/net/nf_conntrack), which give the same entries except the status bits they
        do not print (NAT and helper bits), and the per-CPU statistics from C(/proc/net/stat/nf_conntrack) or
        C(conntrack -S). V(source) names the one used.
      - "A read that fails leaves its file out and adds C(conntrack: <why>) to RV(problems)."
      - Omitted, conntrack is not read.
    type: dict
    suboptions:
      limit:
        description: At most this many entries in C(conntrack.json) (V(matched) still counts all); V(0) for all.
        type: int
        default: 10000
      protocol:
        description: Layer 4 protocol by name or number, as M(netdebug.netfilter.conntrack_query) takes it.
        type: str
      source:
        description: Source address or network of the original direction.
        type: str
      destination:
        description: Destination address or network of the original direction.
        type: str
      source_port:
        description: Source port of the original direction.
        type: int
      destination_port:
        description: Destination port of the original direction.
        type: int
  loggers:
    description:
      - Record the logger bindings and the LOG/TRACE kernel module states in C(loggers.json) (the result of
        M(netdebug.netfilter.nf_log) O(netdebug.netfilter.nf_log#module:state=query)).
      - "A failure leaves the file out and adds C(logger state: <why>) to RV(problems)."
    type: bool
    default: true
  facts:
    description:
      - Keys added to C(facts.json) over the node's own (for example V(inventory_hostname), which only the
        controller knows).
      - The node's own keys are V(inventory_hostname) (null unless given here), V(hostname), V(fqdn), V(kernel),
        V(distribution), V(distribution_version), V(architecture), V(python) (V(major), V(minor), V(micro),
        V(releaselevel), V(serial) of the Python running the module), V(service_mgr) and V(date_time) (the keys
        of C(ansible_date_time), such as V(epoch), V(iso8601), V(date), V(time) and V(tz)), in the shapes
        C(setup) gives them.
      - V(service_mgr) is V(systemd) when C(/run/systemd/system) exists, else named after PID 1 (V(sysvinit) for
        C(init), V(openrc), V(runit), or PID 1's own name), null when PID 1 cannot be read.
    type: dict
    default: {}
  inline_max:
    description:
      - Archives of at most this many bytes are returned in RV(content) and removed from the node. Larger ones
        stay at RV(archive). V(0) never returns the archive inline.
      - The whole result passes through the connection and the controller's memory; keep this a few MB.
    type: int
    default: 4194304
notes:
  - The archive holds regular files only, in a fixed order (directories sorted, files sorted within each).
seealso:
  - module: netdebug.netfilter.conntrack_query
  - module: netdebug.netfilter.nf_log
"""

EXAMPLES = r"""
- name: Pack this node's part of incident inc42 and bring it back inline
  netdebug.netfilter.capture_pack:
    texts:
      trace.json: "{{ trace_state }}"
      notes.txt: "checked by {{ ansible_user_id }}\n"
    copies:
      - src: /run/netdebug/runs/inc42/ruleset
        dest: ruleset
      - src: /run/netdebug/runs/inc42/nft.trace
        dest: trace/nft.trace
    kernlog:
      source: rsyslog
      file: /var/log/firewall
      since: "{{ started_at - 2 }}"
      until: "{{ expires_at }}"
      patterns: ['TRACE:', 'nd:inc42 ']
    conntrack:
      protocol: tcp
      destination_port: 443
    facts:
      inventory_hostname: "{{ inventory_hostname }}"
  become: true
  register: packed

- name: Write the archive on the controller (decoded by base64(1); the b64decode filter would make text of it)
  ansible.builtin.shell:
    cmd: "base64 -d > /var/tmp/{{ inventory_hostname | quote }}.tar.gz"
    stdin: "{{ packed.content }}"
  delegate_to: localhost
  changed_when: true
  when: packed.content is not none

- name: Pack the run's capture file and recorded rulesets, then free their space in /run on the node
  netdebug.netfilter.capture_pack:
    copies:
      - src: /run/netdebug/runs/inc42/ruleset
        dest: ruleset
      - src: /run/netdebug/runs/inc42/nft.trace
        dest: trace/nft.trace
    remove_copied: true
    facts:
      inventory_hostname: "{{ inventory_hostname }}"
  become: true
  register: packed_and_freed

- name: A big bundle - keep it on the node, fetch it, remove it
  netdebug.netfilter.capture_pack:
    conntrack: {limit: 0}
    inline_max: 0
  become: true
  register: packed_big

- name: Fetch the archive
  ansible.builtin.fetch:
    src: "{{ packed_big.archive }}"
    dest: "/var/tmp/{{ inventory_hostname }}.tar.gz"
    flat: true
  become: true

- name: Remove the module's private directory
  ansible.builtin.file:
    path: "{{ packed_big.archive | dirname }}"
    state: absent
  become: true
"""

RETURN = r"""
files:
  description: Every file in the archive with its sha256 and size in bytes, sorted by path.
  returned: always
  type: list
  elements: dict
  sample:
    - {path: conntrack.json, sha256: 5f0c0b6ad5d7b3f1e5e2b0a0c3e4b8f1f1d5c3b5f9a2e7c4d6b8a1e3f5c7d9b1, size: 2048}
    - {path: facts.json, sha256: 0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9, size: 812}
sha256:
  description: The archive's sha256.
  returned: always
  type: str
size:
  description: The archive's size in bytes.
  returned: always
  type: int
content:
  description: The archive (gzip tar), base64, when it is at most O(inline_max) bytes; else null.
  returned: always
  type: str
archive:
  description:
    - Path of the archive on the node when it was larger than O(inline_max), else null. It is in a private
      directory made for it; remove that directory (the archive's dirname) once the archive is fetched.
  returned: always
  type: str
  sample: /tmp/netdebug-pack-k2j3h4/bundle.tar.gz
pack_warnings:
  description: What could not be put in the archive as asked (a missing copy source, an unreadable kernel log) and
    the copy sources O(remove_copied) left in place; also issued as warnings.
  returned: always
  type: list
  elements: str
  sample: ['copies: /run/netdebug/runs/inc42/nft.trace is missing on the node']
removed:
  description:
    - Real paths of the O(copies) sources O(remove_copied) removed (in check mode, would remove), sorted; empty
      without O(remove_copied). The task reports changed when it is not empty.
  returned: always
  type: list
  elements: str
  sample: [/run/netdebug/runs/inc42/nft.trace, /run/netdebug/runs/inc42/ruleset]
problems:
  description:
    - "Parts of the node's state left out of the archive, and why (C(conntrack: ...), C(logger state: ...))."
  returned: always
  type: list
  elements: str
  sample: ['conntrack: conntrack is not active on the node: the kernel has no ctnetlink']
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import kernlog
from ansible_collections.netdebug.netfilter.plugins.module_utils._collect.node import run
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.manage import NfLogManager

ARGUMENT_SPEC = dict(
    texts=dict(type='dict', default={}),
    copies=dict(type='list', elements='dict', default=[], options=dict(
        src=dict(type='path', required=True),
        dest=dict(type='str', required=True),
    )),
    kernlog=dict(type='dict', options=dict(
        source=dict(type='str', required=True, choices=list(kernlog.SOURCES)),
        file=dict(type='path'),
        since=dict(type='float'),
        until=dict(type='float'),
        patterns=dict(type='list', elements='str', default=['TRACE:']),
    )),
    conntrack=dict(type='dict', options=dict(
        limit=dict(type='int', default=10000),
        protocol=dict(type='str'),
        source=dict(type='str'),
        destination=dict(type='str'),
        source_port=dict(type='int'),
        destination_port=dict(type='int'),
    )),
    loggers=dict(type='bool', default=True),
    facts=dict(type='dict', default={}),
    inline_max=dict(type='int', default=4194304),
    remove_copied=dict(type='bool', default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    runner = ToolRunner(module)
    run_module(module, lambda: run(module.params, runner, lambda: NfLogManager(module, runner),
                                   check_mode=module.check_mode))


if __name__ == '__main__':
    main()
