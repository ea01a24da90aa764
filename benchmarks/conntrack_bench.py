# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""conntrack_query benchmark: tables of 200,000 and 1,000,000 entries made by real traffic, side by side with
conntrack(8) and pyroute2's own API (issue 6). Run as root from the repository:

    .venv/bin/python benchmarks/conntrack_bench.py [--sizes 200000,1000000] [--reps 3] [--markdown FILE]

Builds a client and a node namespace (tests/integration/conntrack_flows.py). The client sends one UDP datagram
per flow to the node: flows = source ports x 100 node addresses x 100 destination ports, so every destination
port carries exactly 1% of the table. Unreplied UDP entries live an hour (per-namespace timeout).

net.netfilter.nf_conntrack_max is global (writable only in the initial namespace) and the kernel compares it with
each namespace's own count: when the largest table does not fit, the benchmark raises it, and puts back the value
it read, exactly, after the namespaces (and their entries) are gone - also on errors and Ctrl-C.

Every measurement is a separate process, timed from outside (wall clock, and CPU time of the process and its
children); each is repeated --reps times, interleaved, and the median is reported. The machine is shared, so the
load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))

import conntrack_flows as F  # noqa: E402  pylint: disable=wrong-import-position

PY = sys.executable
MAX_SYSCTL = '/proc/sys/net/netfilter/nf_conntrack_max'
PORT = 10042  # a destination port carrying exactly 1% of the flows
DPORTS = list(range(10000, 10100))
SPORT0 = 20000

# Reports when run() returned (CLOCK_MONOTONIC is system-wide, so the parent subtracts its start time) and the
# CPU used until then; then leaves without tearing down a million dicts, which is not part of returning them.
ENTRY_POINT = r'''
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import layout, query
if sys.argv[3] == 'walk':  # "before": every message through the attribute walk, no cached layouts
    layout.FastDecoder._learn = lambda *args: None
result = query.run(json.loads(sys.argv[2]))
returned = time.monotonic()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({'matched': result.get('matched'), 'returned': len(result.get('entries', [])),
                  'returned_at': returned, 'cpu_at_return': usage.ru_utime + usage.ru_stime,
                  'maxrss_kb': usage.ru_maxrss}), flush=True)
os._exit(0)
'''

PYROUTE2 = r'''
import json, os, resource, sys
from pyroute2 import netns
fd = os.open(sys.argv[1], os.O_RDONLY)
netns.setns(fd, flags=0)
mode = sys.argv[2]
from pyroute2 import Conntrack
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple, NFCTSocket
if mode == 'NFCTSocket.dump':
    count = sum(1 for _msg in NFCTSocket().dump())
elif mode == 'Conntrack.dump_entries':
    count = sum(1 for _entry in Conntrack().dump_entries())
elif mode == 'Conntrack.dump_entries(filter)':
    count = sum(1 for _entry in Conntrack().dump_entries(tuple_orig=NFCTAttrTuple(proto=17, dport=int(sys.argv[3]))))
else:
    count = Conntrack().count()
print(json.dumps({'matched': count, 'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''


def collection_root():
    """A directory holding ansible_collections/netdebug/netfilter -> this repository."""
    root = tempfile.mkdtemp(prefix='ndctbench-')
    os.makedirs(os.path.join(root, 'ansible_collections', 'netdebug'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'netdebug', 'netfilter'))
    return root


def timed(argv, stdout=subprocess.PIPE, env=None, timeout=3600):
    """Run argv; returns (wall seconds, CPU seconds of it and its children, CompletedProcess)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=timeout, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(argv), proc.stderr.decode(errors='replace')[-2000:]))
    return wall, cpu, proc


class Bench:
    def __init__(self, lab, reps, root):
        self.lab = lab
        self.reps = reps
        self.root = root
        self.ns = lab.node.name
        self.rows = []
        self.mismatches = []  # contenders of one task that disagreed on the number of entries
        self.inventory = os.path.join(root, 'hosts.json')
        with open(self.inventory, 'w') as handle:
            json.dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                       'ansible_python_interpreter': PY}}}}, handle)

    # -- the contenders -----------------------------------------------------------------------------------------

    def conntrack(self, args, out='/dev/null'):
        with open(out, 'w') as handle:
            wall, cpu, _proc = timed(['ip', 'netns', 'exec', self.ns, 'conntrack'] + args, stdout=handle)
        if args[0] == '-C':
            matched = F.conntrack_count(self.lab.node_exec)
        else:
            with open(out) as handle:
                matched = sum(1 for _line in handle)
        return wall, cpu, {'matched': matched}

    def entry_point(self, params, mode='layout'):
        """Wall and CPU until run() returned (process start included); the whole process is in the facts."""
        params = dict(params, netns=self.ns)
        start = time.monotonic()
        wall, cpu, proc = timed([PY, '-c', ENTRY_POINT, self.root, json.dumps(params), mode])
        info = json.loads(proc.stdout)
        info['process_wall'] = round(wall, 3)
        info['process_cpu'] = round(cpu, 3)
        return info.pop('returned_at') - start, info.pop('cpu_at_return'), info

    def pyroute2(self, mode):
        wall, cpu, proc = timed([PY, '-c', PYROUTE2, self.lab.node.path, mode, str(PORT)])
        return wall, cpu, json.loads(proc.stdout)

    def ansible(self, module, args):
        """An ad-hoc run; the result comes from the integration tests' recording callback (both contenders)."""
        results = os.path.join(self.root, 'results.jsonl')
        if os.path.exists(results):
            os.unlink(results)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=self.root, ANSIBLE_NOCOLOR='1',
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, 'tests', 'integration', 'callback_plugins'),
                   ANSIBLE_LOAD_CALLBACK_PLUGINS='1', NETDEBUG_RESULTS_FILE=results,
                   PATH=os.path.dirname(PY) + ':' + os.environ['PATH'])
        wall, cpu, _proc = timed([os.path.join(os.path.dirname(PY), 'ansible'), 'localhost', '-i', self.inventory,
                                  '-m', module, '-a', args], env=env)
        with open(results) as handle:
            payload = json.loads(handle.readline())['result']
        if module == 'ansible.builtin.command':
            return wall, cpu, {'matched': len(payload['stdout'].splitlines())}
        return wall, cpu, {'matched': payload['matched'], 'returned': len(payload['entries'])}

    # -- measuring ----------------------------------------------------------------------------------------------

    def compare(self, size, task, contenders, reps=None):
        """Run each contender reps times, interleaved; record the medians."""
        samples = dict((name, []) for name, _fn in contenders)
        facts = {}
        for _rep in range(reps or self.reps):
            for name, func in contenders:
                wall, cpu, info = func()
                samples[name].append((wall, cpu))
                facts[name] = info
        if len(set(info['matched'] for info in facts.values())) > 1:
            self.mismatches.append('%d %s: %s' % (size, task, ', '.join(
                '%s matched %s' % (name, info['matched']) for name, info in facts.items())))
        for name, _fn in contenders:
            walls = [w for w, _c in samples[name]]
            cpus = [c for _w, c in samples[name]]
            row = {'size': size, 'task': task, 'tool': name, 'wall': statistics.median(walls),
                   'cpu': statistics.median(cpus), 'runs': len(walls), 'load': os.getloadavg()[0]}
            row.update(facts[name])
            self.rows.append(row)
            print(json.dumps(row), flush=True)

    def run_size(self, size, full_pyroute2, any_pyroute2_full=True):
        list_all = {'operation': 'list', 'limit': 0}
        one_pct = {'operation': 'list', 'limit': 0, 'protocol': 'udp', 'destination_port': PORT}
        self.compare(size, 'full dump', [
            ('conntrack -L > file', lambda: self.conntrack(['-L'], out='/tmp/ndctbench-L.txt')),
            ('entry point (layouts)', lambda: self.entry_point(list_all)),
            ('entry point (attribute walk only)', lambda: self.entry_point(list_all, 'walk')),
        ])
        pyroute2_full = [('pyroute2 NFCTSocket().dump()', lambda: self.pyroute2('NFCTSocket.dump'))]
        if full_pyroute2:
            pyroute2_full.append(('pyroute2 Conntrack().dump_entries()',
                                  lambda: self.pyroute2('Conntrack.dump_entries')))
        if any_pyroute2_full:
            self.compare(size, 'full dump', pyroute2_full, reps=1)
        self.compare(size, '1%% filter (udp dport %d)' % PORT, [
            ('conntrack -L -p udp --dport > file',
             lambda: self.conntrack(['-L', '-p', 'udp', '--dport', str(PORT)], out='/tmp/ndctbench-f.txt')),
            ('entry point', lambda: self.entry_point(one_pct)),
            ('pyroute2 Conntrack().dump_entries(tuple_orig=...)',
             lambda: self.pyroute2('Conntrack.dump_entries(filter)')),
        ])
        self.compare(size, 'count', [
            ('conntrack -C', lambda: self.conntrack(['-C'])),
            ('entry point', lambda: self.entry_point({'operation': 'count'})),
            ('pyroute2 Conntrack().count()', lambda: self.pyroute2('count')),
        ])
        self.compare(size, 'count, every entry decoded (protocol udp)', [
            ('entry point', lambda: self.entry_point({'operation': 'count', 'protocol': 'udp'})),
            ('entry point, source network (Python-only filter)',
             lambda: self.entry_point({'operation': 'count', 'source': '198.18.210.0/24'})),
        ])
        self.compare(size, '1% filter through Ansible', [
            ('ansible -m command -a "conntrack -L -p udp --dport"',
             lambda: self.ansible('ansible.builtin.command',
                                  'ip netns exec %s conntrack -L -p udp --dport %d' % (self.ns, PORT))),
            ('ansible -m netdebug.netfilter.conntrack_query',
             lambda: self.ansible('netdebug.netfilter.conntrack_query',
                                  json.dumps({'netns': self.ns, 'protocol': 'udp', 'destination_port': PORT}))),
        ])


def fill(lab, want, have):
    """Grow the node's table from `have` to `want` flows (multiples of 10,000) with real datagrams."""
    per_sport = 100 * len(DPORTS)
    first = SPORT0 + have // per_sport
    last = SPORT0 + want // per_sport
    start = time.monotonic()
    sent = lab.flood(list(range(first, last)), F.extra_addresses(100), DPORTS)
    return sent, time.monotonic() - start


def machine_facts():
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.splitlines()[0]
        except (OSError, IndexError):
            return '?'
    cpu = '?'
    with open('/proc/cpuinfo') as handle:
        for line in handle:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    import pyroute2  # pylint: disable=import-outside-toplevel
    return {'date': datetime.date.today().isoformat(), 'kernel': platform.release(), 'cpu': cpu,
            'cpus': os.cpu_count(), 'python': platform.python_version(), 'pyroute2': pyroute2.__version__,
            'conntrack': first_line(['conntrack', '--version']), 'memory_gb': round(
                os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30)}


def _row(results, size, task, tool_prefix):
    for row in results['rows']:
        if row['size'] == size and row['task'].startswith(task) and row['tool'].startswith(tool_prefix):
            return row
    return None


def _targets(results):
    """Lines checking the issue's targets on the largest table of one results file."""
    size = max(row['size'] for row in results['rows'])
    lines = []
    ours = _row(results, size, 'full dump', 'entry point (layouts)')
    theirs = _row(results, size, 'full dump', 'conntrack -L')
    if ours and theirs:
        lines.append('- full dump of %d entries, entry point vs `conntrack -L > file`: %.2fx wall, %.2fx CPU '
                     '(target at most 2x)' % (size, ours['wall'] / theirs['wall'], ours['cpu'] / theirs['cpu']))
    ours = _row(results, size, '1% filter through Ansible', 'ansible -m netdebug')
    theirs = _row(results, size, '1% filter through Ansible', 'ansible -m command')
    if ours and theirs:
        lines.append('- 1%% filter through Ansible: %.2fx wall, %.2fx CPU of `ansible -m command -a "conntrack -L '
                     '<filter>"` (target at most 1.5x); `matched` %d, conntrack listed %d'
                     % (ours['wall'] / theirs['wall'], ours['cpu'] / theirs['cpu'], ours['matched'],
                        theirs['matched']))
    counts = [row for row in results['rows'] if row['size'] == size and row['task'].startswith('count, every')]
    if counts:
        lines.append('- peak memory counting %d entries (every entry decoded): %s MB (target under 100 MB)'
                     % (size, ', '.join('%d' % (row['maxrss_kb'] / 1024) for row in counts)))
    return lines


def _table(results):
    lines = ['| entries | task | tool | wall s | CPU s | matched | peak RSS MB | load |',
             '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |']
    for row in results['rows']:
        rss = '%d' % (row['maxrss_kb'] / 1024) if 'maxrss_kb' in row else ''
        lines.append('| %d | %s | %s | %.2f | %.2f | %d | %s | %.1f |' % (
            row['size'], row['task'], row['tool'].replace('|', '\\|'), row['wall'], row['cpu'], row['matched'], rss,
            row['load']))
    return lines


def render(all_results):
    """The docs/benchmarks.md section for one or more results files (markdown)."""
    facts = all_results[0]['facts']
    lines = ['## conntrack_query', '',
             'Measured %s with `benchmarks/conntrack_bench.py` on %s (%d CPUs, %d GB), kernel %s, Python %s, '
             'pyroute2 %s, %s. The machine was shared with other jobs (load average in the tables), so CPU seconds '
             '(process and children, kernel time included) are the fairer comparison; wall seconds are shown too. '
             'Medians of interleaved runs (the runs per row are in the results JSON; pyroute2 full dumps ran once).'
             % (facts['date'], facts['cpu'], facts['cpus'], facts['memory_gb'], facts['kernel'], facts['python'],
                facts['pyroute2'], facts['conntrack']), '',
             'Tables were made by real traffic: one UDP datagram per flow from a client namespace to a node namespace '
             '(source ports x 100 node addresses x 100 destination ports, so each destination port carries 1%). '
             '`net.netfilter.nf_conntrack_max` (global) was raised for the run and put back exactly; the values are '
             'below.', '',
             '"entry point" is `query.run()`, the module\'s Python entry point, in a fresh process: times run from '
             'process start until `run()` returned its result (interpreter start and imports included; the teardown '
             'of a million dicts afterwards is not). "attribute walk only" is the same with the layout cache '
             'disabled - the decoder before the layout cache. pyroute2 rows use its own API.', '',
             'Reading the tables: the 1% filter is faster through the module than through conntrack(8) because the '
             'module has the kernel filter the dump (CTA_FILTER) while conntrack 1.4.7 filters in user space after '
             'a full dump. A count without filters is the kernel\'s own counter; "count, every entry decoded" '
             'streams the whole table through the decoder (the kernel filter on protocol matches everything, or the '
             'source network filter runs in Python only) and shows that memory stays flat.']
    for results in all_results:
        mode = 'on' if results.get('accounting') else 'off (the kernel default)'
        fills = ', '.join('%d entries in %.1f s' % (f['count'], f['seconds']) for f in results['fills'])
        limits = results['nf_conntrack_max']
        lines += ['', '### Accounting and timestamps %s' % mode, '',
                  'Filled %s; nf_conntrack_max %s before, %s during, %s after.'
                  % (fills, limits['original'], limits.get('during') or 'unchanged', limits['after']), '']
        lines += _targets(results) + [''] + _table(results)
    return '\n'.join(lines) + '\n'


def update_docs(path, section):
    """Replace (or append) the '## conntrack_query' section of docs/benchmarks.md, leaving other sections alone."""
    text = ''
    if os.path.exists(path):
        with open(path) as handle:
            text = handle.read()
    if not text:
        text = '# Benchmarks\n\nMeasurements behind the performance targets of the issues, one section per area.\n'
    lines = text.splitlines(True)
    start = next((i for i, line in enumerate(lines) if line.strip() == '## conntrack_query'), None)
    if start is None:
        text = text.rstrip('\n') + '\n\n' + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('## ')), len(lines))
        tail = ''.join(lines[end:])
        text = ''.join(lines[:start]) + section + ('\n' + tail if tail else '')
    with open(path, 'w') as handle:
        handle.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='200000,1000000')
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--json', default=os.path.join(REPO, 'benchmarks', 'results', 'conntrack.json'))
    parser.add_argument('--no-pyroute2-full', action='store_true', help='skip pyroute2\'s (slow) full dumps')
    parser.add_argument('--acct', action='store_true',
                        help='turn on conntrack accounting and timestamps in the node (kernel default: off)')
    parser.add_argument('--render', metavar='RESULTS_JSON', nargs='+',
                        help='print the docs section of results files and exit')
    parser.add_argument('--write-docs', metavar='RESULTS_JSON', nargs='+',
                        help='put the section of a results file into docs/benchmarks.md (only that section) and exit')
    args = parser.parse_args()
    if args.render or args.write_docs:
        files = args.render or args.write_docs
        section = render([json.load(open(name)) for name in files])
        if args.render:
            print(section, end='')
        else:
            update_docs(os.path.join(REPO, 'docs', 'benchmarks.md'), section)
        return
    sizes = sorted(int(s) for s in args.sizes.split(','))
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))  # run the finally blocks

    with open(MAX_SYSCTL) as handle:
        original_max = handle.read().strip()
    lab = F.FlowLab('ndctbench')
    raised = False
    facts = machine_facts()
    results = {'facts': facts, 'rows': [], 'fills': []}
    try:
        if int(original_max) < sizes[-1] + 50000:
            with open(MAX_SYSCTL, 'w') as handle:
                handle.write(str(sizes[-1] + 50000))
            raised = True
        results['nf_conntrack_max'] = {'original': int(original_max), 'during': sizes[-1] + 50000 if raised else None}
        lab.down()
        flags = '1' if args.acct else '0'
        lab.up(extra_node_addrs=F.extra_addresses(100), sysctls={'net.netfilter.nf_conntrack_acct': flags,
                                                                 'net.netfilter.nf_conntrack_timestamp': flags})
        results['accounting'] = bool(args.acct)
        bench = Bench(lab, args.reps, collection_root())
        have = 0
        for size in sizes:
            sent, seconds = fill(lab, size, have)
            have = size
            count = F.conntrack_count(lab.node_exec)
            results['fills'].append({'size': size, 'sent': sent, 'seconds': round(seconds, 1), 'count': count})
            print(json.dumps(results['fills'][-1]), flush=True)
            bench.run_size(count, full_pyroute2=size <= 200000, any_pyroute2_full=not args.no_pyroute2_full)
        results['rows'] = bench.rows
        results['mismatches'] = bench.mismatches
    finally:
        lab.down()
        if raised:
            with open(MAX_SYSCTL, 'w') as handle:
                handle.write(original_max)
        with open(MAX_SYSCTL) as handle:
            restored = handle.read().strip()
        results.setdefault('nf_conntrack_max', {})['after'] = int(restored)
        if restored != original_max:
            print('WARNING: nf_conntrack_max is %s, was %s' % (restored, original_max), file=sys.stderr)
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, 'w') as handle:
            json.dump(results, handle, indent=1)
        print('results in %s' % args.json)
    if results.get('mismatches'):
        sys.exit('contenders disagreed: %s' % '; '.join(results['mismatches']))


if __name__ == '__main__':
    main()
