# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node side of the collect role: stage one host's capture and pack it into one checksummed tar.gz.

Usage: netdebug_pack.py INPUTS.json. INPUTS names the archive to write, text files to write (snapshots and states
the controller already holds), capture files to copy (trace monitors) and a kernel log window to extract. Prints
one JSON object: archive, sha256, size, files (path, sha256, size) and warnings. Python 3.8+, stdlib only.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

_RFC3339 = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?\s')
_BSD = re.compile(r'^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\s')
_DMESG = re.compile(r'^\[\s*(\d+\.\d+)\]\s')
_MONTHS = {name: i for i, name in enumerate(
    ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'], 1)}


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def syslog_epoch(line, now=None):
    """Epoch seconds of a syslog line (RFC 3339 or classic BSD stamp), or None."""
    match = _RFC3339.match(line)
    if match:
        stamp, zone = match.group(1), match.group(2) or 'Z'
        base = datetime.datetime.strptime(stamp.split('.')[0], '%Y-%m-%dT%H:%M:%S')
        seconds = calendar.timegm(base.timetuple())
        if '.' in stamp:
            seconds += float('0.' + stamp.split('.')[1])
        if zone != 'Z':
            sign = 1 if zone[0] == '+' else -1
            digits = zone[1:].replace(':', '')
            seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        return seconds
    match = _BSD.match(line)
    if match and match.group(1) in _MONTHS:
        # Classic stamps have no year and are in local time: take the year that puts the line closest to now.
        now = time.time() if now is None else now
        year = time.localtime(now).tm_year
        fields = (_MONTHS[match.group(1)], int(match.group(2)), int(match.group(3)), int(match.group(4)),
                  int(match.group(5)))
        best = None
        for candidate in (year - 1, year, year + 1):
            try:
                epoch = time.mktime((candidate,) + fields + (0, 0, -1))
            except (OverflowError, ValueError):
                continue
            if best is None or abs(epoch - now) < abs(best - now):
                best = epoch
        return best
    return None


def wanted(line, patterns):
    return any(pattern in line for pattern in patterns)


def window_of_syslog_file(path, since, until, patterns, out):
    """Lines of an rsyslog file inside [since, until] that carry a pattern; rotated-away lines are not read."""
    count = 0
    with open(path, 'r', encoding='utf-8', errors='replace') as src:
        for line in src:
            if not wanted(line, patterns):
                continue
            epoch = syslog_epoch(line)
            if epoch is None or since <= epoch <= until:
                out.write(line if line.endswith('\n') else line + '\n')
                count += 1
    return count


def window_of_journal(since, until, patterns, out):
    argv = ['journalctl', '-k', '--no-pager', '-o', 'short-iso-precise', '--since', '@%d' % int(since),
            '--until', '@%d' % int(until + 1)]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          env=dict(os.environ, LC_ALL='C'))
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d): %s' % (' '.join(argv), proc.returncode,
                                                      proc.stderr.decode('utf-8', 'replace').strip()))
    count = 0
    for line in proc.stdout.decode('utf-8', 'replace').splitlines():
        if wanted(line, patterns):
            out.write(line + '\n')
            count += 1
    return count


def boot_epoch():
    with open('/proc/uptime', encoding='ascii') as fh:
        uptime = float(fh.read().split()[0])
    return time.time() - uptime


def window_of_dmesg(since, until, patterns, out):
    proc = subprocess.run(['dmesg'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          env=dict(os.environ, LC_ALL='C'))
    if proc.returncode != 0:
        raise RuntimeError('dmesg failed (rc %d): %s' % (proc.returncode,
                                                         proc.stderr.decode('utf-8', 'replace').strip()))
    boot = boot_epoch()
    count = 0
    for line in proc.stdout.decode('utf-8', 'replace').splitlines():
        match = _DMESG.match(line)
        if not match or not wanted(line, patterns):
            continue
        if since - 2 <= boot + float(match.group(1)) <= until + 2:  # the boot time estimate drifts a little
            out.write(line + '\n')
            count += 1
    return count


def extract_kernlog(spec, dest, warnings):
    source = spec.get('source') or 'none'
    if source == 'none':
        return
    since, until = float(spec['since']), float(spec['until'])
    patterns = spec.get('patterns') or ['TRACE:']
    with open(dest, 'w', encoding='utf-8') as out:
        if source == 'rsyslog':
            path = spec.get('file') or ''
            if not os.path.isfile(path):
                warnings.append('kernel log file %s does not exist' % path)
                return
            window_of_syslog_file(path, since, until, patterns, out)
        elif source == 'journal':
            window_of_journal(since, until, patterns, out)
        elif source == 'dmesg':
            window_of_dmesg(since, until, patterns, out)
        else:
            raise ValueError('unknown kernel log source %r' % source)


def safe_rel(rel):
    parts = rel.split('/')
    return bool(rel) and not rel.startswith('/') and '..' not in parts and '' not in parts


def stage(inputs, root, warnings):
    for rel, content in sorted((inputs.get('files') or {}).items()):
        if not safe_rel(rel):
            raise ValueError('unsafe path in the inputs: %r' % rel)
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as fh:
            fh.write(content if isinstance(content, str) else json.dumps(content, indent=2, sort_keys=True) + '\n')
    for item in inputs.get('copy') or []:
        if not safe_rel(item['dest']):
            raise ValueError('unsafe path in the inputs: %r' % item['dest'])
        if not os.path.isfile(item['src']):
            warnings.append('capture file %s is missing' % item['src'])
            continue
        path = os.path.join(root, item['dest'])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(item['src'], path)
    if inputs.get('kernlog'):
        path = os.path.join(root, 'trace', 'kernel.log')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            extract_kernlog(inputs['kernlog'], path, warnings)
        except (OSError, RuntimeError) as exc:
            warnings.append('kernel log lines not collected: %s' % exc)


def pack(root, archive):
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            files.append({'path': rel, 'sha256': sha256_file(full), 'size': os.path.getsize(full)})
    partial = archive + '.part'
    with tarfile.open(partial, 'w:gz') as tar:
        for item in files:
            tar.add(os.path.join(root, item['path']), arcname=item['path'], recursive=False)
    os.rename(partial, archive)
    return files


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: netdebug_pack.py INPUTS.json\n')
        return 2
    with open(argv[1], encoding='utf-8') as fh:
        inputs = json.load(fh)
    archive = inputs['archive']
    warnings = []
    root = tempfile.mkdtemp(prefix='netdebug-stage-', dir=os.path.dirname(archive))
    try:
        stage(inputs, root, warnings)
        files = pack(root, archive)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    json.dump({'archive': archive, 'sha256': sha256_file(archive), 'size': os.path.getsize(archive),
               'files': files, 'warnings': warnings}, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
