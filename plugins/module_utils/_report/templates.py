# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Jinja2 template of report.html (the page's layout; report_html prepares every value it shows). Kept in Python
because the trace_report module carries only Python files to the controller's module run; edit it here."""

from __future__ import annotations

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1d1d1d;max-width:1400px}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top;font-size:0.9em}th{background:#eef2f7}
table.params th{width:11em}
code,.rule{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.88em}
.v-drop{color:#b00020;font-weight:600}.v-reject{color:#b35c00;font-weight:600}.v-accept{color:#1b7a2e}
.v-unknown{color:#666}.s-ok{color:#1b7a2e}.s-partial{color:#b35c00}.s-unreachable,.s-failed{color:#b00020}
ul.verdicts li,ul.findings li{margin:4px 0;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:0.9em}
svg.path{display:block;margin:6px 0 4px;background:#fcfcfc;border:1px solid #e2e2e2}
svg text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;fill:#1d1d1d}
svg text.hook{font-weight:700;fill:#34495e}svg text.chain{font-weight:600}
svg.timeline{display:block;margin:6px 0 4px;border:1px solid #e2e2e2;background:#fff}
details.host{margin:10px 0;border:1px solid #ddd;border-radius:4px;padding:4px 10px}
details.host>summary{cursor:pointer;font-size:1.15em;font-weight:600;padding:4px 0}
.filter{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #eee;z-index:1}
.filter input{width:28em;padding:4px 6px;font-size:1em}
.note{color:#666;font-size:0.9em}
"""

# Filters the rows of every table marked filterable by the text typed (also from ?filter=TEXT), and opens the folded
# section a link points into (report.html#host-node2). No network, works from a file:// URL.
SCRIPT = """
(function () {
  var box = document.getElementById('filter');
  var count = document.getElementById('filter-count');
  function apply() {
    var q = box.value.trim().toLowerCase(), shown = 0, rows = document.querySelectorAll('table.filterable tr.row');
    rows.forEach(function (tr) {
      var hit = q === '' || tr.textContent.toLowerCase().indexOf(q) >= 0;
      tr.hidden = !hit;
      if (hit) { shown += 1; }
    });
    count.textContent = q === '' ? '' : shown + ' of ' + rows.length + ' rows';
  }
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    for (var el = id ? document.getElementById(id) : null; el; el = el.parentElement) {
      if (el.tagName === 'DETAILS') { el.open = true; }
    }
  }
  box.addEventListener('input', apply);
  var given = new URLSearchParams(location.search).get('filter');
  if (given) { box.value = given; }
  apply();
  window.addEventListener('hashchange', openTarget);
  openTarget();
}());
"""

HTML = """{% macro head(names) %}<tr>{% for name in names %}<th>{{ name }}</th>{% endfor %}</tr>{% endmacro %}
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ css }}</style></head><body>
<h1>{{ title }}</h1>
<table class="params" id="capture">
{% for label, value in parameters %}
<tr><th>{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}
</table>
<div class="filter"><input id="filter" type="search" aria-label="filter the tables"
 placeholder="Filter the tables: a host, an address, a chain, a verdict..."> <span id="filter-count" class="note"></span></div>
<h2>Findings</h2>
{% if findings %}
<ul class="findings">{% for line in findings %}<li>{{ line }}</li>{% endfor %}</ul>
{% else %}
<p>No packet was dropped, by a rule or by the kernel.</p>
{% endif %}
<h2>Verdicts</h2>
{% if verdicts %}
<ul class="verdicts">{% for line in verdicts %}<li>{{ line }}</li>{% endfor %}</ul>
{% else %}
<p>No packet was dropped or rejected in the capture.</p>
{% endif %}
<h2>Timeline</h2>
{% if timeline %}
{{ timeline }}
<p class="note">A mark per traced packet at the moment its node traced it (on the controller's clock), coloured by its
verdict: red drop, orange reject, green accept, grey unknown; a cross where the kernel dropped it, not a rule.</p>
{% else %}
<p class="note">No traced packet has a wall-clock time.</p>
{% endif %}
<h2>Hosts</h2>
<table class="filterable" id="hosts">
{{ head(['host', 'status', 'reason', 'events', 'packets', 'untraced', 'accept', 'drop', 'reject', 'unknown',
         'errors']) }}
{% for h in hosts %}
<tr class="row"><td><a href="#host-{{ h.name }}">{{ h.name }}</a></td>
<td><span class="s-{{ h.status }}">{{ h.status }}</span></td><td>{{ h.reason }}</td><td>{{ h.events }}</td>
<td>{{ h.packets }}</td><td>{{ h.untraced }}</td><td>{{ h.accept }}</td><td>{{ h.drop }}</td><td>{{ h.reject }}</td>
<td>{{ h.unknown }}</td><td>{% for e in h.errors %}{{ e }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>
{% endfor %}
</table>
{% for note in notes %}
<p class="note">{{ note }}</p>
{% endfor %}
<h2>Drops per node and rule</h2>
{% if drops %}
<table class="filterable" id="drops">
{{ head(['host', 'verdict', 'where', 'rule', 'example packet', 'packets']) }}
{% for d in drops %}
<tr class="row"><td>{{ d.host }}</td><td><span class="v-{{ d.verdict }}">{{ d.verdict }}</span></td>
<td>{{ d.where }}</td><td><span class="rule">{{ d.rule }}</span></td><td>{{ d.packet }}</td><td>{{ d.packets }}</td></tr>
{% endfor %}
</table>
{% else %}
<p>None.</p>
{% endif %}
<h2>Journeys across nodes</h2>
{% if journeys %}
<table class="filterable" id="journeys">
{{ head(['journeys', 'packet (first of them)', 'seen on (verdict)', 'Kubernetes', 'ids']) }}
{% for j in journeys %}
<tr class="row"><td>{{ j.count }}</td><td>{{ j.packet }}</td>
<td>{% for host, verdict in j.hops %}{{ host }} (<span class="v-{{ verdict }}">{{ verdict }}</span>)
{%- if not loop.last %} &rarr; {% endif %}{% endfor %}</td>
<td>{{ j.kubernetes }}</td><td>{{ j.ids }}</td></tr>
{% endfor %}
</table>
{% if more_journeys %}<p class="note">{{ more_journeys }} more journey shapes in report.json.</p>{% endif %}
{% else %}
<p>No packet was seen on more than one node.</p>
{% endif %}
<h2>Nodes</h2>
<p class="note">Each node's distinct paths and packets; open a node, or follow a link to it.</p>
{% for h in sections %}
<details class="host" id="host-{{ h.name }}">
<summary>{{ h.name }} <span class="s-{{ h.status }}">({{ h.status }})</span>: {{ h.summary }}</summary>
{% if h.reason %}<p>Reason: {{ h.reason }}</p>{% endif %}
<p>{{ h.facts }}</p>
{% for e in h.errors %}<p class="note">{{ e }}</p>{% endfor %}
{% if h.paths %}
<h3>Distinct paths ({{ h.path_count }})</h3>
{% for p in h.paths %}
<h4 id="path-{{ p.id }}">Path {{ p.id }}: {{ p.title }}</h4>
{% if p.reason %}<p>Why {{ p.verdict }}: {{ p.reason }}</p>{% endif %}
{% if p.steps %}
{{ p.svg }}
<table>
{{ head(['hook', 'table/chain', 'step', 'rule', 'Kubernetes', 'note', '']) }}
{% for s in p.steps %}
<tr class="row"><td>{{ s.hook }}</td><td>{{ s.chain }}</td><td>{{ s.step }}</td>
<td><span class="rule">{{ s.rule }}</span></td><td>{{ s.k8s }}</td><td>{{ s.note }}</td>
<td>{% if s.decided %}&#9664; decided here{% endif %}</td></tr>
{% endfor %}
</table>
{% else %}
<p class="note">Only LOG lines ({{ p.logs }}): no TRACE steps for this packet.</p>
{% endif %}
{% endfor %}
{% if h.more_paths %}<p class="note">{{ h.more_paths }} more paths in report.json.</p>{% endif %}
{% endif %}
{% if h.conntrack_sample %}
<h3>Connection tracking ({{ h.conntrack_entries }} entries of the match)</h3>
<table class="filterable">
{{ head(['entry']) }}
{% for line in h.conntrack_sample %}
<tr class="row"><td>{{ line }}</td></tr>
{% endfor %}
</table>
{% if h.conntrack_more %}<p class="note">{{ h.conntrack_more }} more entries in the host's conntrack.json.</p>{% endif %}
{% endif %}
{% if h.packets %}
<h3>Packets</h3>
<table class="filterable">
{{ head(['id', 'first seen', 'packet', 'verdict', 'decided at', 'file', 'line']) }}
{% for r in h.packets %}
<tr class="row"><td>{{ r.id }}</td><td>{{ r.first_seen }}</td><td>{{ r.packet }}</td>
<td><span class="v-{{ r.verdict }}">{{ r.verdict }}</span></td><td>{{ r.decided }}</td><td>{{ r.source }}</td>
<td>{{ r.line }}</td></tr>
{% endfor %}
</table>
{% if h.more_packets %}<p class="note">{{ h.more_packets }} more packets in report.json.</p>{% endif %}
{% endif %}
</details>
{% endfor %}
<script>{{ script }}</script>
</body></html>
"""


# report.md: for a terminal or a ticket. Table rows go through the filter row (cells with | and line ends escaped).
MD = """# netfilter trace report: {{ incident }}

{% for label, value in parameters %}
- **{{ label }}**: {{ value }}
{% endfor %}

## Findings

{% for line in findings %}
- {{ line }}
{% else %}
No packet was dropped, by a rule or by the kernel.
{% endfor %}

## Verdicts

{% for line in verdicts %}
- `{{ line | replace('`', "'") }}`
{% else %}
No packet was dropped or rejected in the capture.
{% endfor %}

## Hosts

| host | status | reason | events | packets | untraced | accept | drop | reject | unknown | errors |
|---|---|---|---|---|---|---|---|---|---|---|
{% for h in hosts %}
{{ [h.name, h.status, h.reason, h.events, h.packets, h.untraced, h.accept, h.drop, h.reject, h.unknown,
    h.errors | join('; ')] | row }}
{% endfor %}
{% for note in notes %}

> {{ note }}
{% endfor %}

## Drops per node and rule

{% if drops %}
| host | verdict | where | rule | example packet | packets |
|---|---|---|---|---|---|
{% for d in drops %}
{{ [d.host, d.verdict, d.where, d.rule, d.packet, d.packets] | row }}
{% endfor %}
{% else %}
None.
{% endif %}

## Journeys across nodes

{% if journeys %}
| journeys | packet (first of them) | seen on (verdict) | Kubernetes | ids |
|---|---|---|---|---|
{% for j in journeys %}
{{ [j.count, j.packet, j.hops | map('hop') | join(' -> '), j.kubernetes, j.ids] | row }}
{% endfor %}
{% if more_journeys %}

{{ more_journeys }} more journey shapes in report.json.
{% endif %}
{% else %}
No packet was seen on more than one node.
{% endif %}
{% for h in sections %}

## {{ h.name }} ({{ h.status }})

{% if h.reason %}
Reason: {{ h.reason }}

{% endif %}
{{ h.facts }}

{% for e in h.errors %}
> {{ e }}
{% endfor %}
{% if h.paths %}

### Distinct paths ({{ h.path_count }})

{% for p in h.paths %}
#### Path {{ p.id }}: {{ p.title }}

{% if p.reason %}
Why {{ p.verdict }}: {{ p.reason }}

{% endif %}
{% if p.lines %}
```
{% for line in p.lines %}
{{ line }}
{% endfor %}
```
{% else %}
Only LOG lines ({{ p.logs }}), no TRACE steps.
{% endif %}

{% endfor %}
{% if h.more_paths %}
{{ h.more_paths }} more paths in report.json.
{% endif %}
{% endif %}
{% if h.conntrack_sample %}

### Connection tracking ({{ h.conntrack_entries }} entries of the match)

{% for line in h.conntrack_sample %}
- {{ line }}
{% endfor %}
{% if h.conntrack_more %}

{{ h.conntrack_more }} more entries in the host's conntrack.json.
{% endif %}
{% endif %}
{% endfor %}
"""
