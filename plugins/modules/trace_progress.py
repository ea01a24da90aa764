#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: trace_progress
short_description: Count the packets a trace run traced so far
version_added: 0.1.0
description:
  - Reads the counters of the rate-limited TRACE rules of one run of M(netdebug.netfilter.iptables_trace) on the
    node (the count rule beside each iptables TRACE rule, the counters around an nftables rule's limit) and returns
    how many packets matched and were traced so far.
  - The capture calls it at most every 10 seconds during the window to show its progress (C(netdebug_progress)).
  - Only reads; the rules and the run are never changed, and no lock is taken.
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.info_module
  - netdebug.netfilter.attributes.linux
options:
  run_id:
    description:
      - The run, as given to (or returned by) M(netdebug.netfilter.iptables_trace).
    type: str
    required: true
  wait:
    description:
      - Seconds each iptables command waits for the xtables lock, 1 to 300.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: How many packets has the run traced so far
  netdebug.netfilter.trace_progress:
    run_id: INC-4711
  register: progress

- name: Show it
  ansible.builtin.debug:
    msg: "{{ progress.traced }} of {{ progress.matched }} matching packets traced"
  when: progress.traced is not none
"""

RETURN = r"""
run_id:
  description: The run.
  returned: always
  type: str
  sample: INC-4711
armed:
  description: Whether the run is on the node (its state directory is there).
  returned: always
  type: bool
  sample: true
matched:
  description:
    - Packets that matched the run's TRACE rules so far; null when the run is not on the node or traces without a
      rate limit (no count rule). Before the window's start a time match keeps it at 0.
    - On a node traced by two backends (mixed) the figure of the backend that counted most.
  returned: always
  type: int
  sample: 412
traced:
  description: Of RV(matched), the packets traced (the rest were over the rate limit); null like RV(matched).
  returned: always
  type: int
  sample: 400
untraced:
  description: RV(matched) minus RV(traced); null like RV(matched).
  returned: always
  type: int
  sample: 12
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.module_api import make_node
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.progress import progress


def main():
    module = AnsibleModule(argument_spec=dict(run_id=dict(type='str', required=True),
                                              wait=dict(type='int', default=10)),
                           supports_check_mode=True)
    run_module(module, lambda: dict(progress(make_node(module), module.params['run_id']), changed=False))


if __name__ == '__main__':
    main()
