#!/usr/bin/python
# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rsyslog_kernlog
short_description: Send netfilter kernel messages (LOG and TRACE lines) to their own file with rsyslog
version_added: 0.1.0
description:
  - Writes one rsyslog drop-in (O(conf_path)) that sends netfilter kernel messages to O(path), namely
    TRACE lines always (the kernel logs them at severity C(warning), so C(kern.=debug) alone never catches them),
    kernel messages at O(severity) (the C(--log-level) of the LOG rules), and kernel messages that start with one
    of O(prefixes).
  - The drop-in is RainerScript (an C(if) filter with an C(omfile) action and C(stop)), because a legacy selector
    cannot combine a facility with a message test, and the legacy C($FileOwner) and C($FileCreateMode) directives
    would leak into every rule read after the drop-in.
  - Before installing, the whole configuration that would result (the main configuration, every include, and the
    new drop-in in its place) is checked with C(rsyslogd -N1). A drop-in that rsyslogd rejects is never
    installed, and the error shows rsyslogd's message. The file is written atomically.
  - Reports how kernel messages reach rsyslog on the node (RV(kernel_input)) and that input's rate limit, and
    warns when the rate limit is below O(expected_rate).
  - Does not restart rsyslog; the C(netdebug.netfilter.kernlog) role does that through a handler when this
    module reports a change.
author:
  - netdebug.netfilter contributors (@netdebug)
requirements:
  - rsyslogd (package C(rsyslog)) for O(state=present)
extends_documentation_fragment:
  - netdebug.netfilter.attributes
  - netdebug.netfilter.attributes.linux
attributes:
  check_mode:
    support: full
    details:
      - Nothing on the node changes; C(rsyslogd -N1) still checks the drop-in (on temporary files), so a drop-in
        rsyslogd rejects fails in check mode too.
  diff_mode:
    support: full
    details:
      - Shows the drop-in and the logrotate file before and after, and the log file's attributes.
options:
  state:
    description:
      - V(present) installs or updates the drop-in; V(absent) removes exactly the drop-in and the logrotate file
        this module wrote (the log file stays unless O(remove_log=true)).
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The log file that receives the netfilter lines.
    type: path
    default: /var/log/firewall
  conf_path:
    description:
      - The rsyslog drop-in this module owns. It must be read by the rsyslog configuration (a warning says so when
        no include covers it). An existing file without this module's header is never overwritten or removed.
    type: path
    default: /etc/rsyslog.d/30-netdebug-kernlog.conf
  rsyslog_conf:
    description: The main rsyslog configuration, read with all its includes and used for validation.
    type: path
    default: /etc/rsyslog.conf
  severity:
    description:
      - Also capture kernel messages at exactly this severity (LOG rules' C(--log-level); C(debug) is 7).
        V(none) captures only TRACE lines and O(prefixes).
    type: str
    choices: [emerg, alert, crit, err, warning, notice, info, debug, none]
    default: debug
  prefixes:
    description:
      - Also capture kernel messages that start with one of these strings (LOG rules' C(--log-prefix)).
        Printable ASCII without quotes or backslashes.
    type: list
    elements: str
    default: []
  exclusive:
    description:
      - Stop these messages from also reaching the rules read after the drop-in (syslog, kern.log).
      - Rules read before the drop-in still get them; the module warns when such rules take kernel messages.
    type: bool
    default: false
  mode:
    description: Mode rsyslog creates the log file with (and that an existing log file is given), as octal digits.
    type: str
    default: '0640'
  owner:
    description:
      - Owner of the log file. Default is the rsyslog configuration's C($FileOwner) or privilege-drop user, else
        C(root).
    type: str
  group:
    description:
      - Group of the log file. Default is the rsyslog configuration's C($FileGroup) or privilege-drop group, else
        C(adm) where that group exists (Debian, Ubuntu), else C(root).
    type: str
  template:
    description: Name of an rsyslog template for the lines; the rsyslog default when omitted.
    type: str
  logrotate:
    description: Also write a logrotate drop-in (O(logrotate_path)) that caps the log file's size.
    type: bool
    default: false
  logrotate_path:
    description: The logrotate drop-in this module owns.
    type: path
    default: /etc/logrotate.d/netdebug-kernlog
  logrotate_size:
    description: Rotate when the file is bigger than this (logrotate C(size), for example V(100M)).
    type: str
    default: 100M
  logrotate_rotate:
    description: How many rotated files to keep.
    type: int
    default: 4
  expected_rate:
    description:
      - Messages per second the caller expects to log at most (for example the LOG rules' limit plus the trace
        rate). The module warns when the kernel input's rate limit would drop lines at that rate.
    type: int
  remove_log:
    description: With O(state=absent), also remove the log file O(path).
    type: bool
    default: false
  ttl:
    description:
      - With O(state=present), seconds after which the node itself removes the drop-in and its logrotate file,
        restarts rsyslog (C(systemctl try-restart rsyslog.service), or the init script), and removes the log file
        when rsyslog created it for the drop-in, if nobody removed them before (the capture playbook passes one,
        so that a controller lost before its collect step leaves nothing behind). 1 to 86400.
      - At the expiry, while a netdebug run lasts on the node (a directory under C(runs/) beside O(state_dir), for
        its rules or its files waiting for the collect step), the node waits, at most until that run's own expiry
        plus 10 seconds.
      - Only a drop-in this call creates, or one already under an expiry, is put under one; a later call with a ttl
        moves the expiry later, never earlier. A file changed since is left alone (logged in
        C(<state_dir>/expiry.log)).
      - Without O(ttl), a pending expiry is cancelled and the drop-in stays. O(state=absent) cancels it too.
      - The expiry is a transient systemd timer where systemd runs, else a detached process, running a copy of its
        program installed under O(state_dir).
    type: int
  state_dir:
    description: Where the expiry's record and program live (tmpfs; removed with the last record).
    type: path
    default: /run/netdebug/kernlog
notes:
  - Needs C(rsyslogd) on the node for O(state=present).
  - Debian and Ubuntu include C(/etc/rsyslog.d/*.conf) before their own rules, so O(exclusive) keeps the lines out
    of C(/var/log/syslog) and C(/var/log/kern.log) there. The journal (C(journalctl -k)) still has them, because
    journald reads the kernel log itself.
seealso:
  - module: netdebug.netfilter.nf_log
"""

EXAMPLES = r"""
- name: Netfilter LOG (level 7) and TRACE lines to /var/log/firewall only
  netdebug.netfilter.rsyslog_kernlog:
    exclusive: true
    prefixes: ['netdebug:']
    logrotate: true
  register: kernlog

- name: Warn when the kernel input would drop lines at 2000 per second
  netdebug.netfilter.rsyslog_kernlog:
    expected_rate: 2000

- name: For one capture only, gone by itself in 5 minutes if nobody removes it before
  netdebug.netfilter.rsyslog_kernlog:
    exclusive: true
    ttl: 300

- name: Take it away again, keeping the log file
  netdebug.netfilter.rsyslog_kernlog:
    state: absent
"""

RETURN = r"""
path:
  description: The log file.
  returned: always
  type: str
  sample: /var/log/firewall
conf_path:
  description: The drop-in.
  returned: always
  type: str
  sample: /etc/rsyslog.d/30-netdebug-kernlog.conf
dropin:
  description: The drop-in's content (null with O(state=absent)).
  returned: always
  type: str
created:
  description: Whether the drop-in did not exist before this call (it was, or in check mode would be, created).
  returned: when state is present
  type: bool
  sample: true
log_existed:
  description:
    - Whether the log file (O(path)) existed before this call. rsyslog creates it when it first writes to it, so a
      caller that created the drop-in and then removes it can remove the log file too with O(remove_log) when
      this was false (the capture playbook does; C(netdebug_kernlog_keep) keeps both).
  returned: when state is present
  type: bool
  sample: false
kernel_input:
  description:
    - How kernel messages reach rsyslog on this node. V(imklog) reads C(/proc/kmsg), V(imjournal) the systemd
      journal, V(imkmsg) C(/dev/kmsg); V(none) means rsyslog does not read kernel messages at all.
  returned: when the rsyslog configuration exists
  type: str
  sample: imklog
kernel_inputs:
  description: Every input module that reads kernel messages (more than one writes lines twice).
  returned: when the rsyslog configuration exists
  type: list
  elements: str
  sample: [imklog]
rate_limit:
  description:
    - The kernel input's rate limit (null when there is no kernel input). imjournal's default is 20000 messages
      per 600 s, above which lines are dropped silently; imklog's is off unless C(ratelimitInterval) is set.
  returned: when the rsyslog configuration exists
  type: dict
  contains:
    interval:
      description: Window in seconds (0 disables the limit).
      type: int
    burst:
      description: Messages allowed per window.
      type: int
    enabled:
      description: Whether the limit applies.
      type: bool
  sample: {interval: 600, burst: 20000, enabled: true}
validated:
  description: Whether C(rsyslogd -N1) checked a new drop-in in this run (only when the content changes).
  returned: with O(state=present)
  type: bool
owner:
  description: Owner given to the log file.
  returned: with O(state=present)
  type: str
  sample: root
group:
  description: Group given to the log file.
  returned: with O(state=present)
  type: str
  sample: adm
mode:
  description: Mode given to the log file.
  returned: with O(state=present)
  type: str
  sample: '0640'
logrotate_path:
  description: The logrotate drop-in, or null when none is installed.
  returned: always
  type: str
expires_at:
  description:
    - When the node removes the drop-in by itself (epoch seconds; in check mode, when it would), or null when it
      stays. See O(ttl).
  returned: with O(state=present)
  type: int
  sample: 1796558228
config_problems:
  description: Includes that could not be read while reading the configuration.
  returned: with O(state=present)
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.module_api import run_module
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.manage import KernlogManager

SEVERITY_CHOICES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug', 'none']


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            path=dict(type='path', default='/var/log/firewall'),
            conf_path=dict(type='path', default='/etc/rsyslog.d/30-netdebug-kernlog.conf'),
            rsyslog_conf=dict(type='path', default='/etc/rsyslog.conf'),
            severity=dict(type='str', choices=SEVERITY_CHOICES, default='debug'),
            prefixes=dict(type='list', elements='str', default=[]),
            exclusive=dict(type='bool', default=False),
            mode=dict(type='str', default='0640'),
            owner=dict(type='str'),
            group=dict(type='str'),
            template=dict(type='str'),
            logrotate=dict(type='bool', default=False),
            logrotate_path=dict(type='path', default='/etc/logrotate.d/netdebug-kernlog'),
            logrotate_size=dict(type='str', default='100M'),
            logrotate_rotate=dict(type='int', default=4),
            expected_rate=dict(type='int'),
            remove_log=dict(type='bool', default=False),
            ttl=dict(type='int'),
            state_dir=dict(type='path', default='/run/netdebug/kernlog'),
        ),
        supports_check_mode=True,
    )
    run_module(module, lambda: KernlogManager(module, ToolRunner(module)).run(module.params))


if __name__ == '__main__':
    main()
