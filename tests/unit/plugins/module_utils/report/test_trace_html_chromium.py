# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html in a real browser: headless Chromium renders it, the path diagrams are visible in a screenshot
(the deciding rule's highlight colours are on screen), and the console stays free of errors.

Skips only when no Chromium is installed (Debian package `chromium`)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_write import run_report

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (Debian package chromium)')

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-logging=stderr', '--v=0']
CONSOLE = re.compile(r'CONSOLE[:(]\d+\)?\] "(.*)", source: (\S*)')
DROP_FILL = (0xf8, 0xd0, 0xd0)  # report_svg.COLORS['drop']
DROP_STROKE = (0xb0, 0x00, 0x20)


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


def test_report_renders_with_visible_diagram_and_no_console_errors(bundle, tmp_path):
    # node2 first, so that its drop diagram is on the first screen
    incident = bundle('legacy', hosts=('node2', 'node1'))
    run_report(str(incident.parent), incident.name, formats=['html', 'json'])
    url = (incident / 'report.html').as_uri()

    dom = chromium(tmp_path, url, '--dump-dom')
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<h1>netfilter trace report: inc1</h1>' in dom.stdout
    assert dom.stdout.count('<svg ') >= 10 and 'decided here' in dom.stdout
    assert console_messages(dom.stderr) == []

    shot = tmp_path / 'report.png'
    proc = chromium(tmp_path, url, '--window-size=1280,2600', '--hide-scrollbars', '--screenshot=%s' % shot)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert console_messages(proc.stderr) == []
    width, height, bpp, rows = read_png(shot.read_bytes())
    assert (width, height) == (1280, 2600)
    # the highlighted deciding rule of node2's DROP path: fill and frame in the drop colours
    assert count_colour(rows, bpp, DROP_FILL) > 2000
    assert count_colour(rows, bpp, DROP_STROKE) > 300
