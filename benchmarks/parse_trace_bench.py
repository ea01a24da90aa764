# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of parse_trace and trace_report on real recorded TRACE lines (results: docs/benchmarks.md).

  benchmarks/parse_trace_bench.py [--lines N] [--json FILE] [--mixed] [--skip-parse] [--skip-report]
                                  [--baseline REV] [--runs K]

1. parse: the recorded legacy kernel lines (tests/unit/fixtures/trace/legacy/*/trace/dmesg.log, dmesg form),
   replicated to N lines. Every copy is renumbered (IP id, ICMP id, ports, TCP sequence and time stamps moved on)
   so that each copy is a new packet, as in a real capture - the parser's small cache of recent field texts then
   helps only where a real capture lets it (the lines of one packet). Measured on one core (CPU affinity 1) as a
   stream of events (iter_events, what trace_report consumes), once more with that cache disabled, and as the
   parse_trace() list that the filter returns (100,000 lines per call). Best and median of three runs, in wall
   seconds and in CPU seconds of the process.
2. report: a two-node bundle with N lines in total (node 1 and node 2 in the recorded proportion, copies renumbered
   in step on both nodes so that journeys exist), then run_report() writing report.json, report.md and
   report.html, in a child process whose peak RSS is read with wait4 (that child's own). With --baseline REV,
   the same bundle goes through REV's own report child as well (its tree from git archive), the two alternating
   --runs times: the side by side comparison, under the same load; the median run of each is kept.
3. with --mixed, a report of one node traced through the kernel log and xtables-monitor at once (the recorded
   mixed/legacy-nft capture, both files replicated in step to about N lines), where every packet is merged.

Run from a checkout; the collection is imported from it (a temporary ansible_collections link is made).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'trace', 'legacy')


def _import_path():
    """A temporary ansible_collections/netdebug/netfilter -> checkout link, so that imports work from a checkout."""
    base = tempfile.mkdtemp(prefix='ndbench-')
    atexit.register(shutil.rmtree, base, True)  # the link only: rmtree does not follow symlinks
    os.makedirs(os.path.join(base, 'ansible_collections', 'netdebug'))
    os.symlink(ROOT, os.path.join(base, 'ansible_collections', 'netdebug', 'netfilter'))
    sys.path.insert(0, base)
    return base


_STAMP = re.compile(r'^\[\s*(\d+\.\d+)\]')
_NUMS = re.compile(r'\b(ID|SPT|DPT|SEQ|SPORT|DPORT)=(\d+)')  # SPORT/DPORT: xtables-monitor's names


def _shift(line, copy, period):
    """The line as it would be in the copy-th repetition: later, with other ids, ports and sequence numbers."""
    stamp = _STAMP.match(line)
    if stamp:
        line = '[%12.6f]%s' % (float(stamp.group(1)) + copy * period, line[stamp.end():])

    def renumber(m):
        key, value = m.group(1), int(m.group(2))
        if key == 'SEQ' and value > 65535:
            return '%s=%d' % (key, (value + copy * 7919) % 4294967296)
        if key in ('SPT', 'DPT', 'SPORT', 'DPORT') and value in (8080, 9999, 5353):
            return m.group(0)  # the service ports stay
        return '%s=%d' % (key, (value + copy) % 65536)
    return _NUMS.sub(renumber, line)


def replicated(rel, count):
    with open(os.path.join(FIXTURES, rel), encoding='utf-8') as fh:
        base = [line.rstrip('\n') for line in fh if 'TRACE:' in line or 'IN=' in line]
    stamps = [float(_STAMP.match(line).group(1)) for line in base]
    period = max(stamps) - min(stamps) + 1.0
    out = []
    copy = 0
    while len(out) < count:
        out.extend(_shift(line, copy, period) for line in base)
        copy += 1
    return out[:count], len(base)


def bench_parse(total):
    from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis import parse as parse_mod
    lines, base = replicated('node2/trace/dmesg.log', total)
    trace_lines = sum(1 for line in lines if 'TRACE:' in line)
    result = {'lines': len(lines), 'trace_lines': trace_lines, 'recorded_lines_replicated': base}

    def run(label, body, repeat=3):
        # the machine may be shared: the best of three runs is the one least disturbed; the median is given too.
        # CPU seconds of the process are measured beside wall seconds: other jobs on the core stretch the wall time.
        times = []
        cpus = []
        for _run in range(repeat):
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            body()
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        times.sort()
        cpus.sort()
        result[label] = {'seconds_best': round(times[0], 3), 'seconds_median': round(times[len(times) // 2], 3),
                         'lines_per_second_best': int(len(lines) / times[0]),
                         'lines_per_second_median': int(len(lines) / times[len(times) // 2]),
                         'lines_per_cpu_second_best': int(len(lines) / cpus[0]),
                         'lines_per_cpu_second_median': int(len(lines) / cpus[len(cpus) // 2])}

    def iterate():
        for _event in parse_mod.iter_events(lines):
            pass

    class NoCache(dict):
        def __setitem__(self, key, value):
            pass

    def iterate_uncached():
        ctx = parse_mod.Context()
        ctx.packet_cache = NoCache()
        lineno = 1
        for line in lines:
            parse_mod.parse_line(ctx, lineno, line)
            lineno += 1

    def as_list():
        chunk = 100000
        for start in range(0, len(lines), chunk):
            parse_mod.parse_trace(lines[start:start + chunk])

    run('iter_events', iterate)
    run('iter_events_no_cache', iterate_uncached)
    run('parse_trace_list_100k_chunks', as_list)
    kinds = {}
    for event in parse_mod.iter_events(lines[:base]):
        kinds[event['kind']] = kinds.get(event['kind'], 0) + 1
    result['kinds_of_one_copy'] = kinds
    return result


def _count_lines(path):
    with open(path, encoding='utf-8') as fh:
        return sum(1 for _line in fh)


def make_bundle(root, total):
    n1 = _count_lines(os.path.join(FIXTURES, 'node1/trace/dmesg.log'))
    n2 = _count_lines(os.path.join(FIXTURES, 'node2/trace/dmesg.log'))
    share1 = total * n1 // (n1 + n2)
    incident = os.path.join(root, 'bench')
    hosts = {}
    for host, count in (('node1', share1), ('node2', total - share1)):
        hostdir = os.path.join(incident, host)
        os.makedirs(os.path.join(hostdir, 'trace'))
        os.makedirs(os.path.join(hostdir, 'ruleset'))
        lines, _base = replicated('%s/trace/dmesg.log' % host, count)
        files = []
        with open(os.path.join(hostdir, 'trace', 'dmesg.log'), 'w', encoding='utf-8') as fh:
            fh.write('\n'.join(lines) + '\n')
        for name in ('iptables-legacy.save', 'ip6tables-legacy.save'):
            src = os.path.join(FIXTURES, host, 'ruleset', name)
            with open(src, 'rb') as fh, open(os.path.join(hostdir, 'ruleset', name), 'wb') as out:
                out.write(fh.read())
        for rel in ('trace/dmesg.log', 'ruleset/iptables-legacy.save', 'ruleset/ip6tables-legacy.save'):
            with open(os.path.join(hostdir, rel), 'rb') as fh:
                files.append({'path': rel, 'sha256': hashlib.sha256(fh.read()).hexdigest()})
        hosts[host] = {'status': 'ok', 'reason': None, 'files': files}
    with open(os.path.join(incident, 'manifest.json'), 'w', encoding='utf-8') as fh:
        json.dump({'incident_id': 'bench', 'hosts': hosts}, fh)
    return incident


MIXED = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'trace', 'mixed', 'legacy-nft', 'node2')


def make_mixed_bundle(root, total):
    """One node traced through both the kernel log and xtables-monitor (fixtures mixed/legacy-nft): both files
    replicated in step, each copy renumbered the same way in both, so that every packet merges into one record."""
    sources = {}
    for name in ('kernel.log', 'xtables-monitor.log'):
        with open(os.path.join(MIXED, 'trace', name), encoding='utf-8') as fh:
            sources[name] = [line.rstrip('\n') for line in fh if line.strip()]
    per_copy = sum(len(lines) for lines in sources.values())
    copies = max(1, total // per_copy)
    stamps = [float(_STAMP.match(line).group(1)) for line in sources['kernel.log'] if _STAMP.match(line)]
    period = max(stamps) - min(stamps) + 1.0
    incident = os.path.join(root, 'bench')
    hostdir = os.path.join(incident, 'node2')
    files = []
    for name, lines in sources.items():
        os.makedirs(os.path.join(hostdir, 'trace'), exist_ok=True)
        with open(os.path.join(hostdir, 'trace', name), 'w', encoding='utf-8') as fh:
            for copy in range(copies):
                fh.write('\n'.join(_shift(line, copy, period) for line in lines) + '\n')
        files.append('trace/' + name)
    os.makedirs(os.path.join(hostdir, 'ruleset'))
    for name in os.listdir(os.path.join(MIXED, 'ruleset')):
        with open(os.path.join(MIXED, 'ruleset', name), 'rb') as fh, \
                open(os.path.join(hostdir, 'ruleset', name), 'wb') as out:
            out.write(fh.read())
        files.append('ruleset/' + name)
    entry = []
    for rel in files:
        with open(os.path.join(hostdir, rel), 'rb') as fh:
            entry.append({'path': rel, 'sha256': hashlib.sha256(fh.read()).hexdigest()})
    with open(os.path.join(incident, 'manifest.json'), 'w', encoding='utf-8') as fh:
        json.dump({'incident_id': 'bench', 'hosts': {'node2': {'status': 'ok', 'reason': None, 'files': entry}}}, fh)
    return incident


def report_child(bundle_dir):
    """In a child process: the whole report, timed."""
    _import_path()
    from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_write import run_report
    start = time.perf_counter()
    result = run_report(bundle_dir, 'bench')
    elapsed = time.perf_counter() - start
    sizes = {fmt: os.path.getsize(path) for fmt, path in result['reports'].items()}
    print(json.dumps({'seconds': round(elapsed, 2), 'packets': result['packets'], 'journeys': result['journeys'],
                      'packet_verdicts': result['packet_verdicts'], 'report_bytes': sizes}))


def _run_child(script, bundle_root):
    """One report child (script --report-child): its own result line, wall seconds and peak RSS (wait4 on that
    child alone, so runs of two versions in one benchmark do not share one maximum)."""
    incident = os.path.join(bundle_root, 'bench')
    for name in ('report.json', 'report.md', 'report.html'):
        if os.path.exists(os.path.join(incident, name)):
            os.unlink(os.path.join(incident, name))  # each run writes its reports afresh, none compares with old ones
    with tempfile.TemporaryFile(mode='w+') as out:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, script, '--report-child', bundle_root], stdout=out)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit('%s --report-child failed (rc %d)' % (script, proc.returncode))
    result = json.loads(text.strip().splitlines()[-1])
    result.update({'process_seconds': round(wall, 2), 'peak_rss_mb': round(usage.ru_maxrss / 1024.0, 1)})
    return result


def bench_report(total, mixed=False, baseline=None, runs=1):
    """The whole report of an N-line bundle, runs times. With baseline (a checkout of another version), that
    version's report child runs on the same bundle too, alternating with this one: side by side under the same
    load."""
    with tempfile.TemporaryDirectory(prefix='ndbench-bundle-') as root:
        incident = (make_mixed_bundle if mixed else make_bundle)(root, total)
        lines = sum(_count_lines(os.path.join(incident, host, 'trace', name))
                    for host in os.listdir(incident) if os.path.isdir(os.path.join(incident, host))
                    for name in os.listdir(os.path.join(incident, host, 'trace')))
        versions = [('current', os.path.abspath(__file__))]
        if baseline:
            versions.insert(0, ('baseline', os.path.join(baseline, 'benchmarks', 'parse_trace_bench.py')))
        found = dict((label, []) for label, _script in versions)
        for _run in range(runs):
            for label, script in versions:
                found[label].append(_run_child(script, root))
        results = {}
        for label, rows in found.items():
            middle = sorted(rows, key=lambda r: r['seconds'])[len(rows) // 2]
            results[label] = dict(middle, lines=lines, runs=[r['seconds'] for r in rows],
                                  peak_rss_mb=max(r['peak_rss_mb'] for r in rows))
        return results if baseline else results['current']


def baseline_tree(rev):
    """The repository as it was at rev, unpacked into a temporary directory (git archive): the baseline of a side by
    side run."""
    base = tempfile.mkdtemp(prefix='ndbench-baseline-')
    atexit.register(shutil.rmtree, base, True)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', '--format=tar', rev], capture_output=True, check=True)
    subprocess.run(['tar', '-x', '-C', base], input=archive.stdout, check=True)
    return base


def machine():
    model = ''
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as fh:
            model = next(line.split(':', 1)[1].strip() for line in fh if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    with open('/proc/meminfo', encoding='utf-8') as fh:
        mem_kb = int(next(line.split()[1] for line in fh if line.startswith('MemTotal')))
    return {'nproc': os.cpu_count(), 'cpu': model, 'ram_gb': round(mem_kb / 1048576.0, 1),
            'python': platform.python_version(), 'kernel': platform.release()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--lines', type=int, default=1000000)
    parser.add_argument('--json', help='also write the results to this file')
    parser.add_argument('--report-child', help=argparse.SUPPRESS)
    parser.add_argument('--skip-report', action='store_true')
    parser.add_argument('--skip-parse', action='store_true', help='the report part only')
    parser.add_argument('--baseline', metavar='REV',
                        help='also run the report of this git revision on the same bundle, alternating with this one')
    parser.add_argument('--runs', type=int, default=1, help='report runs (of each version); the median is kept')
    parser.add_argument('--mixed', action='store_true',
                        help='also the report of one node traced through the kernel log and xtables-monitor at once')
    args = parser.parse_args()
    if args.report_child:
        report_child(args.report_child)
        return
    _import_path()
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    baseline = baseline_tree(args.baseline) if args.baseline else None
    results = {'date': time.strftime('%Y-%m-%d'), 'machine': machine(), 'load_before': os.getloadavg(),
               'baseline': args.baseline}
    if not args.skip_parse:
        results['parse'] = bench_parse(args.lines)
        print(json.dumps(results['parse'], indent=1), flush=True)
    if not args.skip_report:
        results['report'] = bench_report(args.lines, baseline=baseline, runs=args.runs)
        print(json.dumps(results['report'], indent=1))
    if args.mixed:
        results['report_mixed'] = bench_report(args.lines, mixed=True, baseline=baseline, runs=args.runs)
        print(json.dumps(results['report_mixed'], indent=1))
    results['load_after'] = os.getloadavg()
    print('load average before %s, after %s' % (results['load_before'], results['load_after']))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as fh:
            json.dump(results, fh, indent=1)


if __name__ == '__main__':
    main()
