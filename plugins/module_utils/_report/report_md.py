# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.md: the same answers as the HTML report, for a terminal or a ticket."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import (
    chain_label, packet_words, rule_place_or_kernel, untraced_text,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_svg import step_text

MAX_PATHS_PER_HOST = 20
MAX_JOURNEYS = 50
VERDICT_ORDER = {'drop': 0, 'reject': 1, 'unknown': 2, 'accept': 3}


def _cell(text):
    return str(text if text is not None else '').replace('|', '\\|').replace('\n', ' ')


def _table(headers, rows):
    out = ['| %s |' % ' | '.join(headers), '|%s|' % '|'.join('---' for _header in headers)]
    out.extend('| %s |' % ' | '.join(_cell(c) for c in row) for row in rows)
    return out


def _path_lines(report, path):
    example = report['packets'][path['example_packet']]
    plural = '' if path['packets'] == 1 else 's'
    heading = '#### Path %d: %s, %s (%d packet%s)' % (path['id'], packet_words(example['summary']), path['verdict'],
                                                      path['packets'], plural)
    out = [heading, '']
    if path.get('verdict_reason'):
        out += ['Why %s: %s' % (path['verdict'], path['verdict_reason']), '']
    if not path['steps']:
        out.append('Only LOG lines (%s), no TRACE steps.' % ', '.join(example['logs']))
        return out + ['']
    out.append('```')
    for index, step in enumerate(path['steps']):
        mark = '   <== decided here' if index == path['deciding_step'] else ''
        out.append('%-12s %-28s %s%s' % ((step['hook'] or '?').upper(), chain_label(step),
                                         step_text(step), mark))
        if step.get('k8s'):
            out.append('%-41s   = %s' % ('', step['k8s']['label']))
        if step['rule'] and not step['rule'].startswith(('-P ', 'policy ')):
            out.append('%-41s   %s' % ('', step['rule']))
    out.append('```')
    return out + ['']


def render_md(report):
    out = ['# netfilter trace report: %s' % report['incident_id'], '', '## Findings', '']
    if report['findings']:
        out.extend('- %s' % line for line in report['findings'])
    else:
        out.append('No packet was dropped, by a rule or by the kernel.')
    out += ['', '## Verdicts', '']
    if report['verdicts']:
        out.extend('- `%s`' % line.replace('`', "'") for line in report['verdicts'])
    else:
        out.append('No packet was dropped or rejected in the capture.')
    out += ['', '## Hosts', '']
    rows = []
    for name, host in report['hosts'].items():
        v = host['verdicts']
        rows.append([name, host['status'], host['reason'] or '', host['events'], host['packets'], untraced_text(host),
                     v.get('accept', 0), v.get('drop', 0), v.get('reject', 0), v.get('unknown', 0),
                     '; '.join(host['errors'])])
    out += _table(['host', 'status', 'reason', 'events', 'packets', 'untraced', 'accept', 'drop', 'reject', 'unknown',
                   'errors'], rows)
    for note in report.get('manifest_notes', []):
        out += ['', '> %s' % note]
    out += ['', '## Drops per node and rule', '']
    if report['drops']:
        out += _table(['host', 'verdict', 'where', 'rule', 'example packet', 'packets'],
                      [[d['host'], d['verdict'], rule_place_or_kernel(d), d.get('rule') or '', packet_words(d['example']),
                        d['packets']] for d in report['drops']])
    else:
        out.append('None.')
    out += ['', '## Journeys across nodes', '']
    if report['journeys']:
        packets = report['packets']
        out += _table(['journey', 'packet', 'seen on (verdict)', 'Kubernetes'], [
            [j['id'], packet_words(packets[j['packets'][0]]['summary']),
             ' -> '.join('%s (%s)' % (packets[i]['host'], packets[i]['verdict']) for i in j['packets']),
             '; '.join(j.get('kubernetes') or [])]
            for j in report['journeys'][:MAX_JOURNEYS]])
        if len(report['journeys']) > MAX_JOURNEYS:
            out.append('')
            out.append('%d more in report.json.' % (len(report['journeys']) - MAX_JOURNEYS))
    else:
        out.append('No packet was seen on more than one node.')
    paths_by_host = {}
    for path in report['paths']:
        paths_by_host.setdefault(path['host'], []).append(path)
    for name, host in report['hosts'].items():
        out += ['', '## %s (%s)' % (name, host['status']), '']
        if host['reason']:
            out.append('Reason: %s' % host['reason'])
            out.append('')
        out.append('%d events, %d packets, %d unparsed lines; trace files: %s; snapshots: %s.'
                   % (host['events'], host['packets'], host['unparsed'], ', '.join(host['trace_files']) or 'none',
                      ', '.join(host['snapshots']) or 'none'))
        out.append('')
        for error in host['errors']:
            out.append('> %s' % error)
        paths = sorted(paths_by_host.get(name, []),
                       key=lambda p: (VERDICT_ORDER.get(p['verdict'], 9), -p['packets']))
        if paths:
            out += ['', '### Distinct paths (%d)' % len(paths), '']
            for path in paths[:MAX_PATHS_PER_HOST]:
                out += _path_lines(report, path)
            if len(paths) > MAX_PATHS_PER_HOST:
                out.append('%d more paths in report.json.' % (len(paths) - MAX_PATHS_PER_HOST))
    return '\n'.join(out).rstrip('\n') + '\n'
