# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the iptables_log / iptables_trace integration tests (test_rules_*.py): node rulesets, normalised
for comparison, the kernel log, scenarios, waiting."""

from __future__ import annotations

import errno
import os
import re
import shlex
import time

TAG_RE = re.compile(r'netdebug:([A-Za-z0-9._-]+):([0-9]+)')
SAVE_TOOLS = ('iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save')

# A node that looks like a Kubernetes node: Calico and kube-proxy hooks in raw and filter, and a user chain.
SCENARIO = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:cali-PREROUTING - [0:0]
-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING
-A cali-PREROUTING -m mark --mark 0x10000/0x10000 -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:app-guard - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -j app-guard
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP
-A app-guard -p tcp -m tcp --dport 9 -j DROP
COMMIT
"""


class SshRetries:
    """Ansible retries a connection that times out (the test machine is shared and sometimes very busy)."""

    def __init__(self, retries=5):
        self.retries = str(retries)
        self.saved = None

    def __enter__(self):
        self.saved = os.environ.get('ANSIBLE_SSH_RETRIES')
        os.environ['ANSIBLE_SSH_RETRIES'] = self.retries
        return self

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop('ANSIBLE_SSH_RETRIES', None)
        else:
            os.environ['ANSIBLE_SSH_RETRIES'] = self.saved


def run(lab, node, argv, check=True, timeout=60, data=None):
    proc = lab.exec(node, list(argv), timeout=timeout, input=data.encode() if data is not None else None)
    out, err = proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')
    if check and proc.returncode != 0:
        raise AssertionError('%s on %s failed (%d): %s %s' % (' '.join(argv), node, proc.returncode, out, err))
    return out


def sh(lab, node, script, check=True, timeout=60):
    return run(lab, node, ['bash', '-c', script], check=check, timeout=timeout)


def _normalise_save(text):
    """Counters and comment lines gone; tables that hold nothing (built-in chains with policy ACCEPT only)
    dropped, because listing a legacy table creates it empty and that is no change of the rules."""
    kept = []
    block = []
    for line in text.splitlines():
        line = re.sub(r'\[\d+:\d+\]', '', line).rstrip()
        if not line or line.startswith('#'):
            continue
        block.append(line)
        if line == 'COMMIT':
            empty = all(re.match(r'^(\*\S+|:\S+ ACCEPT|COMMIT)$', entry) for entry in block)
            if not empty:
                kept += block
            block = []
    return '\n'.join(kept + block)


def _normalise_nft(text):
    text = re.sub(r'counter packets \d+ bytes \d+', 'counter', text)
    return '\n'.join(line.rstrip() for line in text.splitlines() if line.strip())


def ruleset(lab, node):
    """{tool: normalised text} of every iptables backend and of nft list ruleset on the node."""
    snap = {}
    for tool in SAVE_TOOLS:
        snap[tool] = _normalise_save(run(lab, node, [tool]))
    snap['nft'] = _normalise_nft(run(lab, node, ['nft', 'list', 'ruleset']))
    return snap


def tagged_lines(lab, node, run_id=None):
    """Every rule line on the node that carries a netdebug tag (of run_id, if given)."""
    lines = []
    for tool in SAVE_TOOLS:
        lines += [(tool, line) for line in run(lab, node, [tool]).splitlines() if line.startswith('-A ')]
    lines += [('nft', line.strip()) for line in run(lab, node, ['nft', 'list', 'ruleset']).splitlines()]
    found = []
    for tool, line in lines:
        match = TAG_RE.search(line)
        if match and (run_id is None or match.group(1) == run_id):
            found.append((tool, line))
    return found


def processes(lab, node, pattern):
    """Command lines of the node's processes that contain pattern (the node has its own PID namespace)."""
    out = run(lab, node, ['ps', '-eo', 'pid=,args='])
    return [line.strip() for line in out.splitlines() if pattern in line and 'ps -eo' not in line]


def load(lab, node, tool, text=SCENARIO):
    run(lab, node, [tool, '-w', '10', '--noflush'], data=text)


def reset(lab, node):
    """Test teardown on a lab node: back to an empty ruleset in both variants and nftables."""
    for tool in ('iptables-legacy', 'ip6tables-legacy', 'iptables-nft', 'ip6tables-nft'):
        for table in ('raw', 'mangle', 'nat', 'filter', 'security'):
            if tool.endswith('legacy') and table not in run(lab, node, ['cat', '/proc/net/%s_tables_names' % (
                    'ip6' if tool.startswith('ip6') else 'ip')], check=False):
                continue
            sh(lab, node, '%s -w 10 -t %s -F && %s -w 10 -t %s -X' % (tool, table, tool, table), check=False)
    run(lab, node, ['nft', 'flush', 'ruleset'])


def read_file(lab, node, path):
    return run(lab, node, ['cat', path], check=False)


def monitor_lines(lab, node, path):
    """The lines of a trace monitor's capture file on the node, without the stamper's times in front."""
    return [line.split(' ', 1)[1] if line.startswith('@') else line
            for line in read_file(lab, node, path).splitlines()]


def removed_at(lab, node, run_id, expires_at, timeout):
    """Epoch time (polled every 0.2 s) at which the run's rules tagged with expires_at were gone. The reaper's
    log goes with the run's directory, so the ruleset itself is watched."""
    def gone():
        return not [line for _tool, line in tagged_lines(lab, node, run_id) if ':%d' % expires_at in line]
    wait_until(gone, timeout, interval=0.2, what='the rules of %s expiring at %d on %s' % (run_id, expires_at, node))
    return time.time()


def journal_reaper_times(lab, node, unit, expires_at):
    """Epoch seconds at which systemd started the reaper unit and at which the reaper said it removed the run (its
    lines stay in the journal); None for one not found."""
    out = run(lab, node, ['journalctl', '--no-pager', '-o', 'short-unix', '-u', unit + '.service'], check=False)
    started = removed = None
    for line in out.splitlines():
        if started is None and ('Started ' in line or 'Starting ' in line):
            started = float(line.split()[0])
        if 'reaper for expiry %d: removed' % expires_at in line:
            removed = float(line.split()[0])
    return started, removed


def wait_for_text(lab, node, path, needle, timeout=10):
    """Content of a file on the node once it contains needle."""
    def content():
        text = read_file(lab, node, path)
        return text if needle in text else None
    return wait_until(content, timeout, what='%r in %s on %s' % (needle, path, node))


def wait_until(predicate, timeout, interval=0.3, what='condition'):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))
        time.sleep(interval)


def udp_probe(lab, node, address, port, count=3):
    """count UDP datagrams from node to address:port (the port makes the packets easy to find); IPv6 for an
    address with colons."""
    family = 'AF_INET6' if ':' in address else 'AF_INET'
    code = ('import socket,time\ns=socket.socket(socket.%s,socket.SOCK_DGRAM)\n'
            'for i in range(%d):\n    s.sendto(b"netdebug-probe",(%r,%d)); time.sleep(0.1)\n'
            % (family, count, address, port))
    run(lab, node, ['python3', '-c', code])


class KernelLog:
    """New /dev/kmsg records since creation (the netns nodes share this machine's kernel log)."""

    def __init__(self):
        self.fd = os.open('/dev/kmsg', os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.lines = []

    def read(self):
        while True:
            try:
                data = os.read(self.fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue
                if exc.errno == errno.EAGAIN:
                    break
                raise
            if not data:
                break
            self.lines.append(data.decode('utf-8', 'replace').partition(';')[2].split('\n', 1)[0])
        return self.lines

    def close(self):
        os.close(self.fd)


def quote(argv):
    return ' '.join(shlex.quote(a) for a in argv)
