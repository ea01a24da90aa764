# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An inline SVG of one packet path: a column per hook, a box per visit of a chain (indented by jump depth),
arrows in visit order, and the deciding rule highlighted."""

from __future__ import annotations

from html import escape

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import NFTABLES

BOX_W = 380
COL_GAP = 60
LINE_H = 16
HEAD_H = 20
PAD = 6
MARGIN = 14
INDENT = 22
MAX_CHARS = 50
COLORS = {'drop': '#f8d0d0', 'reject': '#f8d8b0', 'accept': '#cdebd0', 'unknown': '#e8e8e8'}
STROKE = {'drop': '#b00020', 'reject': '#b35c00', 'accept': '#1b7a2e', 'unknown': '#666666'}


def _short(text, limit=MAX_CHARS):
    return text if len(text) <= limit else text[:limit - 1] + '\u2026'


def step_text(step):
    """What a box line says about one step: where it is and what it did."""
    if step['kind'] == 'policy' and (step['rule'] or '').startswith(('-P ', 'policy')):
        where = 'policy'
    elif step['rulenum'] is not None:
        where = 'rule %s' % step['rulenum']
        if step['handle'] is not None and step.get('backend') == NFTABLES:  # as words.step_label names rules
            where += ' (handle %s)' % step['handle']
    elif step['handle'] is not None:
        where = 'handle %s' % step['handle']
    else:
        where = step['kind']
    if step['kind'] == 'return' and step['rule'] is None:
        return '%s: end of chain, back to caller' % where
    target = step['target'] or step['effect']
    if step['effect'] in ('jump', 'goto') and not str(target).startswith(step['effect']):
        target = '%s %s' % (step['effect'], target)
    return '%s: %s' % (where, target)


def _boxes(steps):
    """Consecutive steps in one chain form a box; jump depth decides the indent."""
    boxes = []
    depth = 0
    for index, step in enumerate(steps):
        if step.get('base_chain'):
            depth = 0
        key = (step['hook'], step['table'], step['chain'])
        if boxes and boxes[-1]['key'] == key:
            boxes[-1]['steps'].append(index)
        else:
            boxes.append({'key': key, 'steps': [index], 'depth': min(depth, 6)})
        if step['effect'] in ('jump', 'goto'):
            depth += 1
        elif step['effect'] == 'return' and depth > 0:
            depth -= 1
    return boxes


def render_path_svg(steps, verdict, deciding, title):
    """SVG text for a path; deciding is the index of the deciding step (None when undecided)."""
    boxes = _boxes(steps)
    hooks = []
    for box in boxes:
        if box['key'][0] not in hooks:
            hooks.append(box['key'][0])
    col_x = {hook: MARGIN + i * (BOX_W + COL_GAP) for i, hook in enumerate(hooks)}
    col_y = {hook: MARGIN + 22 for hook in hooks}
    parts = []
    for box in boxes:
        hook = box['key'][0]
        height = HEAD_H + LINE_H * len(box['steps']) + PAD
        box['x'] = col_x[hook] + INDENT * box['depth']
        box['y'] = col_y[hook]
        box['w'] = BOX_W - INDENT * box['depth']
        box['h'] = height
        col_y[hook] += height + 18
    width = MARGIN * 2 + len(hooks) * BOX_W + max(0, len(hooks) - 1) * COL_GAP
    height = max(col_y.values()) + MARGIN if col_y else 60
    color = COLORS.get(verdict, COLORS['unknown'])
    stroke = STROKE.get(verdict, STROKE['unknown'])
    parts.append('<svg xmlns="http://www.w3.org/2000/svg" class="path" width="%d" height="%d" viewBox="0 0 %d %d" '
                 'role="img" aria-label="%s">' % (width, height, width, height, escape(title)))
    parts.append('<title>%s</title>' % escape(title))
    parts.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                 'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>')
    for hook in hooks:
        parts.append('<text x="%d" y="%d" class="hook">%s</text>'
                     % (col_x[hook], MARGIN + 10, escape((hook or 'unknown hook').upper())))
    for prev, box in zip(boxes, boxes[1:]):
        x1, y1 = prev['x'] + 30, prev['y'] + prev['h']
        x2, y2 = box['x'] + 30, box['y']
        if box['key'][0] != prev['key'][0]:
            x1, y1 = prev['x'] + prev['w'], prev['y'] + HEAD_H
            x2, y2 = box['x'], box['y'] + HEAD_H
        parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444" stroke-width="1.5" '
                     'marker-end="url(#arrow)"/>' % (x1, y1, x2, y2))
    for box in boxes:
        hook, table, chain = box['key']
        is_decider = deciding is not None and deciding in box['steps']
        parts.append('<g class="box">')
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" rx="4" fill="#ffffff" stroke="%s" '
                     'stroke-width="%s"/>' % (box['x'], box['y'], box['w'], box['h'],
                                              stroke if is_decider else '#888', 2 if is_decider else 1))
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" rx="4" fill="#eef2f7"/>'
                     % (box['x'] + 1, box['y'] + 1, box['w'] - 2, HEAD_H - 2))
        parts.append('<text x="%d" y="%d" class="chain">%s</text>'
                     % (box['x'] + PAD, box['y'] + 14, escape(_short('%s / %s' % (table, chain), 46))))
        for row, index in enumerate(box['steps']):
            step = steps[index]
            y = box['y'] + HEAD_H + row * LINE_H
            if index == deciding:
                parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="%s" class="decider"/>'
                             % (box['x'] + 2, y + 1, box['w'] - 4, LINE_H, color, stroke))
            parts.append('<text x="%d" y="%d" class="step"><title>%s</title>%s</text>'
                         % (box['x'] + PAD, y + 12, escape(step['rule'] or step_text(step)),
                            escape(_short(step_text(step), (box['w'] - 2 * PAD) // 7))))
        parts.append('</g>')
    parts.append('</svg>')
    return ''.join(parts)
