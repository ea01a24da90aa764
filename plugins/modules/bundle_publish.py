#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_publish
short_description: Verify, unpack and publish the hosts' capture archives into the bundle on the controller
version_added: 0.1.0
description:
  - The controller side of the C(netdebug.netfilter.collect) role, run once for every host (delegated to
    C(localhost), C(run_once)) after each host's M(netdebug.netfilter.capture_pack) archive came back inline or by
    fetch.
  - For each host, an archive returned inline is written to O(incoming), the archive's sha256 is checked against
    the one the node computed, it is unpacked beside the bundle (regular files and directories only, no path
    leaving it) and it replaces the host's directory under O(incident_dir) in one rename, so a host's directory
    appears complete or not at all.
  - One host's failure does not stop the others; its entry in RV(hosts) says which step failed and why.
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.check_mode_full
attributes:
  check_mode:
    details: In check mode each archive is checked (its sha256 and its members) and nothing is written.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details:
      - The controller, where the bundle is; nothing runs on the captured nodes.
options:
  incoming:
    description: The directory of the fetched archives (C(<dir>.tar.gz)), where inline ones are written too.
    type: path
    required: true
  incident_dir:
    description: The incident's bundle directory, C(<bundle_dir>/<incident_id>); each host's directory goes there.
    type: path
    required: true
  hosts:
    description:
      - Per inventory host, its archive - C(dir), the host's directory name in the bundle (the archive is
        C(<incoming>/<dir>.tar.gz)); C(sha256), the archive's sha256 as the node computed it; C(content), the archive
        in base64 when M(netdebug.netfilter.capture_pack) returned it inline, else null.
    type: dict
    required: true
seealso:
  - module: netdebug.netfilter.capture_pack
  - module: netdebug.netfilter.trace_report
"""

EXAMPLES = r"""
- name: Publish every host's archive once for all hosts
  netdebug.netfilter.bundle_publish:
    incoming: /var/tmp/netdebug-bundles/INC-42/.incoming
    incident_dir: /var/tmp/netdebug-bundles/INC-42
    hosts:
      node1: {dir: node1, sha256: "{{ node1_pack.sha256 }}", content: "{{ node1_pack.content }}"}
  delegate_to: localhost
  run_once: true
  register: published
"""

RETURN = r"""
hosts:
  description: Per host, V(true) in C(ok) when its directory was published (or, in check mode, would be), else the
    C(step) that failed and the C(msg) that says why.
  returned: always
  type: dict
  sample:
    node1: {ok: true}
    node2: {ok: false, step: "Verify the archive against the node's sha256",
            msg: "The archive of node2 arrived damaged: sha256 ab12... on the controller, cd34... on the node."}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.publish import publish_all
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            incoming=dict(type='path', required=True),
            incident_dir=dict(type='path', required=True),
            hosts=dict(type='dict', required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params

    def call():
        hosts = publish_all(params['hosts'], params['incoming'], params['incident_dir'], module.check_mode)
        return {'changed': any(entry['ok'] for entry in hosts.values()), 'hosts': hosts}
    run_module(module, call)


if __name__ == '__main__':
    main()
