# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The window as a timeline: a row per node, a mark per traced packet at the moment it was traced, coloured by its
verdict (a cross where the kernel dropped it, not a rule). Inline SVG, for report.html."""

from __future__ import annotations

from html import escape

from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_svg import STROKE

WIDTH = 900
LABEL_W = 120
ROW_H = 22
TOP = 26
MARKS_PER_HOST = 2000  # beyond this a row is a band of marks anyway; the rest are counted in its label


def packet_time(packet):
    """When the node traced it, on the controller's clock where known; None for a packet without a wall time."""
    for key in ('controller_ts', 'ts'):
        value = packet.get(key)
        if isinstance(value, (int, float)) and packet.get('clock', 'wall') in ('wall', None):
            return float(value)
    return None


def span(report):
    """(start, end) of the timeline: the capture's window, widened to every traced packet; None without times."""
    times = [t for t in (packet_time(p) for p in report['packets']) if t is not None]
    window = (report.get('capture') or {}).get('window')
    bounds = [window['start'], window['end']] if window else []
    if not times and not bounds:
        return None
    start, end = min(times + bounds), max(times + bounds)
    return start, max(end, start + 1)


def render_timeline(report):
    """The SVG, or '' when no packet has a wall-clock time."""
    bounds = span(report)
    if bounds is None:
        return ''
    start, end = bounds
    hosts = list(report['hosts'])
    scale = (WIDTH - LABEL_W - 20) / (end - start)
    height = TOP + ROW_H * len(hosts) + 24
    out = ['<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
           'aria-label="when each node traced packets during the window">' % (WIDTH, height)]
    window = (report.get('capture') or {}).get('window')
    if window:
        x0, x1 = LABEL_W + (window['start'] - start) * scale, LABEL_W + (window['end'] - start) * scale
        out.append('<rect class="window" x="%.1f" y="%d" width="%.1f" height="%d" fill="#eef2f7"/>'
                   % (x0, TOP - 6, max(1.0, x1 - x0), ROW_H * len(hosts) + 6))
        out.append('<text x="%.1f" y="14">window %s to %s</text>'
                   % (x0, escape(window['start_utc']), escape(window['end_utc'])))
    by_host = {}
    for packet in report['packets']:
        when = packet_time(packet)
        if when is not None:
            by_host.setdefault(packet['host'], []).append((when, packet))
    for row, host in enumerate(hosts):
        y = TOP + row * ROW_H + ROW_H // 2
        marks = by_host.get(host, [])
        traced = report['hosts'][host]['packets']
        out.append('<text class="host" x="4" y="%d">%s (%d)</text>' % (y + 4, escape(host), traced))
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ccc"/>' % (LABEL_W, y, WIDTH - 20, y))
        if traced and not marks:
            out.append('<text class="note" x="%d" y="%d">no wall-clock time: traced through the kernel log\'s boot '
                       'clock</text>' % (LABEL_W + 6, y - 3))
        for when, packet in marks[:MARKS_PER_HOST]:
            x = LABEL_W + (when - start) * scale
            colour = STROKE.get(packet['verdict'], STROKE['unknown'])
            tip = '<title>packet %d: %s</title>' % (packet['id'], escape(packet['verdict']))
            if packet.get('kernel_drop') and not packet.get('verdict_rule'):
                out.append('<path class="mark kernel" d="M%.1f %d l6 6 m0 -6 l-6 6" stroke="%s" stroke-width="2">%s'
                           '</path>' % (x - 3, y - 3, colour, tip))
            else:
                out.append('<circle class="mark v-%s" cx="%.1f" cy="%d" r="4" fill="%s">%s</circle>'
                           % (escape(packet['verdict']), x, y, colour, tip))
    out.append('<text x="%d" y="%d">%s</text>' % (LABEL_W, height - 6, 'seconds: %.0f' % (end - start)))
    out.append('</svg>')
    return '\n'.join(out)
