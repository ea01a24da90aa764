# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Window benchmark (issue 17): does every node trace the same interval of wall-clock time, whatever the forks?

Run as root from the repository, holding the lab lock (the netns lab has fixed names):

    flock /run/lock/netdebug-lab.lock .venv/bin/python benchmarks/window_bench.py \
        [--nodes 50] [--cases 5:10,50:10,2:30] [--interval 0.1]

The netns lab is brought up with --nodes nodes. For each case FORKS:DURATION the controller (198.18.0.254, the
lab's bridge) pings every node every --interval seconds from before the capture until after it, and
`netdebug.netfilter.capture` traces ICMP from the controller with that many forks and that window. What the nodes
recorded then says when each one traced, independently of Ansible's task times:

- start skew: the spread, across nodes, of the moment each node's rules began to trace: the window's start on the
  node's clock, or the moment its rules went in when that was later (manifest.json `window`: start + late);
- coverage: the pings each node traced (report.json) against the pings it received inside its window (ping -D
  time-stamps every reply, well under a millisecond after the request in the lab), give or take one at the edges:
  fewer means a late start or an early expiry, more means tracing outside the window;
- traced span: the first and the last traced packet of each node on the controller's clock (report.json
  `controller_ts`, from the node's own time stamps), against the window: their spread across nodes is the skew as
  the packets show it (at most one ping interval when every node traced from the start);
- overhead (wall time minus the window) and the controller's CPU time, as in fleet_bench.py.

Writes benchmarks/results/window.json and docs/window-span.svg (per case, each node's traced span against the
window), and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet_bench import BIN, HERE, REPO, close_masters, controller_cpu, lab, load_average, machine  # noqa: E402

CONTROLLER = '198.18.0.254'
MATCH = {'protocol': 'icmp', 'source': CONTROLLER}


def start_pingers(nodes, interval, work):
    """One ping per node from the controller's side, every interval seconds, until stopped; each reply line with
    its arrival time (-D) in a file (a pipe would fill and stop ping)."""
    pingers = []
    for index in range(1, nodes + 1):
        path = os.path.join(work, 'ping-node%d.log' % index)
        with open(path, 'w', encoding='ascii') as out:
            pingers.append((path, subprocess.Popen(['ping', '-D', '-n', '-i', str(interval), '198.18.0.%d' % index],
                                                   stdout=out, stderr=subprocess.DEVNULL)))
    return pingers


REPLY_RE = re.compile(r'^\[(\d+\.\d+)\] \d+ bytes from ')


def stop_pingers(pingers):
    """Stops them; returns, per node (node1 first), the times of the echo replies they got: a reply comes well
    under a millisecond after its request in the lab, so these are the moments the node saw a request."""
    for _path, proc in pingers:
        proc.terminate()
    times = []
    for path, proc in pingers:
        proc.wait(10)
        with open(path, encoding='ascii', errors='replace') as fh:
            times.append([float(m.group(1)) for m in map(REPLY_RE.match, fh) if m])
    return times


def mem_available():
    with open('/proc/meminfo', encoding='ascii') as fh:
        for line in fh:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
    return 0


class MemorySampler:
    """The machine's memory in use at its peak during a run (MemAvailable sampled every second, against before),
    and the controller's largest process (ru_maxrss of the finished children)."""

    def __init__(self):
        self.before = mem_available()
        self.lowest = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.wait(1.0):
            self.lowest = min(self.lowest, mem_available())

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return {'machine_peak_mb': round((self.before - self.lowest) / 2 ** 20),
                'controller_max_rss_mb': round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def run_capture(tree_base, inventory, forks, duration, work, tag, margin=None):
    incident = 'window-%s' % tag
    bundle = os.path.join(work, 'bundles')
    control_dir = tempfile.mkdtemp(prefix='cp-', dir=work)
    env = dict(os.environ)
    env.update({'PATH': BIN + os.pathsep + env.get('PATH', ''), 'ANSIBLE_COLLECTIONS_PATH': tree_base,
                'ANSIBLE_FORKS': str(forks), 'ANSIBLE_PIPELINING': 'True', 'ANSIBLE_HOST_KEY_CHECKING': 'False',
                'ANSIBLE_SSH_CONTROL_PATH_DIR': control_dir, 'ANSIBLE_RETRY_FILES_ENABLED': '0',
                'ANSIBLE_NOCOLOR': '1'})
    extra = {'netdebug_incident_id': incident, 'netdebug_duration': duration, 'netdebug_bundle_dir': bundle,
             'netdebug_match': MATCH, 'netdebug_conntrack': False}
    if margin:
        extra['netdebug_ttl_margin'] = margin
    argv = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, 'netdebug.netfilter.capture', '-e',
            json.dumps(extra)]
    cpu_before, began, memory = controller_cpu(), time.monotonic(), MemorySampler()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=3600)
    wall = time.monotonic() - began
    cpu = controller_cpu() - cpu_before
    memory = memory.stop()
    close_masters(control_dir)
    if proc.returncode != 0:
        fatal = [line for line in (proc.stdout + proc.stderr).splitlines() if 'fatal:' in line or 'FAILED!' in line]
        return {'ok': False, 'problem': 'rc %d: %s' % (proc.returncode, '\n'.join(fatal[:3])[:3000]
                                                       or (proc.stdout + proc.stderr)[-3000:])}
    return dict(measure(os.path.join(bundle, incident)), wall=round(wall, 2), overhead=round(wall - duration, 2),
                controller_cpu=round(cpu, 2), **memory)


def measure(incident_dir):
    """Per host: the window it used (with its late seconds) and how many pings it traced."""
    with open(os.path.join(incident_dir, 'manifest.json'), encoding='utf-8') as fh:
        manifest = json.load(fh)
    with open(os.path.join(incident_dir, 'report.json'), encoding='utf-8') as fh:
        report = json.load(fh)
    counts, times = {}, {}
    for packet in report['packets']:
        counts[packet['host']] = counts.get(packet['host'], 0) + 1
        if packet.get('controller_ts') is not None:
            times.setdefault(packet['host'], []).append(packet['controller_ts'])
    hosts = {host: {'status': entry['status'], 'reason': entry.get('reason'), 'window': entry.get('window') or {},
                    'packets': counts.get(host, 0),
                    'first': min(times[host]) if times.get(host) else None,
                    'last': max(times[host]) if times.get(host) else None}
             for host, entry in manifest['hosts'].items()}
    reasons = sorted(set('%s: %s' % (h['status'], h['reason']) for h in hosts.values() if h['status'] != 'ok'))
    return {'ok': not reasons, 'hosts': hosts, 'problem': '; '.join(reasons[:3])[:2000] or None}


def judge(result, sent):
    """Start skew and coverage of one run (the windows are on the nodes' clocks, one clock in the netns lab); sent:
    per node (node1 first) the moments it received a ping."""
    hosts = result['hosts']
    began = [h['window']['start'] + h['window'].get('late', 0) for h in hosts.values() if h['window']]
    expected = {}
    for index, times in enumerate(sent):
        window = hosts.get('node%d' % (index + 1), {}).get('window') or {}
        if window:
            expected['node%d' % (index + 1)] = sum(1 for t in times if window['start'] <= t < window['end'])
    # one ping at each edge may fall either side of the kernel's second against the reply's time stamp
    off = {name: (h['packets'], expected.get(name)) for name, h in hosts.items()
           if expected.get(name) is None or abs(h['packets'] - expected[name]) > 1}
    firsts = [h['first'] for h in hosts.values() if h['first'] is not None]
    lasts = [h['last'] for h in hosts.values() if h['last'] is not None]
    start = min((h['window']['start'] for h in hosts.values() if h['window']), default=None)
    end = max((h['window']['end'] for h in hosts.values() if h['window']), default=None)
    return {'start_skew': (max(began) - min(began)) if len(began) == len(hosts) else None,
            'first_traced_skew': round(max(firsts) - min(firsts), 3) if len(firsts) == len(hosts) else None,
            'last_traced_skew': round(max(lasts) - min(lasts), 3) if len(lasts) == len(hosts) else None,
            'first_after_start': [round(min(firsts) - start, 3), round(max(firsts) - start, 3)] if firsts else None,
            'last_before_end': [round(end - max(lasts), 3), round(end - min(lasts), 3)] if lasts else None,
            'covered': not off, 'off': off,
            'expected_per_host': round(sum(expected.values()) / max(len(expected), 1), 1),
            'packets_min': min(h['packets'] for h in hosts.values()),
            'packets_max': max(h['packets'] for h in hosts.values()),
            'late_hosts': sorted(n for n, h in hosts.items() if h['window'].get('late'))}


def svg(runs, when):
    """Per case a band of lines, one per node: its first to last traced packet, in seconds from the window's start;
    the window drawn behind. Plain SVG, no plotting library."""
    cases = [r for r in runs if r.get('hosts')]
    width, left, right, band, top = 760, 120, 30, 120, 40
    height = top + band * max(len(cases), 1) + 40
    longest = max([r['duration'] for r in cases] + [1])
    lo, hi = -2.0, longest + 2.0

    def x(v):
        return left + (width - left - right) * (v - lo) / (hi - lo)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif"'
           ' font-size="12">' % (width, height, width, height), '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">Traced span of each node against the window (s from its start), %s'
           '</text>' % (left, when)]
    for index, run in enumerate(cases):
        y0 = top + band * index
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#e8f0fe"/>'
                   % (x(0), y0, x(run['duration']) - x(0), band - 20))
        out.append('<text x="%d" y="%d" text-anchor="end">forks %d, %d s</text>'
                   % (left - 8, y0 + band / 2, run['forks'], run['duration']))
        start = min(h['window']['start'] for h in run['hosts'].values() if h['window'])
        hosts = sorted(run['hosts'].items(), key=lambda item: int(item[0].replace('node', '') or 0))
        step = (band - 24) / max(len(hosts), 1)
        for row, (_name, host) in enumerate(hosts):
            if host['first'] is None:
                continue
            y = y0 + 2 + step * row
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1f77b4"/>'
                       % (x(host['first'] - start), y, x(host['last'] - start), y))
    for tick in range(0, int(hi) + 1, 5 if longest > 10 else 2):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (x(tick), height - 20, tick))
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--nodes', type=int, default=50, help='netns nodes (default 50)')
    parser.add_argument('--cases', default='5:10,50:10,2:30', help='FORKS:WINDOW_SECONDS,... (default 5:10,50:10,2:30)')
    parser.add_argument('--interval', type=float, default=0.1, help='ping interval per node, s (default 0.1)')
    parser.add_argument('--margin', type=int, help='netdebug_ttl_margin (default: the collection\'s, which grows with the check step): the '
                        'stop and collect of every host must come within it after the window')
    parser.add_argument('--json', default=os.path.join(HERE, 'results', 'window.json'))
    parser.add_argument('--svg', default=os.path.join(REPO, 'docs', 'window-span.svg'))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cases = [tuple(int(v) for v in case.split(':')) for case in args.cases.split(',')]
    work = tempfile.mkdtemp(prefix='ndwb-')  # short: SSH control socket paths are limited to 108 bytes
    tree_base = os.path.join(work, 'tree')
    subprocess.run([os.path.join(REPO, 'tools', 'collection-tree'), tree_base], check=True, capture_output=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    runs = []
    lab_up = None
    try:
        lab('down', '--kind', 'netns')
        began = time.monotonic()
        lab('up', '--kind', 'netns', '--nodes', str(args.nodes))
        lab_up = round(time.monotonic() - began, 1)
        try:
            inventory = lab('inventory', '--kind', 'netns').strip().splitlines()[-1]
            for forks, duration in cases:
                pingers = start_pingers(args.nodes, args.interval, work)
                load_before = load_average()
                try:
                    result = run_capture(tree_base, inventory, forks, duration, work, '%d-%d' % (forks, duration),
                                         args.margin)
                finally:
                    sent = stop_pingers(pingers)
                run = {'nodes': args.nodes, 'forks': forks, 'duration': duration, 'load_before': load_before,
                       'load_after': load_average()}
                run.update(result)
                if result.get('hosts'):
                    run.update(judge(result, sent))
                runs.append(run)
                sys.stdout.write('%d nodes, forks %d, window %d s: %s\n' % (args.nodes, forks, duration, json.dumps(
                    {k: run.get(k) for k in ('ok', 'start_skew', 'covered', 'packets_min', 'packets_max',
                                             'expected_per_host', 'late_hosts', 'overhead', 'controller_cpu',
                                             'first_traced_skew', 'last_traced_skew', 'machine_peak_mb',
                                             'controller_max_rss_mb', 'problem')})))
                sys.stdout.flush()
        finally:
            lab('down', '--kind', 'netns')
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as fh:
            json.dump({'date': started.strftime('%Y-%m-%dT%H:%M:%SZ'), 'machine': machine(), 'nodes': args.nodes,
                       'interval': args.interval, 'lab_up_seconds': lab_up, 'runs': runs}, fh, indent=1)
        if any(r.get('hosts') for r in runs):
            with open(args.svg, 'w', encoding='utf-8') as fh:
                fh.write(svg(runs, started.strftime('%Y-%m-%d')))
    print('| forks | window s | start skew s | first / last traced skew s | pings traced per node (expected) | whole '
          'window, nothing outside, on every node | late hosts | overhead s | controller CPU s per node |')
    print('| ---: | ---: | ---: | --- | --- | --- | ---: | ---: | ---: |')
    for run in runs:
        print('| %d | %d | %s | %s / %s | %s-%s (%s) | %s | %s | %s | %s |' % (
            run['forks'], run['duration'], run.get('start_skew'), run.get('first_traced_skew'),
            run.get('last_traced_skew'), run.get('packets_min'), run.get('packets_max'),
            run.get('expected_per_host'),
            'yes' if run.get('covered') else 'no: %s' % (run.get('off') or (run.get('problem') or '')[:200]),
            len(run.get('late_hosts') or []), run.get('overhead'),
            round(run['controller_cpu'] / args.nodes, 2) if run.get('controller_cpu') else None))
    print('lab up: %s s for %d nodes' % (lab_up, args.nodes))
    return 0 if all(r.get('ok') and r.get('covered') for r in runs) else 1


if __name__ == '__main__':
    sys.exit(main())
