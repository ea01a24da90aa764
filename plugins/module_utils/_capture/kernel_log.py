# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which hosts' trace and log lines go through the kernel log, so the capture prepares it (loggers, rsyslog or the
journal) there and nowhere else, and gives the window more time to arm where it does.

LOG rules always write to the kernel log. TRACE does on the legacy backend; on nf_tables it goes to the trace
monitor. With backend auto the host's variant decides: the check play's iptables_trace call detected it, or, where
that call gave no answer, a netfilter_info call did."""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean

BACKENDS_TO_KERNEL_LOG = ('legacy',)
VARIANTS_TO_KERNEL_LOG = ('legacy', 'mixed')  # a mixed node traces on both, legacy included


def needed(check=None, log_rules=False, backend='auto', info=None):
    """True when this host's lines go through the kernel log. check: its check-play iptables_trace result; info: a
    netfilter_info result, used when check has no variant."""
    # Ansible's own reading of a boolean: a survey answers in strings ('true', 'yes', 'on', '1').
    if boolean(log_rules, strict=False) or backend in BACKENDS_TO_KERNEL_LOG:
        return True
    if backend != 'auto':
        return False
    variant = (check or {}).get('variant') or (info or {}).get('variant')
    return variant in VARIANTS_TO_KERNEL_LOG


def hosts_needing(hostvars, hosts):
    """The hosts (in order) whose lines go through the kernel log, from each one's variables as the capture sets
    them (netdebug_trace_check, netdebug_log_rules, netdebug_backend)."""
    found = []
    for host in hosts:
        variables = hostvars[host]
        if needed(variables.get('netdebug_trace_check'), variables.get('netdebug_log_rules', False),
                  variables.get('netdebug_backend', 'auto')):
            found.append(host)
    return found
