# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html: one self-contained page rendered from the Jinja2 template in templates.py: the capture's
parameters and outcome, Findings first, a timeline of the window, journeys grouped by shape, a node's paths and
packets folded in its own section, a filter box (a little inline script, nothing fetched from the network)."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import (
    chain_label, decided_at, packet_words,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._report import templates
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.context import (
    conntrack_view, count, drop_rows, host_rows, host_verdicts, journey_shapes, markup, parameters, path_view,
    paths_by_host, template,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_svg import render_path_svg, step_text
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_timeline import render_timeline

MAX_PATHS_PER_HOST = 40
MAX_PACKETS_PER_HOST = 100
MAX_JOURNEY_SHAPES = 200


def _path(report, path):
    view = path_view(report, path)
    title = '%s: %s' % (path['host'], view['what'])
    steps = [{'hook': step['hook'] or '', 'chain': chain_label(step), 'step': step_text(step),
              'rule': step['rule'] or '', 'k8s': (step.get('k8s') or {}).get('label', ''), 'note': step['note'] or '',
              'decided': index == path['deciding_step']} for index, step in enumerate(path['steps'])]
    svg = render_path_svg(path['steps'], path['verdict'], path['deciding_step'], title) if path['steps'] else ''
    return dict(view, title=title, steps=steps, svg=markup(svg))


def _sections(report):
    by_host, packets_by_host = paths_by_host(report), {}
    for record in report['packets']:
        packets_by_host.setdefault(record['host'], []).append(record)
    sections = []
    for name, host in report['hosts'].items():
        paths = by_host.get(name, [])
        packets = packets_by_host.get(name, [])
        verdicts = host_verdicts(host)
        sections.append(dict(conntrack_view(host), **{
            'name': name, 'status': host['status'], 'reason': host['reason'],
            'summary': '%s%s, %s' % (count(host['packets'], 'packet'), ' (%s)' % verdicts if verdicts else '',
                                     count(len(paths), 'distinct path')),
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
        }))
    return sections


def render_html(report):
    shapes = journey_shapes(report)
    return template('html', templates.HTML, autoescape=True).render(
        title='netfilter trace report: %s' % report['incident_id'], css=markup(templates.CSS),
        script=markup(templates.SCRIPT), parameters=parameters(report), findings=report['findings'],
        verdicts=report['verdicts'], timeline=markup(render_timeline(report)), hosts=host_rows(report),
        notes=report.get('manifest_notes', []),
        drops=drop_rows(report),
        journeys=shapes[:MAX_JOURNEY_SHAPES], more_journeys=max(0, len(shapes) - MAX_JOURNEY_SHAPES),
        sections=_sections(report))
