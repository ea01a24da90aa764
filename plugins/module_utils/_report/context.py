# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What both rendered reports show beyond report.json's own fields: the capture's parameters and outcome, journeys
grouped by shape, each node's paths in reading order, and the Jinja2 environment they are rendered with."""

from __future__ import annotations

import json

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import (
    packet_words, rule_place_or_kernel, untraced_text,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError

try:
    import jinja2
    import markupsafe
except ImportError:  # the controller, where trace_report runs, has both with Ansible
    jinja2 = markupsafe = None

VERDICT_ORDER = {'drop': 0, 'reject': 1, 'unknown': 2, 'accept': 3}
_COMPILED = {}


def template(name, source, autoescape, filters=None):
    """The compiled Jinja2 template (made once per name)."""
    if jinja2 is None:
        raise NetdebugError('the reports need the Python package jinja2 (it comes with Ansible): run trace_report '
                            'on the controller (delegate_to: localhost)')
    if name not in _COMPILED:
        env = jinja2.Environment(autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True, keep_trailing_newline=True)
        env.filters.update(filters or {})
        _COMPILED[name] = env.from_string(source)
    return _COMPILED[name]


def markup(text):
    """HTML made here (the SVGs, the style and the script), put into the page as it is."""
    return markupsafe.Markup(text)


def count(number, word):
    return '%d %s%s' % (number, word, '' if number == 1 else 's')


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


def paths_by_host(report):
    """{host: its distinct paths, drops first, then by how many packets took them}."""
    found = {}
    for path in report['paths']:
        found.setdefault(path['host'], []).append(path)
    for paths in found.values():
        paths.sort(key=lambda p: (VERDICT_ORDER.get(p['verdict'], 9), -p['packets']))
    return found


def path_view(report, path):
    """What both reports show of a path besides its steps: its example packet in words, verdict and packet count
    ('what'), and the example's LOG prefixes. The HTML title puts the host in front; Markdown has it as the
    heading above."""
    example = report['packets'][path['example_packet']]
    return {'id': path['id'], 'verdict': path['verdict'], 'reason': path.get('verdict_reason'),
            'what': '%s, %s (%s)' % (packet_words(example['summary']), path['verdict'], count(path['packets'], 'packet')),
            'logs': ', '.join(example['logs'])}


def host_verdicts(host):
    """'3 drop, 1 accept': the host's packets per verdict, none left out but zeros."""
    return ', '.join('%d %s' % (n, v) for v, n in sorted(host['verdicts'].items(),
                                                         key=lambda item: VERDICT_ORDER.get(item[0], 9)) if n)


def conntrack_view(host):
    """What a node's section shows of its conntrack entries of the match: their number, the first ones described,
    how many more the bundle holds."""
    total, sample = host.get('conntrack_entries') or 0, host.get('conntrack_sample') or []
    return {'conntrack_entries': total, 'conntrack_sample': sample, 'conntrack_more': max(0, total - len(sample))}


def host_rows(report):
    """The hosts table: a row per host with its packets per verdict."""
    rows = []
    for name, host in report['hosts'].items():
        verdicts = host['verdicts']
        rows.append({'name': name, 'status': host['status'], 'reason': host['reason'] or '', 'events': host['events'],
                     'packets': host['packets'], 'untraced': untraced_text(host),
                     'accept': verdicts.get('accept', 0), 'drop': verdicts.get('drop', 0),
                     'reject': verdicts.get('reject', 0), 'unknown': verdicts.get('unknown', 0),
                     'errors': host['errors']})
    return rows


def drop_rows(report):
    """The drops table: a row per host and dropping rule or kernel reason."""
    return [{'host': d['host'], 'verdict': d['verdict'], 'where': rule_place_or_kernel(d), 'rule': d.get('rule') or '',
             'packet': packet_words(d['example']), 'packets': d['packets']} for d in report['drops']]
