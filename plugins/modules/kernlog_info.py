#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kernlog_info
short_description: Look at a node's kernel log set-up in one call
version_added: 0.1.0
description:
  - Says whether rsyslog is installed and running, whether journald runs, what would restart rsyslog (systemd or
    its init script), and which netdebug runs have a state directory on the node.
  - The kernlog role and the capture playbook decide with it where the kernel's LOG and TRACE lines are read,
    whether the rsyslog drop-in can be installed, and whether another run still needs it. One call answers all of
    it. A call per path or process costs a Python start each, which takes seconds on a slow node.
  - Only reads files under C(/proc), C(/run) and C(/etc); nothing is changed and no command is run.
author:
  - netdebug.netfilter contributors (@netdebug)
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.info_module
  - netdebug.netfilter.attributes.linux
options: {}
"""

EXAMPLES = r"""
- name: Look at the node's kernel log set-up
  netdebug.netfilter.kernlog_info:
  register: kernlog_setup

- name: Say where the kernel's lines can be read
  ansible.builtin.debug:
    msg: "{{ 'rsyslog' if kernlog_setup.rsyslogd_running else ('journal' if kernlog_setup.journald_running else 'dmesg') }}"
"""

RETURN = r"""
rsyslogd:
  description: Path of the rsyslogd binary (C(/usr/sbin/rsyslogd) or C(/sbin/rsyslogd)); empty where rsyslog is not
    installed.
  returned: always
  type: str
  sample: /usr/sbin/rsyslogd
rsyslogd_running:
  description: Whether a process named C(rsyslogd) runs (what C(pgrep -x rsyslogd) finds).
  returned: always
  type: bool
  sample: true
journald_running:
  description: Whether systemd's journal daemon runs (process name C(systemd-journal)).
  returned: always
  type: bool
  sample: true
service_manager:
  description:
    - C(systemd) where systemd runs (C(/run/systemd/system) is a directory, as C(sd_booted) checks), else
      C(sysvinit) where rsyslog has an init script (C(/etc/init.d/rsyslog)), else empty (nothing could restart
      rsyslog).
    - Unlike the C(service_mgr) fact, a container whose C(/sbin/init) links to systemd but where systemd is not
      PID 1 is not C(systemd).
  returned: always
  type: str
  sample: systemd
runs:
  description: The netdebug runs with a state directory on the node (C(/run/netdebug/runs)), sorted.
  returned: always
  type: list
  elements: str
  sample: [INC-4711]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.node import kernel_log_setup


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    run_module(module, lambda: dict(kernel_log_setup(), changed=False))


if __name__ == '__main__':
    main()
