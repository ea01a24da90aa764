# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conntrack table read as text, for nodes without pyroute2 (most fleets).

Two sources print the same line format: ``conntrack -L -o extended,id`` (conntrack-tools) and
``/proc/net/nf_conntrack`` (kernels built with CONFIG_NF_CONNTRACK_PROCFS). Each line becomes an entry shaped like
the netlink decoder's, so the same matcher, limit and bundle apply. What the text cannot say is left out: of the
status bits it shows SEEN_REPLY (no ``[UNREPLIED]``), ASSURED, OFFLOAD, HW_OFFLOAD and CONFIRMED (every listed
entry is), never the NAT or helper bits; /proc has no entry id; offloaded flows have no timeout. Stdlib only.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.query import Conntrack

PROC_TABLE = '/proc/net/nf_conntrack'
CLI_SOURCE = 'conntrack -L -o extended,id'  # run once per family
# key in a tuple -> the decoder's field name
TUPLE_FIELDS = {'src': 'source', 'dst': 'destination', 'sport': 'source_port', 'dport': 'destination_port',
                'type': 'icmp_type', 'code': 'icmp_code', 'id': 'icmp_id'}
COUNTER_FIELDS = ('packets', 'bytes')
INT_FIELDS = ('mark', 'zone', 'use', 'id')
ZONE_DIRECTIONS = {'zone-orig': 'original', 'zone-reply': 'reply'}
SHOWN_FLAGS = ('ASSURED', 'OFFLOAD', 'HW_OFFLOAD')
STATUS_ORDER = dict((name, bit) for name, bit in C.STATUS_BITS)


def _address(text):
    """Addresses as inet_ntop writes them (the decoder's form): /proc prints IPv6 uncompressed."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return text
    if addr.version == 6:
        return socket.inet_ntop(socket.AF_INET6, addr.packed)
    return addr.compressed


def _status(flags):
    names = {'CONFIRMED'} | set(flag for flag in flags if flag in SHOWN_FLAGS)
    # The kernel prints one of [HW_OFFLOAD], [OFFLOAD] and [ASSURED], the first that holds: the later ones are
    # implied (an offloaded flow is assured, a hardware-offloaded one is offloaded too).
    if 'HW_OFFLOAD' in names:
        names.add('OFFLOAD')
    if 'OFFLOAD' in names:
        names.add('ASSURED')
    if 'UNREPLIED' not in flags:
        names.add('SEEN_REPLY')
    return sorted(names, key=STATUS_ORDER.get)


def parse_line(line):
    """One line of either source -> an entry dict; ConntrackError when it is not such a line."""
    fields = line.split()
    try:
        entry = {'family': fields[0], 'protocol': fields[2], 'protocol_number': int(fields[3])}
    except (IndexError, ValueError):
        raise ConntrackError('not a conntrack table line: %r' % line) from None
    rest = fields[4:]
    if rest and rest[0].isdigit():  # offloaded flows (nft flowtables) are printed without a timeout
        entry['timeout'] = int(rest.pop(0))
    if rest and '=' not in rest[0] and not rest[0].startswith('['):
        entry['state'] = rest.pop(0)
    tuples, flags, in_tuple = [], [], False
    for word in rest:
        if word.startswith('[') and word.endswith(']'):
            flags.append(word[1:-1])
            continue
        key, _sep, value = word.partition('=')
        if key in ZONE_DIRECTIONS:  # CT --zone-orig / --zone-reply: printed inside the tuple
            entry['zone'], entry['zone_direction'] = int(value), ZONE_DIRECTIONS[key]
            continue
        if key == 'src' and len(tuples) < 2:
            tuples.append(({}, {}))
            in_tuple = True
        if in_tuple and key in TUPLE_FIELDS:
            name = TUPLE_FIELDS[key]
            tuples[-1][0][name] = _address(value) if key in ('src', 'dst') else int(value)
        elif in_tuple and key in COUNTER_FIELDS:
            tuples[-1][1][key] = int(value)
        else:
            in_tuple = False
            if key in INT_FIELDS:
                entry[key] = int(value)
            elif key in ('secctx', 'helper', 'labels'):
                entry[key] = value
    if len(tuples) != 2:
        raise ConntrackError('not a conntrack table line (it has %d address tuples, not 2): %r' % (len(tuples), line))
    entry['original'], entry['reply'] = tuples[0][0], tuples[1][0]
    if tuples[0][1] or tuples[1][1]:
        entry['counters'] = {'original': tuples[0][1], 'reply': tuples[1][1]}
    entry['status'] = _status(flags)
    entry.setdefault('zone', 0)  # conntrack(8) prints a zone only when it is not 0
    return entry


def parse_cpu_stats(text):
    """``conntrack -S`` (``cpu=0 found=0 invalid=0 ...`` per line) -> per-CPU dicts of counters by name."""
    cpus = []
    for line in text.splitlines():
        pairs = [word.partition('=') for word in line.split()]
        if not pairs or pairs[0][0] != 'cpu':
            continue
        try:
            cpus.append(dict((key, int(value)) for key, _sep, value in pairs))
        except ValueError:
            raise ConntrackError('conntrack -S printed a line that is not counters: %r' % line) from None
    return cpus


class TextConntrack(Conntrack):
    """Conntrack's listing, count and stats over the text sources (no netlink, no pyroute2). The per-CPU counters
    come from /proc/net/stat/nf_conntrack as with netlink, else from conntrack -S.

    runner: the shared ToolRunner; it finds the conntrack command. proc_table: /proc/net/nf_conntrack (tests)."""

    stats_source = 'conntrack -S'

    def __init__(self, runner, proc_table=None, release=None):  # pylint: disable=super-init-not-called
        self.runner = runner
        self.proc_table = proc_table or PROC_TABLE
        self.binary = runner.find('conntrack')
        self.source = CLI_SOURCE if self.binary else self.proc_table
        self.caps = _Caps(release or os.uname().release)
        self.kernel_filtered = ()
        self.kernel_fallback = None
        if not self.binary and not os.path.exists(self.proc_table):
            raise ConntrackError('neither pyroute2 (python3-pyroute2) nor the conntrack command (conntrack-tools) is '
                                 'on the node, and the kernel has no %s: install one of the first two' % self.proc_table)

    def _lines(self):
        if self.binary:
            # One family at a time: some conntrack-tools releases list IPv4 only when no family is given.
            return [line for family in ('ipv4', 'ipv6')
                    for line in self.runner.run([self.binary, '-L', '-f', family, '-o', 'extended,id']).stdout.splitlines()]
        try:
            with open(self.proc_table) as handle:
                return handle.read().splitlines()
        except OSError as exc:
            raise ConntrackError('cannot read %s: %s' % (self.proc_table, exc)) from None

    def scan(self, spec, keep_raw=False, use_kernel=True):
        match = spec.matcher()
        for line in self._lines():
            if line.strip():
                entry = parse_line(line)
                if match is None or match(entry):
                    yield entry

    def global_stats(self):
        return {}  # the caller reads nf_conntrack_count and nf_conntrack_max instead

    def cpu_stats(self):
        if not self.binary:
            raise ConntrackError('no per-CPU conntrack statistics: /proc/net/stat/nf_conntrack is missing and the '
                                 'conntrack command (conntrack-tools) is not installed')
        return parse_cpu_stats(self.runner.run([self.binary, '-S']).stdout)

    def close(self):
        pass


class _Caps:
    def __init__(self, release):
        self.release = release
