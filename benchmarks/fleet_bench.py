# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark (issue 9): overhead of the capture playbook against a naive builtin-module playbook.

Run as root from the repository, holding the lab lock (the netns lab has fixed names):

    flock /run/lock/netdebug-lab.lock .venv/bin/python benchmarks/fleet_bench.py \
        [--sizes 1,10,25,50] [--reps 2] [--duration 5] [--forks 50]

For each size the netns lab is brought up with that many nodes (tests/lab/lab up --kind netns --nodes N) and
taken down afterwards. On the same inventory, with the same forks, SSH settings and pipelining, the benchmark runs
`netdebug.netfilter.capture` and benchmarks/fleet_baseline.yml (the same job written by hand with builtin modules,
one task per step), interleaved, --reps times each. Overhead = wall time of ansible-playbook minus
netdebug_duration. Each run starts with cold SSH connections (its own ControlPath directory, masters closed after
the run), so neither contender reuses the other's connections. A run counts only if it did the job: the capture's
manifest says every host is ok, the baseline fetched every file from every host.

Writes benchmarks/results/fleet.json (every run, with per-task wall times from
benchmarks/callback_plugins/netdebug_task_timer.py), docs/fleet-overhead.svg, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LAB = os.path.join(REPO, 'tests', 'lab', 'lab')
BASELINE = os.path.join(HERE, 'fleet_baseline.yml')
BASELINE_FILES = ('xtables-monitor.trace', 'iptables.save', 'nft.ruleset', 'kernel.log')
MATCH = {'protocol': 'icmp', 'source': '198.18.0.1'}
# capture-quiet: the capture with netdebug_progress false, to measure what the window's progress lines cost
CONTENDERS = ('capture', 'capture-quiet', 'baseline')
BIN = os.path.dirname(sys.executable)  # the venv's ansible-playbook, whatever PATH says


def lab(*args):
    proc = subprocess.run([sys.executable, LAB] + list(args), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit('lab %s failed: %s%s' % (' '.join(args), proc.stdout, proc.stderr))
    return proc.stdout


def controller_cpu():
    """CPU seconds of the finished children: ansible-playbook, its workers, local modules and ssh clients (the
    nodes' sshd and modules run outside this process tree)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu():
    """Busy CPU seconds of the whole machine so far (controller, the nodes' sshd and modules, everything else):
    /proc/stat user + nice + system + irq + softirq + steal, in clock ticks."""
    with open('/proc/stat', encoding='ascii') as fh:
        fields = [int(v) for v in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf('SC_CLK_TCK')


def load_average():
    return round(os.getloadavg()[0], 2)


def close_masters(control_dir):
    """End the SSH connection masters this run left (ControlPersist), so the next run starts cold."""
    for sock in glob.glob(os.path.join(control_dir, '*')):
        subprocess.run(['ssh', '-o', 'ControlPath=' + sock, '-O', 'exit', 'lab'], capture_output=True, check=False,
                       timeout=30)


def run_playbook(contender, tree_base, inventory, nodes, duration, forks, work, tag):
    incident = 'fleet-%d-%s' % (nodes, tag)
    bundle = os.path.join(work, 'bundles')
    control_dir = tempfile.mkdtemp(prefix='cp-', dir=work)
    timer_file = os.path.join(work, '%s.timer.json' % incident)
    env = dict(os.environ)
    env.update({
        'PATH': BIN + os.pathsep + env.get('PATH', ''),
        'ANSIBLE_COLLECTIONS_PATH': tree_base,
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
        'ANSIBLE_FORKS': str(forks),
        'ANSIBLE_PIPELINING': 'True',
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_SSH_CONTROL_PATH_DIR': control_dir,
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_NOCOLOR': '1',
        'NETDEBUG_TIMER_FILE': timer_file,
    })
    extra = {'netdebug_incident_id': incident, 'netdebug_duration': duration, 'netdebug_bundle_dir': bundle,
             'netdebug_match': MATCH}
    if contender == 'capture-quiet':
        extra['netdebug_progress'] = False
    playbook = 'netdebug.netfilter.capture' if contender.startswith('capture') else BASELINE
    argv = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, playbook, '-e', json.dumps(extra)]
    load_before = load_average()
    cpu_before = controller_cpu()
    machine_before = machine_cpu()
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=3600)
    wall = time.monotonic() - start
    cpu = controller_cpu() - cpu_before
    busy = machine_cpu() - machine_before
    close_masters(control_dir)
    problem = None
    if proc.returncode != 0:
        problem = 'rc %d: %s' % (proc.returncode, (proc.stdout + proc.stderr)[-3000:])
    else:
        problem = check_result(contender, bundle, incident, nodes)
    with open(timer_file, encoding='utf-8') as fh:
        tasks = json.load(fh)
    return {'contender': contender, 'nodes': nodes, 'incident': incident, 'wall': round(wall, 2),
            'overhead': round(wall - duration, 2), 'controller_cpu': round(cpu, 2),
            'machine_cpu': round(busy, 2), 'cores_busy': round(busy / wall, 2), 'ok': problem is None, 'problem': problem,
            'load_before': load_before, 'load_after': load_average(), 'tasks': tasks}


def check_result(contender, bundle, incident, nodes):
    """None when the run did its job on every node, else what is missing."""
    hosts = ['node%d' % i for i in range(1, nodes + 1)]
    if contender.startswith('capture'):
        with open(os.path.join(bundle, incident, 'manifest.json'), encoding='utf-8') as fh:
            manifest = json.load(fh)
        bad = {h: (manifest['hosts'].get(h) or {}).get('status') for h in hosts}
        bad = {h: s for h, s in bad.items() if s != 'ok'}
        return ('manifest: %s' % bad) if bad else None
    missing = [os.path.join(h, f) for h in hosts for f in BASELINE_FILES
               if not os.path.isfile(os.path.join(bundle, incident + '-baseline', h, f))]
    return ('missing: %s' % missing[:10]) if missing else None


def task_profile(runs, contender, nodes, top=12):
    """Median wall seconds per task name over the successful runs of one contender and size, largest first."""
    per_task = {}
    for run in runs:
        if run['contender'] == contender and run['nodes'] == nodes:
            totals = {}
            for task in run['tasks']:
                key = '%s | %s' % (task['play'], task['task'])
                totals[key] = totals.get(key, 0.0) + (task['seconds'] or 0.0)
            for key, seconds in totals.items():
                per_task.setdefault(key, []).append(seconds)
    ranked = sorted(((statistics.median(v), k) for k, v in per_task.items()), reverse=True)
    return [{'task': k, 'seconds': round(s, 2)} for s, k in ranked[:top]]


def summarise(runs, sizes):
    rows = []
    for nodes in sizes:
        row = {'nodes': nodes}
        for contender in CONTENDERS:
            good = [r['overhead'] for r in runs if r['nodes'] == nodes and r['contender'] == contender and r['ok']]
            row[contender] = round(statistics.median(good), 2) if good else None
            row[contender + '_runs'] = good
            for key in ('controller_cpu', 'cores_busy'):
                values = [r.get(key) for r in runs if r['nodes'] == nodes and r['contender'] == contender and r['ok']
                          and r.get(key) is not None]
                row[contender + '_' + key] = round(statistics.median(values), 2) if values else None
        both = row['capture'] is not None and row['baseline']
        row['ratio'] = round(row['capture'] / row['baseline'], 2) if both else None
        rows.append(row)
    return rows


def verdict(rows):
    """The targets at the largest size: issue 9's (at most half the baseline's overhead, growing sublinearly) and
    issue 17's (at most 0.3 times the baseline, at most 0.4 s of controller CPU per node, and progress lines
    costing at most 10% of the capture's overhead: capture against capture-quiet)."""
    last = rows[-1]
    ratio = last['ratio']
    growth = [(b['capture'] / a['capture']) / (b['nodes'] / a['nodes'])
              for a, b in zip(rows, rows[1:]) if a['capture'] and b['capture']]
    cpu = last.get('capture_controller_cpu')
    per_node = round(cpu / last['nodes'], 2) if cpu is not None else None
    progress = (round(last['capture'] / last['capture-quiet'] - 1, 3)
                if last['capture'] is not None and last['capture-quiet'] else None)
    return {'ratio_at_%d' % last['nodes']: ratio, 'half_of_baseline': ratio is not None and ratio <= 0.5,
            'sublinear': bool(growth) and all(g < 1 for g in growth),
            'growth_per_node_ratio': [round(g, 2) for g in growth],
            'ratio_at_most_0.3': ratio is not None and ratio <= 0.3,
            'controller_cpu_per_node': per_node, 'cpu_per_node_at_most_0.4': per_node is not None and per_node <= 0.4,
            'progress_overhead_share': progress,
            'progress_at_most_10_percent': None if progress is None else progress <= 0.1}


def markdown(rows):
    lines = ['| nodes | capture overhead s | progress off s | baseline overhead s | capture / baseline | controller CPU '
             's (capture; progress off; baseline) | cores busy (capture; baseline) | runs (capture; progress off; '
             'baseline) |',
             '| ---: | ---: | ---: | ---: | ---: | --- | --- | --- |']
    for row in rows:
        lines.append('| %d | %s | %s | %s | %s | %s; %s; %s | %s; %s | %s; %s; %s |' % (
            row['nodes'], fmt(row['capture']), fmt(row['capture-quiet']), fmt(row['baseline']), fmt(row['ratio']),
            fmt(row['capture_controller_cpu']), fmt(row['capture-quiet_controller_cpu']),
            fmt(row['baseline_controller_cpu']),
            fmt(row.get('capture_cores_busy')), fmt(row.get('baseline_cores_busy')),
            ', '.join(fmt(v) for v in row['capture_runs']) or '-',
            ', '.join(fmt(v) for v in row['capture-quiet_runs']) or '-',
            ', '.join(fmt(v) for v in row['baseline_runs']) or '-'))
    return '\n'.join(lines)


def fmt(value):
    return '-' if value is None else '%.1f' % value if value >= 1 else '%.2f' % value


def svg(rows, duration, when):
    """Overhead against nodes, one line per contender; plain SVG, no plotting library."""
    width, height, left, right, top, bottom = 720, 400, 60, 200, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    xmax = max(r['nodes'] for r in rows)
    values = [r[c] for r in rows for c in CONTENDERS if r[c] is not None]
    ymax = max(values + [1.0])
    step = nice_step(ymax / 5)
    ymax = step * (int(ymax / step) + 1)

    def x(v):
        return left + plot_w * v / xmax

    def y(v):
        return top + plot_h * (1 - v / ymax)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">Fleet capture overhead (wall time minus %d s window), %s</text>'
           % (left, duration, when)]
    tick = 0.0
    while tick <= ymax + 1e-9:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, y(tick), left + plot_w, y(tick)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (left - 6, y(tick) + 4, tick))
        tick += step
    for row in rows:
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'
                   % (x(row['nodes']), top + plot_h + 18, row['nodes']))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>'
               % (left, top + plot_h, left + plot_w, top + plot_h))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, top, left, top + plot_h))
    out.append('<text x="%d" y="%d" text-anchor="middle">netns nodes</text>' % (left + plot_w / 2, height - 10))
    out.append('<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">overhead, s (median)</text>'
               % (top + plot_h / 2))
    colours = {'capture': '#1f77b4', 'capture-quiet': '#2ca02c', 'baseline': '#d62728'}
    labels = {'capture': 'netdebug.netfilter.capture', 'capture-quiet': 'capture, netdebug_progress false',
              'baseline': 'builtin-module baseline'}
    for index, contender in enumerate(CONTENDERS):
        points = [(x(r['nodes']), y(r[contender])) for r in rows if r[contender] is not None]
        colour = colours[contender]
        if points:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                       % (colour, ' '.join('%.1f,%.1f' % p for p in points)))
            out.extend('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (px, py, colour) for px, py in points)
        ly = top + 20 + 22 * index
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (left + plot_w + 10, ly, left + plot_w + 30, ly, colour))
        out.append('<text x="%d" y="%d" font-size="11">%s</text>' % (left + plot_w + 34, ly + 4, labels[contender]))
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def nice_step(raw):
    magnitude = 10 ** len(str(int(max(raw, 1)))) / 10
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--sizes', default='1,10,25,50', help='netns node counts (default 1,10,25,50)')
    parser.add_argument('--reps', type=int, default=2, help='runs per contender and size (median reported)')
    parser.add_argument('--duration', type=int, default=5, help='netdebug_duration in seconds (default 5)')
    parser.add_argument('--forks', type=int, default=50, help='Ansible forks for both contenders (default 50)')
    parser.add_argument('--contenders', default='capture,baseline',
                        help='capture,baseline (default), capture-quiet (progress off) as well or instead')
    parser.add_argument('--rev', help='measure the capture of this git revision (default: the working tree)')
    parser.add_argument('--tree', help='a directory holding ansible_collections/netdebug/netfilter to measure '
                        '(default: a copy of the working tree)')
    parser.add_argument('--stop-on-failure', action='store_true', help='stop at the first run that fails')
    parser.add_argument('--json', default=os.path.join(HERE, 'results', 'fleet.json'))
    parser.add_argument('--svg', default=os.path.join(REPO, 'docs', 'fleet-overhead.svg'))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # timeout(1) and Ctrl-C: unwind, so the lab goes down and the sizes measured so far are kept.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(s) for s in args.sizes.split(',')]
    work = tempfile.mkdtemp(prefix='ndfb-')  # short: SSH control socket paths are limited to 107 bytes
    tree_base = os.path.join(work, 'tree')
    if args.tree:
        tree_base = os.path.abspath(args.tree)
    elif args.rev:
        tree = os.path.join(tree_base, 'ansible_collections', 'netdebug', 'netfilter')
        os.makedirs(tree)
        archive = subprocess.run(['git', '-C', REPO, 'archive', args.rev], check=True, capture_output=True).stdout
        subprocess.run(['tar', '-x', '-C', tree], input=archive, check=True)
    else:
        subprocess.run([os.path.join(REPO, 'tools', 'collection-tree'), tree_base], check=True, capture_output=True)
    contenders = tuple(args.contenders.split(','))
    started = datetime.datetime.now(datetime.timezone.utc)
    runs = []
    try:
        for nodes in sizes:
            lab('down', '--kind', 'netns')
            lab('up', '--kind', 'netns', '--nodes', str(nodes))
            try:
                inventory = lab('inventory', '--kind', 'netns').strip().splitlines()[-1]
                for rep in range(args.reps):
                    # Alternate who goes first, so neither always runs on a machine the other just warmed or loaded.
                    order = contenders if rep % 2 == 0 else contenders[::-1]
                    for contender in order:
                        run = run_playbook(contender, tree_base, inventory, nodes, args.duration,
                                           min(args.forks, max(nodes, 1)), work, '%s-%d' % (contender, rep))
                        runs.append(run)
                        sys.stdout.write('%2d nodes  %-8s  wall %6.1f s  overhead %6.1f s  controller CPU %6.1f s  '
                                         'cores busy %4.2f  %s\n'
                                         % (nodes, contender, run['wall'], run['overhead'], run['controller_cpu'],
                                            run['cores_busy'],
                                            'ok' if run['ok'] else run['problem']))
                        sys.stdout.flush()
                        if args.stop_on_failure and not run['ok']:
                            raise SystemExit('stopped: %s at %d nodes failed' % (contender, nodes))
            finally:
                lab('down', '--kind', 'netns')
            write_outputs(args, runs, sizes, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = write_outputs(args, runs, sizes, started)
    print(markdown(result['rows']))
    print('\nverdict: %s' % json.dumps(result['verdict']))
    for contender in contenders:
        print('\nslowest tasks, %s at %d nodes (median s):' % (contender, sizes[-1]))
        for item in result['profile'][contender]:
            print('  %7.2f  %s' % (item['seconds'], item['task']))
    return 0 if all(r['ok'] for r in runs) else 1


def write_outputs(args, runs, sizes, started):
    """Results of the sizes measured so far (written after each size, so a stopped run keeps what it measured)."""
    sizes = [n for n in sizes if any(r['nodes'] == n for r in runs)]
    rows = summarise(runs, sizes)
    result = {
        'date': started.strftime('%Y-%m-%dT%H:%M:%SZ'), 'machine': machine(), 'duration': args.duration,
        'forks': args.forks, 'reps': args.reps, 'rev': args.rev, 'match': MATCH, 'rows': rows,
        'verdict': verdict(rows) if rows else None,
        'profile': {c: task_profile(runs, c, sizes[-1]) for c in CONTENDERS} if sizes else {}, 'runs': runs,
    }
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, 'w', encoding='utf-8') as fh:
        json.dump(result, fh, indent=1)
    if rows:
        with open(args.svg, 'w', encoding='utf-8') as fh:
            fh.write(svg(rows, args.duration, started.strftime('%Y-%m-%d')))
    return result


def machine():
    model = ''
    try:
        with open('/proc/cpuinfo', encoding='ascii', errors='replace') as fh:
            model = next((line.split(':', 1)[1].strip() for line in fh if line.startswith('model name')), '')
    except OSError:
        pass
    with open('/proc/meminfo', encoding='ascii') as fh:
        mem_kb = int(fh.readline().split()[1])
    ansible = subprocess.run([os.path.join(BIN, 'ansible'), '--version'], capture_output=True, text=True, check=False).stdout
    return {'cpus': os.cpu_count(), 'cpu': model, 'mem_gb': round(mem_kb / 1048576, 1),
            'kernel': platform.release(), 'python': platform.python_version(),
            'ansible': ansible.splitlines()[0] if ansible else None}


if __name__ == '__main__':
    sys.exit(main())
