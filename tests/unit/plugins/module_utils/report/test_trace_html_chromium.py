"""report.html in a real browser, as a tool: headless Chromium renders it, reads the DOM (the capture's parameters,
the verdict, a folded node section that a link opens, the filter box), keeps a screenshot in the test output
(tests/output/report-html/), and the console stays free of errors; the path diagrams are visible on screen.

Also checks a report made elsewhere, given in NETDEBUG_REPORT_HTML (tests/run's demo suite gives the demo's).
Skips only when no Chromium is installed (Debian package `chromium`)."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_write import run_report

from conftest import FIXTURES

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (Debian package chromium)')

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-logging=stderr', '--v=0']
CONSOLE = re.compile(r'CONSOLE[:(]\d+\)?\] "(.*)", source: (\S*)')
DROP_FILL = (0xf8, 0xd0, 0xd0)  # report_svg.COLORS['drop']
DROP_STROKE = (0xb0, 0x00, 0x20)
# Where the screenshots stay for a person to look at (ansible-test's output directory, ignored by git).
SHOTS = pathlib.Path(__file__).resolve().parents[4] / 'output' / 'report-html'


def chromium(tmp_path, url, *args):
    profile = tmp_path / 'chromium-profile'
    shutil.rmtree(profile, ignore_errors=True)
    argv = [CHROMIUM] + FLAGS + ['--user-data-dir=%s' % profile] + list(args) + [url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr):
    return CONSOLE.findall(stderr)


def read_png(data):
    """(width, height, bytes per pixel, rows) of an 8-bit RGB/RGBA PNG, as Chromium writes them."""
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            width, height, depth, color, _comp, _filter, interlace = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            chunks.append(body)
    assert depth == 8 and interlace == 0 and color in (2, 6)
    raw = zlib.decompress(b''.join(chunks))
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    pos = 0
    for _row in range(height):
        kind = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif kind == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def count_colour(rows, bpp, colour):
    needle = bytes(colour)
    total = 0
    for row in rows:
        for x in range(0, len(row), bpp):
            if row[x:x + 3] == needle:
                total += 1
    return total


def test_console_check_can_fail(tmp_path):
    """The console check below would see an error: a page with one gives one."""
    page = tmp_path / 'bad.html'
    page.write_text('<html><body><script>console.error("netdebug-marker"); missing();</script></body></html>')
    proc = chromium(tmp_path, page.as_uri(), '--dump-dom')
    messages = [m for m, _src in console_messages(proc.stderr)]
    assert 'netdebug-marker' in messages and any('missing is not defined' in m for m in messages)


def screenshot(tmp_path, url, name, size='1280,2600'):
    """(width, height, bpp, rows) of a screenshot of url, kept as SHOTS/name.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / ('%s.png' % name)
    proc = chromium(tmp_path, url, '--window-size=%s' % size, '--hide-scrollbars', '--screenshot=%s' % shot)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert console_messages(proc.stderr) == []
    return read_png(shot.read_bytes())


def opened_sections(dom):
    return re.findall(r'<details class="host" id="host-([^"]+)" open="">', dom)


def test_report_renders_with_visible_diagram_and_no_console_errors(bundle, tmp_path):
    # node2's section opened by a link to it, so that its drop diagram is on screen
    incident = bundle('legacy', hosts=('node2', 'node1'))
    run_report(str(incident.parent), incident.name, formats=['html', 'json'])
    url = (incident / 'report.html').as_uri() + '#host-node2'

    dom = chromium(tmp_path, url, '--dump-dom')
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<h1>netfilter trace report: inc1</h1>' in dom.stdout
    assert dom.stdout.count('<svg ') >= 10 and 'decided here' in dom.stdout
    assert console_messages(dom.stderr) == []

    width, height, bpp, rows = screenshot(tmp_path, url, 'legacy-node2')
    assert (width, height) == (1280, 2600)
    # the highlighted deciding rule of node2's DROP path: fill and frame in the drop colours
    assert count_colour(rows, bpp, DROP_FILL) > 2000
    assert count_colour(rows, bpp, DROP_STROKE) > 300


def check_page(tmp_path, page, name):
    """The page as a tool, whatever bundle it came from; returns the DOM with every section folded."""
    folded = chromium(tmp_path, page.as_uri(), '--dump-dom')
    assert folded.returncode == 0 and console_messages(folded.stderr) == [], folded.stderr[-2000:]
    dom = folded.stdout
    assert re.search(r'<th>incident</th><td>[^<]+</td>', dom) and '<th>packets</th>' in dom
    assert '<h2>Findings</h2>' in dom and dom.index('<h2>Findings</h2>') < dom.index('<h2>Verdicts</h2>')
    hosts = re.findall(r'<details class="host" id="host-([^"]+)"', dom)
    assert hosts and opened_sections(dom) == []  # every node folded by default
    # a link to a node opens its section, and only that one
    opened = chromium(tmp_path, page.as_uri() + '#host-' + hosts[-1], '--dump-dom')
    assert opened_sections(opened.stdout) == [hosts[-1]] and console_messages(opened.stderr) == []
    screenshot(tmp_path, page.as_uri(), name, size='1280,1800')
    return dom


def test_the_page_as_a_tool_on_a_three_node_capture(tmp_path):
    """The recorded 3-node capture with drops by rules and by the kernel, journeys across nodes and Findings."""
    root = tmp_path / 'bundles'
    shutil.copytree(FIXTURES / 'kernel-drops' / 'kdrops-1', root / 'kdrops-1')
    run_report(str(root), 'kdrops-1', formats=['html', 'json'])
    page = root / 'kdrops-1' / 'report.html'
    dom = check_page(tmp_path, page, 'three-nodes')
    # the capture's parameters and outcome, the verdict, the Findings
    assert '<th>match</th><td>{"destination_port": "7:53", "protocol": "udp"}</td>' in dom
    assert re.search(r'<th>window</th><td>2026-12-07T08:08:50Z to 2026-12-07T08:09:00Z \(10 s\)</td>', dom)
    assert '<li>node2 drops UDP 198.18.0.1 -&gt; 198.18.0.2:7 at filter/INPUT rule 1: -A INPUT -p udp -m udp ' \
           '--dport 7 -j DROP</li>' in dom
    assert '<li>node2: 1 traced packet dropped by the kernel, reason IP_RPFILTER (ip_rcv_finish_core), and 1 by ' \
           'rules</li>' in dom
    # journeys grouped by shape: three node1 -> node2 journeys in one row
    assert re.search(r'<tr class="row"><td>3</td><td>UDP 198\.18\.77\.1 -&gt; 198\.18\.0\.2:53</td>', dom)
    # the timeline marks each traced packet of the monitor nodes: a dot per rule's verdict, a cross per kernel drop
    assert dom.count('<circle class="mark') == 5 and dom.count('<path class="mark kernel"') == 2
    # the filter box, from ?filter=: the rows without the text are hidden, and the page says how many are shown
    filtered = chromium(tmp_path, page.as_uri() + '?filter=IP_RPFILTER', '--dump-dom').stdout
    tables = re.findall(r'<table class="filterable"[^>]*>(.*?)</table>', filtered, re.S)
    rows = [r for table in tables for r in re.findall(r'<tr class="row"( hidden="")?>', table)]
    shown = [r for r in rows if not r]
    assert 0 < len(shown) < len(rows)
    assert '<span id="filter-count" class="note">%d of %d rows</span>' % (len(shown), len(rows)) in filtered


@pytest.mark.skipif(not os.environ.get('NETDEBUG_REPORT_HTML'), reason='no NETDEBUG_REPORT_HTML given')
def test_a_given_report(tmp_path):
    """A report made elsewhere (the demo's): the same checks of the page as a tool, and a verdict line."""
    page = pathlib.Path(os.environ['NETDEBUG_REPORT_HTML'])
    dom = check_page(tmp_path, page, 'given-' + page.parent.name)
    assert '<ul class="verdicts"><li>' in dom
