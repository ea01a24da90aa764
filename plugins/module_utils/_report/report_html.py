# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched from the network)."""

from __future__ import annotations

from html import escape

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import (
    chain_label, decided_at, packet_words, rule_place_or_kernel, untraced_text,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_svg import render_path_svg, step_text

MAX_PATHS_PER_HOST = 40
MAX_PACKETS_PER_HOST = 100
VERDICT_ORDER = {'drop': 0, 'reject': 1, 'unknown': 2, 'accept': 3}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1d1d1d;max-width:1400px}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top;font-size:0.9em}th{background:#eef2f7}
code,.rule{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.88em}
.v-drop{color:#b00020;font-weight:600}.v-reject{color:#b35c00;font-weight:600}.v-accept{color:#1b7a2e}
.v-unknown{color:#666}.s-ok{color:#1b7a2e}.s-partial{color:#b35c00}.s-unreachable,.s-failed{color:#b00020}
ul.verdicts li{margin:4px 0;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:0.9em}
svg.path{display:block;margin:6px 0 4px;background:#fcfcfc;border:1px solid #e2e2e2}
svg text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;fill:#1d1d1d}
svg text.hook{font-weight:700;fill:#34495e}svg text.chain{font-weight:600}
.note{color:#666;font-size:0.9em}
"""


def _v(verdict):
    return '<span class="v-%s">%s</span>' % (escape(verdict), escape(verdict))


def _table(headers, rows):
    out = ['<table><tr>%s</tr>' % ''.join('<th>%s</th>' % escape(h) for h in headers)]
    for row in rows:
        out.append('<tr>%s</tr>' % ''.join('<td>%s</td>' % cell for cell in row))
    out.append('</table>')
    return '\n'.join(out)


def _hosts_table(report):
    rows = []
    for name, host in report['hosts'].items():
        verdicts = host['verdicts']
        rows.append([
            '<a href="#host-%s">%s</a>' % (escape(name), escape(name)),
            '<span class="s-%s">%s</span>' % (escape(host['status']), escape(host['status'])),
            escape(host['reason'] or ''), str(host['events']), str(host['packets']), untraced_text(host),
            str(verdicts.get('accept', 0)), str(verdicts.get('drop', 0)), str(verdicts.get('reject', 0)),
            str(verdicts.get('unknown', 0)), '<br>'.join(escape(e) for e in host['errors']),
        ])
    return _table(['host', 'status', 'reason', 'events', 'packets', 'untraced', 'accept', 'drop', 'reject', 'unknown',
                   'errors'], rows)


def _drops_table(drops):
    rows = [[escape(d['host']), _v(d['verdict']), escape(rule_place_or_kernel(d)), '<span class="rule">%s</span>'
             % escape(d.get('rule') or ''), escape(packet_words(d['example'])), str(d['packets'])] for d in drops]
    return _table(['host', 'verdict', 'where', 'rule', 'example packet', 'packets'], rows)


def _journeys(report):
    packets = report['packets']
    rows = []
    for journey in report['journeys'][:200]:
        first = packets[journey['packets'][0]]
        hops = ' &rarr; '.join('%s (%s)' % (escape(packets[i]['host']), _v(packets[i]['verdict']))
                               for i in journey['packets'])
        rows.append([str(journey['id']), escape(packet_words(first['summary'])), hops,
                     escape('; '.join(journey.get('kubernetes') or []))])
    note = ''
    if len(report['journeys']) > 200:
        note = '<p class="note">%d more in report.json.</p>' % (len(report['journeys']) - 200)
    return _table(['journey', 'packet', 'seen on (verdict)', 'Kubernetes'], rows) + note


def _path_section(report, path):
    example = report['packets'][path['example_packet']]
    steps = path['steps']
    plural = '' if path['packets'] == 1 else 's'
    title = '%s: %s, %s (%d packet%s)' % (path['host'], packet_words(example['summary']), path['verdict'],
                                          path['packets'], plural)
    out = ['<h4>Path %d: %s</h4>' % (path['id'], escape(title))]
    if path.get('verdict_reason'):
        out.append('<p>Why %s: %s</p>' % (escape(path['verdict']), escape(path['verdict_reason'])))
    if steps:
        out.append(render_path_svg(steps, path['verdict'], path['deciding_step'], title))
        rows = []
        for index, step in enumerate(steps):
            mark = '&#9664; decided here' if index == path['deciding_step'] else ''
            rows.append([escape(step['hook'] or ''), escape(chain_label(step)),
                         escape(step_text(step)), '<span class="rule">%s</span>' % escape(step['rule'] or ''),
                         escape((step.get('k8s') or {}).get('label', '')), escape(step['note'] or ''), mark])
        out.append(_table(['hook', 'table/chain', 'step', 'rule', 'Kubernetes', 'note', ''], rows))
    else:
        out.append('<p class="note">Only LOG lines (%s): no TRACE steps for this packet.</p>'
                   % escape(', '.join(example['logs'])))
    return '\n'.join(out)


def _host_section(report, name, host, paths_by_host, packets_by_host):
    out = ['<h2 id="host-%s">%s <span class="s-%s">(%s)</span></h2>'
           % (escape(name), escape(name), escape(host['status']), escape(host['status']))]
    if host['reason']:
        out.append('<p>Reason: %s</p>' % escape(host['reason']))
    out.append('<p>%d events, %d packets, %d unparsed lines. Trace files: %s. Ruleset snapshots: %s.</p>'
               % (host['events'], host['packets'], host['unparsed'],
                  escape(', '.join(host['trace_files']) or 'none'), escape(', '.join(host['snapshots']) or 'none')))
    for error in host['errors']:
        out.append('<p class="note">%s</p>' % escape(error))
    paths = sorted(paths_by_host.get(name, []), key=lambda p: (VERDICT_ORDER.get(p['verdict'], 9), -p['packets']))
    if paths:
        out.append('<h3>Distinct paths (%d)</h3>' % len(paths))
        for path in paths[:MAX_PATHS_PER_HOST]:
            out.append(_path_section(report, path))
        if len(paths) > MAX_PATHS_PER_HOST:
            out.append('<p class="note">%d more paths in report.json.</p>' % (len(paths) - MAX_PATHS_PER_HOST))
    packets = packets_by_host.get(name, [])
    if packets:
        out.append('<h3>Packets</h3>')
        rows = []
        for record in packets[:MAX_PACKETS_PER_HOST]:
            rows.append([str(record['id']), escape(record['first_seen'] or ''), escape(packet_words(record['summary'])),
                         _v(record['verdict']), escape(decided_at(record)),
                         escape(record['source'] or ''), str(record['line'])])
        out.append(_table(['id', 'first seen', 'packet', 'verdict', 'decided at', 'file', 'line'], rows))
        if len(packets) > MAX_PACKETS_PER_HOST:
            out.append('<p class="note">%d more packets in report.json.</p>' % (len(packets) - MAX_PACKETS_PER_HOST))
    return '\n'.join(out)


def _lines(title, css_class, lines, none):
    """A section of one-line items: its heading and list, or the sentence that says there is none."""
    if not lines:
        return ['<h2>%s</h2>' % title, '<p>%s</p>' % none]
    return ['<h2>%s</h2>' % title,
            '<ul class="%s">%s</ul>' % (css_class, ''.join('<li>%s</li>' % escape(line) for line in lines))]


def render_html(report):
    paths_by_host = {}
    for path in report['paths']:
        paths_by_host.setdefault(path['host'], []).append(path)
    packets_by_host = {}
    for record in report['packets']:
        packets_by_host.setdefault(record['host'], []).append(record)
    title = 'netfilter trace report: %s' % report['incident_id']
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s</title><style>%s</style></head><body>' % (escape(title), CSS),
           '<h1>%s</h1>' % escape(title)]
    out += _lines('Findings', 'findings', report['findings'], 'No packet was dropped, by a rule or by the kernel.')
    out += _lines('Verdicts', 'verdicts', report['verdicts'], 'No packet was dropped or rejected in the capture.')
    out.append('<h2>Hosts</h2>')
    out.append(_hosts_table(report))
    for note in report.get('manifest_notes', []):
        out.append('<p class="note">%s</p>' % escape(note))
    out.append('<h2>Drops per node and rule</h2>')
    out.append(_drops_table(report['drops']) if report['drops'] else '<p>None.</p>')
    out.append('<h2>Journeys across nodes</h2>')
    out.append(_journeys(report) if report['journeys'] else '<p>No packet was seen on more than one node.</p>')
    for name, host in report['hosts'].items():
        out.append(_host_section(report, name, host, paths_by_host, packets_by_host))
    out.append('</body></html>')
    return '\n'.join(out) + '\n'
