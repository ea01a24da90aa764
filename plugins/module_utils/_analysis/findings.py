# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's Findings: one line each, most severe first. Traced packets dropped (by the kernel or by a rule), then
a conntrack table full or dropping, then what the kernel dropped that no traced packet explains, then what could
not be recorded. Pure."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import (
    kernel_dropped, kernel_words, rule_place,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._drops.reasons import NETFILTER_DROP, NOT_SPECIFIED

TRACED, CONNTRACK, UNTRACED, CONNTRACK_OTHER, LOST, UNSPECIFIED, UNAVAILABLE = range(7)
# a conntrack table this full at the stop is a finding
FULL_PERCENT = 90
DROPPING = ('insert_failed', 'drop', 'early_drop')


FAMILY_WORDS = {'ipv4': 'IPv4 ', 'ipv6': 'IPv6 '}


def _packets(count, what='packet'):
    return '%s %s%s' % ('{:,}'.format(count), what, '' if count == 1 else 's')


def _hosts(names):
    return names[0] if len(names) == 1 else '%s (one kernel)' % ', '.join(names)


def _traced(drops):
    by_rule = {}
    for drop in drops:
        if drop.get('chain') is not None:
            by_rule[drop['host']] = by_rule.get(drop['host'], 0) + drop['packets']
    found = []
    for drop in drops:
        verb = 'rejected' if drop['verdict'] == 'reject' else 'dropped'
        if kernel_dropped(drop):
            ruled = by_rule.get(drop['host'], 0)
            text = '%s: %s dropped by the kernel, reason %s, %s' % (
                drop['host'], _packets(drop['packets'], 'traced packet'), kernel_words(drop['kernel_drop']),
                'and %s by rules' % '{:,}'.format(ruled) if ruled else 'none by a rule')
        elif drop.get('chain') is not None:
            text = '%s: %s %s at %s' % (drop['host'], _packets(drop['packets'], 'traced packet'), verb,
                                        rule_place(drop))
        else:
            continue
        found.append((TRACED, -drop['packets'], text))
    return found


def _kernel(kernel):
    found = []
    for group in kernel:
        where = _hosts(group['hosts'])
        unspecified = 0
        for item in group['unjoined']:
            if item['reason'] == NOT_SPECIFIED:
                unspecified += item['packets']
                continue
            words = kernel_words(item)
            if item['reason'] == NETFILTER_DROP:
                text = '%s: %s dropped by netfilter (NETFILTER_DROP%s), none of them traced' % (
                    where, _packets(item['packets'], FAMILY_WORDS.get(item['family'], '') + 'packet'),
                    ' at %s' % item['location'] if item['location'] else '')
            else:
                text = '%s: %s dropped by the kernel, reason %s, none of them traced' % (
                    where, _packets(item['packets'], FAMILY_WORDS.get(item['family'], '') + 'packet'), words)
            found.append((UNTRACED, -item['packets'], text))
        if unspecified:
            found.append((UNSPECIFIED, -unspecified, '%s: %s dropped by the kernel without a reason (NOT_SPECIFIED), '
                          'not joined to any packet' % (where, _packets(unspecified))))
        if group['lost']:
            found.append((LOST, -group['lost'], '%s: %s dropped by the kernel were not recorded (the drop-reason '
                          'buffer was full)' % (where, _packets(group['lost']))))
    return found


def _conntrack(hosts):
    found = []
    for name, host in hosts.items():
        window = host.get('conntrack_window')
        if not window:
            continue
        parts = []
        count, maximum = window.get('count'), window.get('max')
        if isinstance(count, int) and isinstance(maximum, int) and maximum > 0 and count * 100 >= maximum * FULL_PERCENT:
            parts.append('table %d%% full (%s of %s entries)' % (
                count * 100 // maximum, '{:,}'.format(count), '{:,}'.format(maximum)))
        deltas = window.get('deltas') or {}
        parts += ['%s +%s' % (counter, '{:,}'.format(deltas[counter])) for counter in DROPPING if deltas.get(counter)]
        dropping = bool(parts)
        parts += ['%s +%s' % (counter, '{:,}'.format(value)) for counter, value in sorted(deltas.items())
                  if counter not in DROPPING]
        if parts:
            found.append((CONNTRACK if dropping else CONNTRACK_OTHER, -sum(deltas.values()),
                          '%s: conntrack %s during the window' % (name, ', '.join(parts))))
    return found


def _conntrack_entries(hosts):
    found = []
    for name, host in hosts.items():
        entries = host.get('conntrack_findings') or {}
        for stale in entries.get('stale_dnat') or []:
            found.append((CONNTRACK, -stale['entries'], '%s: %s to %s: no DNAT rule sends there now (%s)' % (
                name, _packets(stale['entries'], 'stale UDP DNAT entry').replace('entrys', 'entries'), stale['target'],
                stale['example'])))
        if entries.get('unreplied'):
            found.append((CONNTRACK_OTHER, -entries['unreplied'], '%s: %s of the match never answered [UNREPLIED] (%s)' % (
                name, _packets(entries['unreplied'], 'conntrack entry').replace('entrys', 'entries'),
                ', '.join(entries['unreplied_examples']))))
    return found


def _unavailable(hosts):
    found = []
    for name, host in hosts.items():
        drops = host.get('drop_reasons') or {}
        if drops.get('available') is False:
            found.append((UNAVAILABLE, 0, '%s: %s' % (name, drops.get('why') or 'drop reasons not available')))
    return found


def findings(drops, kernel, hosts):
    """The Findings lines. drops: the report's drops (by rule or kernel); kernel: its kernel_drops groups; hosts: its
    hosts (their drop_reasons from the manifest)."""
    found = _traced(drops) + _conntrack(hosts) + _conntrack_entries(hosts) + _kernel(kernel) + _unavailable(hosts)
    return [text for _severity, _count, text in sorted(found, key=lambda f: (f[0], f[1], f[2]))]
