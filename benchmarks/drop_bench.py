# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drop-reason capture cost (issue 18): what the kernel spends per packet while a run's tracefs instance of
skb:kfree_skb records drops, side by side with nothing recording and with what a user would run instead,
`perf record -e skb:kfree_skb -a`. Run as root from the repository (two namespaces of its own, not the lab):

    .venv/bin/python benchmarks/drop_bench.py [--packets 200000] [--reps 5] [--json FILE]

Workloads, from a client namespace to a node namespace over a veth pair (198.18.211.1 -> 198.18.211.2):
- dropped: UDP to a port with no socket, every packet freed by the kernel as NO_SOCKET (the event fires for each);
- delivered: UDP to a socket whose receive buffer holds a whole run (SO_RCVBUFFORCE), drained by a reader, nothing
  dropped (the event does not fire: the cost must be nil; the instance's count of drops shows whether any happened).

The sender is one Python process pinned to CPU 0 that sends --packets datagrams in a loop; veth hands each packet
to the receiving namespace in the sender's own softirq, so the sender's wall time and CPU time per packet hold the
whole receive path, drop included. Conditions run interleaved, --reps times each; medians are reported. The
instance is made by the collection's own code (_drops.instance, as iptables_trace makes it: the match's family
filter, a 256 KiB buffer per CPU that keeps the first drops and counts the rest as lost); perf writes its own
file. Writes benchmarks/results/drops.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLIENT, NODE = 'ndbench-drop-c', 'ndbench-drop-n'
CLIENT_IP, NODE_IP = '198.18.211.1', '198.18.211.2'
CLOSED_PORT, OPEN_PORT = 9, 9000
CONDITIONS = ('off', 'netdebug instance', 'perf record -e skb:kfree_skb -a')

SENDER = r'''
import os, resource, socket, sys, time
os.sched_setaffinity(0, {0})
count, address, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload, target = b'x' * 32, (address, port)
started, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
for _ in range(count):
    s.sendto(payload, target)
ended, done = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
print('%.6f %.6f' % (ended - started, (done.ru_utime + done.ru_stime) - (cpu.ru_utime + cpu.ru_stime)))
'''


READER = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 29)  # SO_RCVBUFFORCE, 512 MiB
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    s.recv(2048)
'''


def sh(argv, check=True, **kwargs):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


def setup():
    teardown()
    sh(['ip', 'netns', 'add', CLIENT])
    sh(['ip', 'netns', 'add', NODE])
    sh(['ip', 'link', 'add', 'ndbd-c', 'netns', CLIENT, 'type', 'veth', 'peer', 'name', 'ndbd-n', 'netns', NODE])
    for ns, dev, addr in ((CLIENT, 'ndbd-c', CLIENT_IP), (NODE, 'ndbd-n', NODE_IP)):
        sh(['ip', '-n', ns, 'addr', 'add', addr + '/24', 'dev', dev])
        sh(['ip', '-n', ns, 'link', 'set', dev, 'up'])
        sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])


def teardown():
    for ns in (CLIENT, NODE):
        sh(['ip', 'netns', 'del', ns], check=False)


def collection_tree():
    base = tempfile.mkdtemp(prefix='ndbench-drop-')
    sh([os.path.join(REPO, 'tools', 'collection-tree'), base])
    sys.path.insert(0, base)
    return base


class Instance:
    """The run's instance, as iptables_trace makes it."""

    def __init__(self):
        from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import instance
        from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ProcessModule, ToolRunner
        self.instance = instance
        module = ProcessModule()
        self.tracefs = instance.Tracefs(ToolRunner(module), {'mount': module.get_bin_path('mount'),
                                                             'umount': module.get_bin_path('umount')})
        self.record = None

    def __enter__(self):
        self.record = self.instance.start(self.tracefs, 'drop-bench', ['ipv4'])
        if not self.record['available']:
            raise SystemExit(self.record['why'])
        return self

    def __exit__(self, *exc):
        handle, out = tempfile.mkstemp(prefix='ndbench-drops-')
        os.close(handle)
        self.summary = self.instance.stop(self.tracefs, self.record, out)
        os.unlink(out)


class Perf:
    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix='ndbench-perf-')
        self.out = os.path.join(self.dir, 'perf.data')
        self.proc = subprocess.Popen(['perf', 'record', '-q', '-e', 'skb:kfree_skb', '-a', '-o', self.out],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # perf opens its events per CPU before it records
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(2)
        self.proc.wait(60)
        self.summary = {'bytes': os.path.getsize(self.out) if os.path.exists(self.out) else None}
        shutil.rmtree(self.dir)


class Nothing:
    summary = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def send(packets, port):
    out = sh(['ip', 'netns', 'exec', CLIENT, sys.executable, '-c', SENDER, str(packets), NODE_IP, str(port)]).stdout
    wall, cpu = (float(x) for x in out.split())
    return wall, cpu


def measure(condition, packets, port):
    recorder = {'off': Nothing, 'netdebug instance': Instance, 'perf record -e skb:kfree_skb -a': Perf}[condition]()
    with recorder:
        wall, cpu = send(packets, port)
    return {'wall_ns': wall / packets * 1e9, 'cpu_ns': cpu / packets * 1e9, 'recorder': recorder.summary}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--packets', type=int, default=200000)
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--json', default=os.path.join(HERE, 'results', 'drops.json'))
    args = parser.parse_args()
    tree = collection_tree()
    setup()
    # a receive buffer that holds a whole run (SO_RCVBUFFORCE: net.core.rmem_max caps a plain SO_RCVBUF), so that
    # no delivered packet is dropped whatever the reader's pace (the instance's count shows it)
    reader = subprocess.Popen(['ip', 'netns', 'exec', NODE, sys.executable, '-c', READER, NODE_IP, str(OPEN_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    try:
        time.sleep(0.5)
        for rep in range(args.reps):
            for workload, port in (('dropped', CLOSED_PORT), ('delivered', OPEN_PORT)):
                for condition in CONDITIONS:
                    result = measure(condition, args.packets, port)
                    result.update(rep=rep, workload=workload, condition=condition)
                    runs.append(result)
                    print(json.dumps(result), file=sys.stderr)
    finally:
        reader.kill()
        teardown()
        shutil.rmtree(tree, ignore_errors=True)
    rows = []
    for workload in ('dropped', 'delivered'):
        base = None
        for condition in CONDITIONS:
            mine = [r for r in runs if r['workload'] == workload and r['condition'] == condition]
            wall = statistics.median(r['wall_ns'] for r in mine)
            cpu = statistics.median(r['cpu_ns'] for r in mine)
            base = base or (wall, cpu)
            recorded = [r['recorder'] for r in mine if r['recorder'] and 'events' in r['recorder']]
            rows.append({'workload': workload, 'condition': condition, 'wall_ns': round(wall), 'cpu_ns': round(cpu),
                         'drops_recorded': max((r['events'] + r['lost'] for r in recorded), default=None),
                         'wall_vs_off': round(wall / base[0] - 1, 3), 'cpu_vs_off': round(cpu / base[1] - 1, 3)})
    result = {'date': datetime.date.today().isoformat(), 'machine': platform.node(), 'kernel': platform.release(),
              'cpus': os.cpu_count(), 'load': os.getloadavg(), 'packets': args.packets, 'reps': args.reps,
              'rows': rows, 'runs': runs}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, 'w') as handle:
        json.dump(result, handle, indent=1)
    print('| workload | recording | wall ns/packet | CPU ns/packet | wall vs off | CPU vs off | drops seen |')
    print('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
    for row in rows:
        print('| %s | %s | %d | %d | %+.1f%% | %+.1f%% | %s |' % (
            row['workload'], row['condition'], row['wall_ns'], row['cpu_ns'], row['wall_vs_off'] * 100,
            row['cpu_vs_off'] * 100, '' if row['drops_recorded'] is None else row['drops_recorded']))


if __name__ == '__main__':
    main()
