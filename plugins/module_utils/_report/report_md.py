# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.md: the same answers as the HTML report, for a terminal or a ticket, rendered from the Jinja2 template in
templates.py."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import chain_label
from ansible_collections.netdebug.netfilter.plugins.module_utils._report import templates
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.context import (
    conntrack_view, drop_rows, host_rows, journey_shapes, parameters, path_view, paths_by_host, template,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_svg import step_text

MAX_PATHS_PER_HOST = 20
MAX_JOURNEY_SHAPES = 50


def cell(text):
    """A Markdown table cell: | escaped, one line."""
    return str(text if text is not None else '').replace('|', '\\|').replace('\n', ' ')


def row(cells):
    """A Markdown table row."""
    return '| %s |' % ' | '.join(cell(c) for c in cells)


def hop(host_verdict):
    """'node2 (drop)': one node of a journey."""
    return '%s (%s)' % host_verdict


def path_lines(path):
    """The lines of a path's code block: a step per line, its Kubernetes name and rule text under it."""
    lines = []
    for index, step in enumerate(path['steps']):
        mark = '   <== decided here' if index == path['deciding_step'] else ''
        lines.append('%-12s %-28s %s%s' % ((step['hook'] or '?').upper(), chain_label(step), step_text(step), mark))
        if step.get('k8s'):
            lines.append('%-41s   = %s' % ('', step['k8s']['label']))
        if step['rule'] and not step['rule'].startswith(('-P ', 'policy ')):
            lines.append('%-41s   %s' % ('', step['rule']))
    return lines


def _path(report, path):
    view = path_view(report, path)
    return dict(view, title=view['what'], lines=path_lines(path))


def _sections(report):
    by_host = paths_by_host(report)
    sections = []
    for name, host in report['hosts'].items():
        paths = by_host.get(name, [])
        sections.append(dict(conntrack_view(host), **{
            'name': name, 'status': host['status'], 'reason': host['reason'], 'errors': host['errors'],
            'facts': '%d events, %d packets, %d unparsed lines; trace files: %s; snapshots: %s.' % (
                host['events'], host['packets'], host['unparsed'], ', '.join(host['trace_files']) or 'none',
                ', '.join(host['snapshots']) or 'none'),
            'path_count': len(paths), 'paths': [_path(report, path) for path in paths[:MAX_PATHS_PER_HOST]],
            'more_paths': max(0, len(paths) - MAX_PATHS_PER_HOST)}))
    return sections


def render_md(report):
    shapes = journey_shapes(report)
    text = template('md', templates.MD, autoescape=False, filters={'row': row, 'hop': hop}).render(
        incident=report['incident_id'], parameters=parameters(report), findings=report['findings'],
        verdicts=report['verdicts'], hosts=host_rows(report), notes=report.get('manifest_notes', []),
        drops=drop_rows(report),
        journeys=shapes[:MAX_JOURNEY_SHAPES], more_journeys=max(0, len(shapes) - MAX_JOURNEY_SHAPES),
        sections=_sections(report))
    return text.rstrip('\n') + '\n'
