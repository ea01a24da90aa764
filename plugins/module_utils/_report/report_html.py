# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html: one self-contained page rendered from the Jinja2 template in templates.py: the capture's
parameters and outcome, Findings first, a timeline of the window, journeys grouped by shape, a node's paths and
packets folded in its own section, a filter box (a little inline script, nothing fetched from the network)."""

from __future__ import annotations

import json

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import (
    chain_label, decided_at, packet_words, rule_place_or_kernel, untraced_text,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError
from ansible_collections.netdebug.netfilter.plugins.module_utils._report import templates
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_svg import render_path_svg, step_text
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_timeline import render_timeline

try:
    import jinja2
    import markupsafe
except ImportError:  # the controller, where trace_report runs, has both with Ansible
    jinja2 = markupsafe = None

MAX_PATHS_PER_HOST = 40
MAX_PACKETS_PER_HOST = 100
MAX_JOURNEY_SHAPES = 200
VERDICT_ORDER = {'drop': 0, 'reject': 1, 'unknown': 2, 'accept': 3}
_TEMPLATE = []  # the compiled template, made once


def template():
    if jinja2 is None:
        raise NetdebugError('report.html needs the Python package jinja2 (it comes with Ansible): run trace_report '
                            'on the controller (delegate_to: localhost), or leave html out of formats')
    if not _TEMPLATE:
        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True, keep_trailing_newline=True)
        _TEMPLATE.append(env.from_string(templates.HTML))
    return _TEMPLATE[0]


def parameters(report):
    """The header's (label, value) rows: what the capture was and what came of it."""
    capture = report.get('capture') or {}
    rows = [('incident', report['incident_id'])]
    if capture.get('kind'):
        rows.append(('kind', capture['kind']))
    if capture.get('match') is not None:
        rows.append(('match', json.dumps(capture['match'], sort_keys=True)))
    window = capture.get('window')
    if window:
        rows.append(('window', '%s to %s (%d s)' % (window['start_utc'], window['end_utc'],
                                                    window['end'] - window['start'])))
    elif capture.get('duration'):
        rows.append(('window', '%s s' % capture['duration']))
    if capture.get('backend'):
        rows.append(('backend', capture['backend']))
    if capture.get('started_at') or capture.get('ended_at'):
        rows.append(('run', '%s to %s' % (capture.get('started_at') or '?', capture.get('ended_at') or '?')))
    if capture.get('ran_by'):
        rows.append(('ran by', capture['ran_by']))
    hosts = capture.get('hosts') or {}
    if hosts:
        rows.append(('hosts', ', '.join('%d %s' % (n, status) for status, n in hosts.items())))
    counts = {}
    for packet in report['packets']:
        counts[packet['verdict']] = counts.get(packet['verdict'], 0) + 1
    rows.append(('packets', ', '.join('%d %s' % (counts[v], v) for v in sorted(counts, key=VERDICT_ORDER.get))
                 or 'none traced'))
    return rows


def journey_shapes(report):
    """Journeys grouped by shape (the hosts in order with their verdicts, and what Kubernetes did): count, the first
    journey's packet, the ids; most common first."""
    packets = report['packets']
    shapes = {}
    for journey in report['journeys']:
        hops = tuple((packets[i]['host'], packets[i]['verdict']) for i in journey['packets'])
        kubernetes = '; '.join(journey.get('kubernetes') or [])
        shape = shapes.setdefault((hops, kubernetes), {'count': 0, 'ids': [], 'first': journey})
        shape['count'] += 1
        shape['ids'].append(journey['id'])
    rows = []
    for (hops, kubernetes), shape in sorted(shapes.items(), key=lambda item: (-item[1]['count'], item[1]['ids'][0])):
        ids = shape['ids']
        rows.append({'count': shape['count'], 'hops': hops, 'kubernetes': kubernetes,
                     'packet': packet_words(packets[shape['first']['packets'][0]]['summary']),
                     'ids': ', '.join(str(i) for i in ids[:5]) + (', ...' if len(ids) > 5 else '')})
    return rows


def _host_rows(report):
    rows = []
    for name, host in report['hosts'].items():
        verdicts = host['verdicts']
        rows.append({'name': name, 'status': host['status'], 'reason': host['reason'] or '', 'events': host['events'],
                     'packets': host['packets'], 'untraced': untraced_text(host),
                     'accept': verdicts.get('accept', 0), 'drop': verdicts.get('drop', 0),
                     'reject': verdicts.get('reject', 0), 'unknown': verdicts.get('unknown', 0),
                     'errors': host['errors']})
    return rows


def _path(report, path):
    example = report['packets'][path['example_packet']]
    plural = '' if path['packets'] == 1 else 's'
    title = '%s: %s, %s (%d packet%s)' % (path['host'], packet_words(example['summary']), path['verdict'],
                                          path['packets'], plural)
    steps = [{'hook': step['hook'] or '', 'chain': chain_label(step), 'step': step_text(step),
              'rule': step['rule'] or '', 'k8s': (step.get('k8s') or {}).get('label', ''), 'note': step['note'] or '',
              'decided': index == path['deciding_step']} for index, step in enumerate(path['steps'])]
    svg = render_path_svg(path['steps'], path['verdict'], path['deciding_step'], title) if path['steps'] else ''
    return {'id': path['id'], 'title': title, 'verdict': path['verdict'], 'reason': path.get('verdict_reason'),
            'steps': steps, 'svg': _markup(svg),
            'logs': ', '.join(example['logs'])}


def _markup(text):
    """HTML made here (the SVGs, the style and the script), put into the page as it is."""
    return markupsafe.Markup(text)


def _count(number, word):
    return '%d %s%s' % (number, word, '' if number == 1 else 's')


def _sections(report):
    paths_by_host, packets_by_host = {}, {}
    for path in report['paths']:
        paths_by_host.setdefault(path['host'], []).append(path)
    for record in report['packets']:
        packets_by_host.setdefault(record['host'], []).append(record)
    sections = []
    for name, host in report['hosts'].items():
        paths = sorted(paths_by_host.get(name, []), key=lambda p: (VERDICT_ORDER.get(p['verdict'], 9), -p['packets']))
        packets = packets_by_host.get(name, [])
        verdicts = ', '.join('%d %s' % (n, v) for v, n in sorted(host['verdicts'].items(),
                                                                  key=lambda item: VERDICT_ORDER.get(item[0], 9)) if n)
        sections.append({
            'name': name, 'status': host['status'], 'reason': host['reason'],
            'summary': '%s%s, %s' % (_count(host['packets'], 'packet'), ' (%s)' % verdicts if verdicts else '',
                                     _count(len(paths), 'distinct path')),
            'facts': '%d events, %d packets, %d unparsed lines. Trace files: %s. Ruleset snapshots: %s.' % (
                host['events'], host['packets'], host['unparsed'], ', '.join(host['trace_files']) or 'none',
                ', '.join(host['snapshots']) or 'none'),
            'errors': host['errors'], 'path_count': len(paths),
            'paths': [_path(report, path) for path in paths[:MAX_PATHS_PER_HOST]],
            'more_paths': max(0, len(paths) - MAX_PATHS_PER_HOST),
            'packets': [{'id': r['id'], 'first_seen': r['first_seen'] or '', 'packet': packet_words(r['summary']),
                         'verdict': r['verdict'], 'decided': decided_at(r), 'source': r['source'] or '',
                         'line': r['line']} for r in packets[:MAX_PACKETS_PER_HOST]],
            'more_packets': max(0, len(packets) - MAX_PACKETS_PER_HOST),
        })
    return sections


def render_html(report):
    shapes = journey_shapes(report)
    return template().render(
        title='netfilter trace report: %s' % report['incident_id'], css=_markup(templates.CSS),
        script=_markup(templates.SCRIPT), parameters=parameters(report), findings=report['findings'],
        verdicts=report['verdicts'], timeline=_markup(render_timeline(report)), hosts=_host_rows(report),
        notes=report.get('manifest_notes', []),
        drops=[{'host': d['host'], 'verdict': d['verdict'], 'where': rule_place_or_kernel(d), 'rule': d.get('rule') or '',
                'packet': packet_words(d['example']), 'packets': d['packets']} for d in report['drops']],
        journeys=shapes[:MAX_JOURNEY_SHAPES], more_journeys=max(0, len(shapes) - MAX_JOURNEY_SHAPES),
        sections=_sections(report))
