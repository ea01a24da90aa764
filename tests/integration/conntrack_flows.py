# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real conntrack entries on purpose, in throwaway network namespaces (shared by the conntrack_query integration
test, the fixture recorder and the benchmark).

A FlowLab is two namespaces joined by a veth pair: a client (198.18.210.1, 2001:db8:210::1) and a node
(198.18.210.2, 2001:db8:210::2). Everything the node tracks comes from real packets: established and TIME_WAIT
TCP, unreplied and replied UDP, ICMP and ICMPv6, a DNAT'ed TCP port, marked UDP (CONNMARK), UDP in zone 7
(raw CT --zone) and in an original-direction-only zone 8 (CT --zone-orig). Rules, sysctls and processes exist
only inside these namespaces; down() removes all of it.

Test logic talks to the node through `node_exec(argv) -> CompletedProcess`, so that it can later run against a
lab node over SSH instead of `ip netns exec`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import time

PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
CLIENT4, NODE4 = '198.18.210.1', '198.18.210.2'
CLIENT6, NODE6 = '2001:db8:210::1', '2001:db8:210::2'

# Ports of the flows made on purpose (destination ports on the node).
TCP_PORT = 8080          # listener; established connections are held open
TCP_DNAT_PORT = 8081     # REDIRECTed to TCP_PORT: the reply tuple differs from the original
TCP_TW_PORT = 8082       # connections closed by the client: TIME_WAIT
UDP_CLOSED_PORT = 9999   # nothing listens: unreplied
UDP_ECHO_PORT = 5300     # an echo server answers: replied
UDP_MARK_PORT = 5353     # CONNMARK --set-mark 0x42
UDP_ZONE_PORT = 7777     # CT --zone 7
UDP_ZONE_ORIG_PORT = 7778  # CT --zone-orig 8
MARK = 0x42
EXTRA_NET = '198.18.211.0/24'  # extra node addresses for floods: 198.18.211.1 ...


def extra_addresses(count):
    return ['198.18.211.%d' % n for n in range(1, count + 1)]


NODE_RULES = [
    # Registers the conntrack hooks in the namespace (a fresh namespace tracks nothing) and accepts.
    ['iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED,RELATED,INVALID', '-j', 'ACCEPT'],
    ['ip6tables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED,RELATED,INVALID', '-j', 'ACCEPT'],
    ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', str(UDP_ZONE_PORT), '-j', 'CT', '--zone',
     '7'],
    ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', str(UDP_ZONE_ORIG_PORT), '-j', 'CT',
     '--zone-orig', '8'],
    ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-p', 'udp', '--dport', str(UDP_MARK_PORT), '-j', 'CONNMARK',
     '--set-mark', hex(MARK)],
    ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', str(TCP_DNAT_PORT), '-j', 'REDIRECT',
     '--to-ports', str(TCP_PORT)],
]
NODE_SYSCTLS = {
    # per-namespace sysctls: counters and timestamps on, timeouts long enough for a test run
    'net.netfilter.nf_conntrack_acct': '1',
    'net.netfilter.nf_conntrack_timestamp': '1',
    'net.netfilter.nf_conntrack_udp_timeout': '3600',
    'net.netfilter.nf_conntrack_udp_timeout_stream': '3600',
    'net.netfilter.nf_conntrack_icmp_timeout': '3600',
    'net.netfilter.nf_conntrack_icmpv6_timeout': '3600',
    'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '3600',
}

# mode 'hold' keeps accepted connections open (ESTABLISHED); 'close' closes after the client did, so the client
# side ends in TIME_WAIT.
TCP_SERVER = r'''
import socket, sys, time
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(128)
held = []
print('ready', flush=True)
while True:
    c, _ = s.accept()
    if sys.argv[3] == 'hold':
        held.append(c)
        continue
    while c.recv(4096):
        pass
    c.close()
'''
TCP_CLIENT = r'''
import socket, sys, time
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
src, dst, sport, dport, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == 'hold'
c = socket.socket(fam, socket.SOCK_STREAM)
c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
c.bind((src, sport)); c.connect((dst, dport)); c.send(b'x')
print('connected', flush=True)
if hold:
    time.sleep(86400)
c.close()
'''
UDP_ECHO = r'''
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))
print('ready', flush=True)
while True:
    data, peer = s.recvfrom(2048); s.sendto(data, peer)
'''
UDP_SEND = r'''
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
src, dst, sport, dport, count, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((src, sport)); s.settimeout(wait)
for _ in range(count):
    s.sendto(b'netdebug', (dst, dport))
if wait:
    try:
        s.recvfrom(2048)
    except socket.timeout:
        pass
'''
# Many distinct UDP flows fast: one socket per source port, each sending one datagram to every
# (destination address, destination port); flows = len(sports) * len(dsts) * len(dports).
UDP_FLOOD = r'''
import socket, sys
src = sys.argv[1]; dsts = sys.argv[2].split(',')
sp0, sp1, dp0, dp1 = (int(x) for x in sys.argv[3:7])
sent = 0
for sport in range(sp0, sp1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, sport))
    send = s.sendto
    for dst in dsts:
        for dport in range(dp0, dp1):
            send(b'', (dst, dport))
    sent += len(dsts) * (dp1 - dp0)
    s.close()
print(sent)
'''


def run(argv, check=True, timeout=120, input_data=None):
    proc = subprocess.run(argv, capture_output=True, timeout=timeout, input=input_data, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed (rc=%d): %s'
                           % (' '.join(argv), proc.returncode, proc.stderr.decode(errors='replace')))
    return proc


class Netns:
    """One network namespace made by this file (`ip netns add`), removed by delete()."""

    def __init__(self, name):
        self.name = name
        self.procs = []

    @property
    def path(self):
        return '/run/netns/' + self.name

    def create(self):
        self.delete()
        run(['ip', 'netns', 'add', self.name])
        self.run(['ip', 'link', 'set', 'lo', 'up'])

    def delete(self):
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        self.procs = []
        if os.path.exists(self.path):
            for pid in run(['ip', 'netns', 'pids', self.name], check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            run(['ip', 'netns', 'del', self.name], check=False)

    def argv(self, argv):
        return ['ip', 'netns', 'exec', self.name] + list(argv)

    def run(self, argv, check=True, timeout=120, input_data=None):
        return run(self.argv(argv), check=check, timeout=timeout, input_data=input_data)

    def spawn(self, argv, wait_for=None):
        """A background process in the namespace, killed by delete(); optionally wait for a line on stdout."""
        proc = subprocess.Popen(self.argv(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        if wait_for:
            line = proc.stdout.readline().decode()
            if wait_for not in line:
                raise RuntimeError('%s did not say %r (got %r)' % (argv, wait_for, line))
        return proc

    def python(self, code, *args, **kwargs):
        return self.run([PYTHON, '-c', code] + [str(a) for a in args], **kwargs)

    def spawn_python(self, code, *args, **kwargs):
        return self.spawn([PYTHON, '-c', code] + [str(a) for a in args], **kwargs)


class FlowLab:
    """A client and a node namespace joined by veth; the node tracks connections."""

    def __init__(self, prefix='ndct'):
        self.client = Netns(prefix + '-cl')
        self.node = Netns(prefix + '-node')
        self.veth = (prefix + '-vc', prefix + '-vn')

    def node_exec(self, argv, **kwargs):
        """The "exec in node" callable test logic uses."""
        return self.node.run(argv, **kwargs)

    def up(self, extra_node_addrs=(), sysctls=None):
        """sysctls: overrides of NODE_SYSCTLS (for instance accounting off, the kernel default)."""
        self.client.create()
        self.node.create()
        run(['ip', 'link', 'add', self.veth[0], 'netns', self.client.name, 'type', 'veth', 'peer', 'name',
             self.veth[1], 'netns', self.node.name])
        for ns, dev, addr4, addr6 in ((self.client, self.veth[0], CLIENT4, CLIENT6),
                                      (self.node, self.veth[1], NODE4, NODE6)):
            ns.run(['ip', 'addr', 'add', addr4 + '/24', 'dev', dev])
            ns.run(['ip', '-6', 'addr', 'add', addr6 + '/64', 'dev', dev, 'nodad'])
            ns.run(['ip', 'link', 'set', dev, 'up'])
        if extra_node_addrs:
            # more local addresses on the node (for many distinct flows), reached through the node
            self.node.run(['ip', '-batch', '-'], input_data=''.join(
                'addr add %s/32 dev %s\n' % (addr, self.veth[1]) for addr in extra_node_addrs).encode())
            self.client.run(['ip', 'route', 'add', EXTRA_NET, 'via', NODE4])
        for argv in NODE_RULES:
            self.node.run(argv)
        for key, value in dict(NODE_SYSCTLS, **(sysctls or {})).items():
            self.node.run(['sysctl', '-qw', '%s=%s' % (key, value)])

    def down(self):
        self.client.delete()
        self.node.delete()

    # -- flows ------------------------------------------------------------------------------------------------

    def tcp_servers(self):
        self.node.spawn_python(TCP_SERVER, NODE4, TCP_PORT, 'hold', wait_for='ready')
        self.node.spawn_python(TCP_SERVER, NODE4, TCP_TW_PORT, 'close', wait_for='ready')
        self.node.spawn_python(TCP_SERVER, NODE6, TCP_PORT, 'hold', wait_for='ready')
        self.node.spawn_python(UDP_ECHO, NODE4, UDP_ECHO_PORT, wait_for='ready')

    def tcp_established(self, sport, dport=TCP_PORT, src=CLIENT4, dst=NODE4):
        self.client.spawn_python(TCP_CLIENT, src, dst, sport, dport, 'hold', wait_for='connected')

    def tcp_time_wait(self, sport):
        self.client.python(TCP_CLIENT, CLIENT4, NODE4, sport, TCP_TW_PORT, 'close')

    def udp(self, sport, dport, src=CLIENT4, dst=NODE4, count=1, wait=0.0):
        self.client.python(UDP_SEND, src, dst, sport, dport, count, wait)

    def ping(self, dst=NODE4, count=1):
        self.client.run(['ping', '-c', str(count), '-i', '0.2', '-W', '1', dst], check=False)

    def standard_flows(self):
        """The set of flows the tests and fixtures expect (see the module docstring); returns a description."""
        self.tcp_servers()
        self.tcp_established(40001)
        self.tcp_established(40002)
        self.tcp_established(40003, dport=TCP_DNAT_PORT)
        self.tcp_established(40004, src=CLIENT6, dst=NODE6)
        self.tcp_time_wait(40005)
        self.udp(41001, UDP_CLOSED_PORT)
        self.udp(41002, UDP_CLOSED_PORT)
        self.udp(41003, UDP_ECHO_PORT, wait=1.0)
        self.udp(41004, UDP_MARK_PORT)
        self.udp(41005, UDP_ZONE_PORT)
        self.udp(41006, UDP_ZONE_ORIG_PORT)
        self.udp(41007, UDP_CLOSED_PORT, src=CLIENT6, dst=NODE6)
        self.ping(NODE4)
        self.ping(NODE6)
        time.sleep(0.3)

    def flood(self, sports, dsts, dports, timeout=3600):
        """len(sports) * len(dsts) * len(dports) unreplied UDP flows from the client; returns datagrams sent."""
        proc = self.client.python(UDP_FLOOD, CLIENT4, ','.join(dsts), sports[0], sports[-1] + 1, dports[0],
                                  dports[-1] + 1, timeout=timeout)
        return int(proc.stdout.decode().strip())


def _tuple_values(line, key):
    """The values of key= in a conntrack(8) line, in order (original direction first, then reply)."""
    return [token.split('=', 1)[1] for token in line.split() if token.startswith(key + '=')]


def _in_net(address, network):
    addr = ipaddress.ip_address(address)
    net = ipaddress.ip_network(network)
    return addr.version == net.version and addr in net


# -- filter cases: module parameters, and the reference they are checked against --------------------------------
# (name, module parameters, conntrack -L arguments, test on a `conntrack -L -o extended,id` line). The reference
# is conntrack(8) with the equivalent arguments when it has them, else the line test.
FILTER_CASES = [
    ('all', {}, [], None),
    ('tcp', {'protocol': 'tcp'}, ['-p', 'tcp'], None),
    ('udp_dport_closed', {'protocol': 'udp', 'destination_port': UDP_CLOSED_PORT},
     ['-p', 'udp', '--dport', str(UDP_CLOSED_PORT)], None),
    ('udp4_dport_closed', {'family': 'ipv4', 'protocol': 'udp', 'destination_port': UDP_CLOSED_PORT},
     ['-f', 'ipv4', '-p', 'udp', '--dport', str(UDP_CLOSED_PORT)], None),
    ('udp_sport', {'protocol': 'udp', 'source_port': 41003}, ['-p', 'udp', '--sport', '41003'], None),
    ('source4', {'source': CLIENT4}, ['-s', CLIENT4], None),
    ('destination6', {'destination': NODE6}, ['-f', 'ipv6', '-d', NODE6], None),
    ('source_net', {'source': '198.18.210.0/24'}, ['-s', '198.18.210.0/24'], None),
    ('ipv6', {'family': 'ipv6'}, ['-f', 'ipv6'], None),
    ('icmp', {'protocol': 'icmp'}, ['-p', 'icmp'], None),
    ('icmpv6', {'protocol': 'icmpv6'}, ['-f', 'ipv6', '-p', 'icmpv6'], None),
    ('established', {'state': ['ESTABLISHED']}, ['-p', 'tcp', '--state', 'ESTABLISHED'], None),
    ('time_wait', {'state': ['TIME_WAIT']}, ['-p', 'tcp', '--state', 'TIME_WAIT'], None),
    ('mark', {'mark': MARK}, ['--mark', str(MARK)], None),
    ('mark_masked', {'mark': '0x40', 'mark_mask': '0xf0'}, ['--mark', '0x40/0xf0'], None),
    ('mark_zero', {'mark': 0}, ['--mark', '0'], None),
    ('zone7', {'zone': 7}, ['--zone', '7'], None),
    # conntrack(8) compares CTA_ZONE only; the kernel (6.8+) and the module also match a one-direction zone
    ('zone_orig8', {'zone': 8}, None, lambda line: 'zone-orig=8 ' in line),
    ('assured', {'status': ['ASSURED']}, ['-u', 'ASSURED'], None),
    ('seen_reply', {'status': ['SEEN_REPLY']}, ['-u', 'SEEN_REPLY'], None),
    ('unreplied', {'unreplied': True}, None, lambda line: '[UNREPLIED]' in line),
    ('not_assured_udp', {'protocol': 'udp', 'status': ['!ASSURED']}, None,
     lambda line: line.split()[2] == 'udp' and '[ASSURED]' not in line),
    # conntrack --dst-nat also lists ICMP echo entries (the type differs in the reply); DST_NAT is the status bit
    ('dnat', {'status': ['DST_NAT']}, None, lambda line: ' dport=%d ' % TCP_DNAT_PORT in line),
    ('source6', {'source': CLIENT6}, ['-f', 'ipv6', '-s', CLIENT6], None),
    ('udp6_source_dport', {'source': CLIENT6, 'protocol': 'udp', 'destination_port': UDP_CLOSED_PORT},
     ['-f', 'ipv6', '-s', CLIENT6, '-p', 'udp', '--dport', str(UDP_CLOSED_PORT)], None),
    ('reply_destination_net', {'reply_destination': '198.18.210.0/25'}, None,
     lambda line: _in_net(_tuple_values(line, 'dst')[1], '198.18.210.0/25')),
    ('reply_source', {'reply_source': NODE4, 'protocol': 'tcp'}, ['-p', 'tcp', '--reply-src', NODE4], None),
    ('reply_port_dnat', {'protocol': 'tcp', 'destination_port': TCP_DNAT_PORT},
     ['-p', 'tcp', '--dport', str(TCP_DNAT_PORT)], None),
    ('combined', {'protocol': 'udp', 'source': CLIENT4, 'destination_port': UDP_MARK_PORT, 'mark': MARK},
     ['-p', 'udp', '-s', CLIENT4, '--dport', str(UDP_MARK_PORT), '--mark', str(MARK)], None),
    ('nothing', {'protocol': 'sctp'}, ['-p', 'sctp'], None),
]


# -- conntrack(8) output, the reference the module is checked against -----------------------------------------

LINE_ID = re.compile(r'\bid=(\d+)\s*$')


def conntrack_ids(node_exec, args=()):
    """Entry ids `conntrack -L <args> -o id` prints in the node (a set)."""
    proc = node_exec(['conntrack', '-L'] + list(args) + ['-o', 'id'], check=False)
    out = proc.stdout.decode() if isinstance(proc.stdout, bytes) else proc.stdout
    ids = set()
    for line in out.splitlines():
        match = LINE_ID.search(line)
        if match:
            ids.add(int(match.group(1)))
    return ids


def conntrack_lines(node_exec):
    """`conntrack -L -o extended,id` lines of the node."""
    proc = node_exec(['conntrack', '-L', '-o', 'extended,id'], check=False)
    out = proc.stdout.decode() if isinstance(proc.stdout, bytes) else proc.stdout
    return [line for line in out.splitlines() if LINE_ID.search(line)]


def expected_ids(node_exec, case):
    """The reference ids of a FILTER_CASES entry in the node."""
    _name, _params, args, line_test = case
    if args is not None:
        return conntrack_ids(node_exec, args)
    return set(int(LINE_ID.search(line).group(1)) for line in conntrack_lines(node_exec) if line_test(line))


def conntrack_count(node_exec):
    proc = node_exec(['conntrack', '-C'])
    out = proc.stdout.decode() if isinstance(proc.stdout, bytes) else proc.stdout
    return int(out.strip())
