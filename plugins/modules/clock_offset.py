#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: clock_offset
short_description: Measure how far a node's clock is from the controller's
version_added: 0.1.0
description:
  - Reads the node's clock with C(date +%s.%N) over the connection up to O(samples) times, each read timed on the
    controller, and returns the offset from the read with the shortest round trip (the node read its clock within
    that round trip, so the offset is off by at most RV(error)).
  - Stops reading once a read's round trip is at most 0.5 s (RV(error) at most 0.25 s). The capture's window moves
    in whole seconds, and every further read is one more command per host.
  - The capture records each node's offset in the bundle, and the trace report uses it to order a packet's journey
    across nodes whose clocks disagree.
  - Runs on the controller (action plugin) with one plain command per sample on the node; needs GNU or
    busybox-with-%N C(date). Without it the result has no offset and a warning; the task does not fail.
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.info_module
  - netdebug.netfilter.attributes.linux
attributes:
  action:
    support: full
    description: Runs as an action plugin on the controller.
options:
  samples:
    description: Most reads of the node's clock, 1 to 20.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: How far is each node's clock from the controller's
  netdebug.netfilter.clock_offset:
  register: clock

- name: Show it
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is {{ clock.offset }} s ahead (+/- {{ clock.error }} s)"
"""

RETURN = r"""
offset:
  description: Node clock minus controller clock, in seconds; null when the node's clock could not be read.
  returned: always
  type: float
  sample: 0.012345
error:
  description: The most the offset can be off by (half the shortest round trip), in seconds; null with RV(offset).
  returned: always
  type: float
  sample: 0.000812
samples:
  description: How many reads were made.
  returned: always
  type: int
  sample: 5
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    # Only reached without the action plugin, which does the work: nothing was measured.
    module = AnsibleModule(argument_spec=dict(samples=dict(type='int', default=5)), supports_check_mode=True)
    module.exit_json(changed=False, offset=None, error=None, samples=0)


if __name__ == '__main__':
    main()
