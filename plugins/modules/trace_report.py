#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: trace_report
short_description: Turn a capture bundle into answers - which rule on which node decided each packet
version_added: 0.1.0
description:
  - Reads a capture bundle (the layout is described in the collection's C(docs/bundle.md)) -
    C(<bundle_dir>/<incident_id>/manifest.json) and, per host, its trace files (kernel log lines in any wrapper,
    C(xtables-monitor --trace) and C(nft monitor trace) output), ruleset snapshots and conntrack snapshot - and
    writes C(report.json), C(report.md) and C(report.html).
  - The manifest may come in parts, C(manifest.<part>.json), one per job slice or C(--limit) run; they are merged (a
    host in several parts comes from the part that ended last). Runs on one incident take turns on a lock file
    C(.report.lock), so slices that finish together each merge every part written before their turn.
  - Every trace line is parsed with the same code as the P(netdebug.netfilter.parse_trace#filter) filter, grouped
    into packets (by trace id, or for legacy kernel lines by the packet's fields within O(window) seconds), and
    every step is resolved against the ruleset snapshot taken at capture time (legacy rule number to the Nth rule
    of the chain in C(iptables-save) order, nf_tables handle to C(nft -a list ruleset)). Each packet gets a verdict
    (V(accept), V(drop), V(reject), or V(unknown) when the capture ended before a decision) and the rule that gave
    it, including chain policies and rules in user chains reached by jumps.
  - The same packet seen on several hosts (same IPv4 id and addresses within O(correlation_window), allowing for
    NAT where a host's conntrack snapshot shows the mapping) becomes one journey.
  - C(report.html) is one self-contained page (no script, nothing loaded from the network) with an SVG diagram per
    distinct path with the deciding rule highlighted, a table of drops per node and rule, and a section per node.
  - "Runs where the bundle is, normally the controller (C(delegate_to: localhost)). Report files are written
    atomically and only when their content changes; the reports hold no generation time, so a second run on the
    same bundle reports unchanged."
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.check_mode_full
attributes:
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details:
      - Any POSIX host that holds the bundle, normally the controller; nothing runs on the captured nodes.
options:
  bundle_dir:
    description: The directory that holds the capture bundles (one subdirectory per incident).
    type: path
    required: true
  incident_id:
    description: The incident, that is the name of the bundle's subdirectory under O(bundle_dir).
    type: str
    required: true
  output_dir:
    description: Where to write the reports; the incident directory when omitted. It must exist.
    type: path
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices: [json, md, html]
    default: [json, md, html]
  window:
    description:
      - Seconds within which legacy kernel lines with the same packet fields belong to one packet.
    type: float
    default: 2.0
  correlation_window:
    description:
      - Seconds within which packets seen on two hosts can be the same packet (applied when both hosts' lines
        carry wall-clock times; dmesg times since boot are not comparable across machines).
    type: float
    default: 10.0
  k8s_objects:
    description:
      - A file of Kubernetes objects, the output of C(kubectl get pods,services,networkpolicies -A -o json) (a
        C(List); C(projectcalico.org/v3) C(NetworkPolicy) and C(GlobalNetworkPolicy) objects are read too).
      - Without it the report names services, endpoints and Calico chains from what the rules say. With it, it
        also names the pods and services behind packet addresses and endpoints, and Calico policy chains whose
        names Felix hashed (the hash is recomputed from each policy's name as Felix versions build it).
      - A file that cannot be read or is not such output fails the task, naming this option.
    type: path
notes:
  - Legacy iptables TRACE lines carry a rule number, not the rule. Without an C(iptables-save) snapshot of the host
    the steps stay unresolved and chain policies unknown, so most packets end with verdict V(unknown).
seealso:
  - plugin: netdebug.netfilter.parse_trace
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write the reports of incident INC-42 next to its bundle
  netdebug.netfilter.trace_report:
    bundle_dir: /srv/netdebug/bundles
    incident_id: INC-42
  delegate_to: localhost
  run_once: true
  register: report

- name: Say what happened
  ansible.builtin.debug:
    msg: "{{ report.verdicts | default(['no drops'], true) }}"

- name: Only the Markdown report, into a ticket attachment directory
  netdebug.netfilter.trace_report:
    bundle_dir: /srv/netdebug/bundles
    incident_id: INC-42
    output_dir: /srv/tickets/INC-42
    formats: [md]
  delegate_to: localhost
  run_once: true

# First, on a machine with the cluster's kubeconfig:
#   kubectl get pods,services,networkpolicies -A -o json > /srv/netdebug/k8s-objects.json
- name: Name the pods, services and hashed Calico policies behind the rules
  netdebug.netfilter.trace_report:
    bundle_dir: /srv/netdebug/bundles
    incident_id: INC-42
    k8s_objects: /srv/netdebug/k8s-objects.json
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
incident_id:
  description: The incident reported on.
  returned: always
  type: str
  sample: INC-42
reports:
  description: Path of each report, by format.
  returned: always
  type: dict
  sample: {json: /srv/netdebug/bundles/INC-42/report.json, md: /srv/netdebug/bundles/INC-42/report.md}
written:
  description: The formats whose file was (or, in check mode, would be) written because its content changed.
  returned: always
  type: list
  elements: str
  sample: [json, md, html]
verdicts:
  description:
    - One line per dropping or rejecting rule, most packets first (at most 20).
    - Where a kube-proxy or Calico rule drops, the Kubernetes object behind it comes first and the table, chain and
      rule in brackets; with O(k8s_objects), addresses of pods and services are named too.
  returned: always
  type: list
  elements: str
  sample:
    - 'node2 drops ICMP 198.18.0.1 -> 198.18.0.2 at filter/app-guard rule 3: -A app-guard -p icmp -j DROP'
    - 'node3 drops TCP 198.18.0.1 -> pod ns1/web-0 (198.19.1.5:80) at Calico policy ns1/deny-web (inbound)
      (filter/cali-pi-knp/ns1/deny-web rule 1): -A cali-pi-knp/ns1/deny-web -p tcp -m multiport --dports 80 -j DROP'
drops:
  description: Packets dropped or rejected per host and rule (the first 50 entries of C(report.json)'s C(drops)).
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host.
      type: str
    verdict:
      description: V(drop) or V(reject).
      type: str
    table:
      description: Table of the deciding rule.
      type: str
    chain:
      description: Chain of the deciding rule.
      type: str
    kind:
      description: V(rule), V(policy) or V(return) as the trace reported it.
      type: str
    rulenum:
      description:
        - The rule's number in its chain, as C(iptables -L --line-numbers) counts it - legacy TRACE lines give it;
          for nf_tables it is the rule's position in the chain of the capture's ruleset snapshot (C(nft -a list
          ruleset), or C(iptables-nft-save) by the rule text), null when the snapshot does not have the rule.
      type: int
    handle:
      description: nf_tables rule handle (null for legacy).
      type: int
    rule:
      description: The rule text from the snapshot or the trace line.
      type: str
    target:
      description: The rule's target or verdict.
      type: str
    packets:
      description: How many packets it dropped.
      type: int
packets:
  description: Number of packets in the report.
  returned: always
  type: int
  sample: 42
packet_verdicts:
  description: Number of packets per verdict.
  returned: always
  type: dict
  sample: {accept: 30, drop: 10, unknown: 2}
journeys:
  description: Number of packets seen on more than one host (journeys in C(report.json)).
  returned: always
  type: int
hosts:
  description: Per host, its status from the manifest, counts and the problems met while reading its files.
  returned: always
  type: dict
  sample:
    node2: {status: ok, reason: null, events: 64, packets: 12, unparsed: 0, verdicts: {accept: 5, drop: 7},
            errors: []}
"""

import contextlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.reader import bundle_lock
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_write import (
    FORMATS, incident_path, run_report,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bundle_dir=dict(type='path', required=True),
            incident_id=dict(type='str', required=True),
            output_dir=dict(type='path'),
            formats=dict(type='list', elements='str', choices=list(FORMATS), default=list(FORMATS)),
            window=dict(type='float', default=2.0),
            correlation_window=dict(type='float', default=10.0),
            k8s_objects=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for name in ('window', 'correlation_window'):
        if params[name] <= 0:
            module.fail_json(msg='%s must be a positive number of seconds, got %s' % (name, params[name]))
    try:
        incident_dir = incident_path(params['bundle_dir'], params['incident_id'])
        # Job slices may report at the same time; check mode writes nothing and needs no lock.
        with contextlib.nullcontext() if module.check_mode else bundle_lock(incident_dir):
            result = run_report(params['bundle_dir'], params['incident_id'], output_dir=params['output_dir'],
                                formats=params['formats'], window=params['window'],
                                correlation_window=params['correlation_window'], check_mode=module.check_mode,
                                k8s_objects=params['k8s_objects'])
    except (NetdebugError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
