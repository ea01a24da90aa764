# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packet paths: events of one host grouped into packets, resolved step by step, with the packet's verdict.

Monitor formats carry a trace id, but the kernel reuses it for later packets, so a packet also ends when the
packet fields change or its first step comes round again. Legacy kernel lines have no id: they are grouped by
fields that stay the same along the path (source, IP id, protocol, source port or ICMP id/sequence, length,
flow label; not the destination, which DNAT changes) within a short time window.
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.base_chains import (
    BACKEND_RANK, HOOK_RANK, chain_key, comes_after, describe,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import LEGACY, NFTABLES, NF_TABLES

EFFECTS_FINAL = ('drop', 'reject')


class Packet:
    """One packet on one host, as the capture saw it (steps are interned step keys, see step_key)."""

    __slots__ = ('host', 'trace_id', 'format', 'family', 'time', 'ts', 'clock', 'fields', 'fingerprint',
                 'steps', 'logs', 'pairs', 'source', 'line', 'last_ts', 'last_fields')

    def __init__(self, host, event, source):
        self.host = host
        self.trace_id = event['trace_id']
        self.format = event['format']
        self.family = event['family']
        self.time = event['time']
        self.ts = event['ts']
        self.clock = event['clock']
        self.fields = None
        self.fingerprint = None
        self.steps = []
        self.logs = []
        self.pairs = set()
        self.source = source
        self.line = event['line']
        self.last_ts = event['ts']
        self.last_fields = None

    def see(self, fields):
        if not fields or fields is self.last_fields:  # lines of one packet usually share one fields dict
            return
        self.last_fields = fields
        if self.fields is None and fields.get('src'):
            self.fields = fields
        src = fields.get('src')
        dst = fields.get('dst')
        if src and dst:
            self.pairs.add((src, dst))


def step_key(event):
    """The parts of a step event that decide its resolution; equal keys resolve to one shared step."""
    return (event['format'], event['family'], event['table'], event['chain'], event['kind'], event['rulenum'],
            event['handle'], event['verdict'], event['target_chain'], event['rule'])


def _kernel_fingerprint(event):
    f = event['packet']
    # Not the TCP sequence either: LOG lines carry it only with --log-tcp-sequence, TRACE lines always.
    return (event['family'], f.get('src'), f.get('ip_id'), f.get('proto'), f.get('sport'), f.get('icmp_id'),
            f.get('icmp_seq'), f.get('len'), f.get('flowlabel'))


def _monitor_fingerprint(fields):
    if not fields.get('src'):
        return None  # a conntrack: line, or a packet line without addresses: it says nothing about identity
    return (fields.get('src'), fields.get('ip_id'), fields.get('icmp_id'), fields.get('icmp_seq'),
            fields.get('sport'), fields.get('flowlabel'))


class Grouper:
    """Feed events of one host in capture order with add(); packets holds the result."""

    def __init__(self, host, window=2.0):
        self.host = host
        self.window = window
        self.packets = []
        self.unparsed = 0
        self.events = 0
        self._by_trace = {}
        self._by_fields = {}
        self._keys = {}
        self._fingerprints = {}
        self._since_prune = 0

    def start_file(self):
        """A packet never continues across files (and trace ids of different monitors must not mix)."""
        self._by_trace = {}
        self._by_fields = {}

    def _intern(self, event):
        key = step_key(event)
        return self._keys.setdefault(key, key)

    def _new(self, event, source):
        packet = Packet(self.host, event, source)
        self.packets.append(packet)
        return packet

    def add(self, event, source=None):
        self.events += 1
        kind = event['kind']
        if kind == 'unparsed':
            self.unparsed += 1
        elif event['trace_id'] is not None:
            self._add_traced(event, kind, source)
        else:
            self._add_kernel(event, kind, source)

    def _expired(self, packet, ts):
        return ts is not None and packet.last_ts is not None and ts - packet.last_ts > self.window

    def _add_traced(self, event, kind, source):
        trace_id = event['trace_id']
        current = self._by_trace.get(trace_id)
        ts = event['ts']
        if kind == 'packet':
            fields = event['packet'] or {}
            fingerprint = _monitor_fingerprint(fields)
            if current is None or self._expired(current, ts) or (
                    fingerprint is not None and current.fingerprint is not None
                    and fingerprint != current.fingerprint):
                current = self._new(event, source)
                self._by_trace[trace_id] = current
            if current.fingerprint is None:
                current.fingerprint = fingerprint
            current.see(fields)
        else:
            key = self._intern(event)
            if current is None or self._expired(current, ts) or (current.steps and current.steps[0] == key):
                current = self._new(event, source)
                self._by_trace[trace_id] = current
            current.steps.append(key)
        current.last_ts = ts

    def _fingerprint(self, event):
        """Memoised per packet dict: the lines of one packet share it (the entry keeps the dict alive, so its
        id cannot be reused while cached)."""
        fields = event['packet']
        entry = self._fingerprints.get(id(fields))
        if entry is not None and entry[0] is fields:
            return entry[1]
        fingerprint = _kernel_fingerprint(event)
        if len(self._fingerprints) > 256:
            self._fingerprints.clear()
        self._fingerprints[id(fields)] = (fields, fingerprint)
        return fingerprint

    def _add_kernel(self, event, kind, source):
        # the hot path of a legacy capture: the helpers' work is inlined where it is one lookup
        fields = event['packet']
        memo = self._fingerprints.get(id(fields))
        fingerprint = memo[1] if memo is not None and memo[0] is fields else self._fingerprint(event)
        current = self._by_fields.get(fingerprint)
        ts = event['ts']
        expired = current is not None and ts is not None and current.last_ts is not None and \
            ts - current.last_ts > self.window
        if kind == 'log':
            if current is None or expired:
                current = self._new(event, source)
                current.fingerprint = fingerprint
                self._by_fields[fingerprint] = current
            current.logs.append(event['prefix'])
        else:
            key = self._intern(event)
            if current is None or expired or current.steps and current.steps[0] == key:
                current = self._new(event, source)
                current.fingerprint = fingerprint
                self._by_fields[fingerprint] = current
            current.steps.append(key)
        if fields is not current.last_fields:
            current.see(fields)
        current.last_ts = ts
        self._since_prune += 1
        if self._since_prune > 50000 and ts is not None:
            self._prune(ts)

    def _prune(self, ts):
        """Forget finished packets so that the lookup table stays small on long captures."""
        self._since_prune = 0
        limit = ts - self.window
        self._by_fields = {k: p for k, p in self._by_fields.items() if p.last_ts is None or p.last_ts >= limit}


def resolve_path(packet, resolver):
    """Resolved steps of a packet; user chains inherit the hook of the base chain that led to them."""
    previous = None
    path = []
    for key in packet.steps:
        previous = resolver.resolve(key, previous)
        path.append(previous)
    return path


def kernel_order(paths):
    """The steps of one packet from several sources (kernel log, monitor) as the kernel ran them: by hook, then
    priority; each source keeps its own order, and the chains of one (hook, priority) stay together by backend."""
    keyed = []
    for source, path in enumerate(paths):
        for index, step in enumerate(path):
            priority = step['priority'] if step['priority'] is not None else 0
            keyed.append(((HOOK_RANK.get(step['hook'], 1), priority, BACKEND_RANK.get(step['backend'], 3), source,
                           index), step))
    keyed.sort(key=lambda item: item[0])
    return [step for _key, step in keyed]


def _unfinished(sources):
    """The first base chain whose traversal one source shows without its end (the chain's last step in that
    source is no accept: lines were lost, or the capture ended), as (step, reason), or None. A base chain is left
    only by an accept or a drop, so every finished chain ends in one."""
    for path in sources:
        for index, step in enumerate(path):
            if step['base'] is None:
                return step, 'the trace of %s/%s has no base chain before it (its first lines are missing)' % (
                    step['table'], step['chain'])
            last_of_chain = index + 1 == len(path) or path[index + 1]['base'] != step['base']
            if last_of_chain and step['effect'] != 'accept':
                return step, 'the trace of %s/%s stops at %s/%s (%s) without a verdict (lines missing?)' % (
                    step['base'][2], step['base'][3], step['table'], step['chain'], step['kind'])
    return None


def _credited(path):
    """The step an accept is credited to: the last explicit accept rule outside nat chains (a nat chain's accept
    only means "translated"); else the last accepting policy of a filter table; else the last accept."""
    accepts = [step for step in path if step['effect'] == 'accept' and step['chain_type'] != 'nat']
    rules = [step for step in accepts if step['kind'] == 'rule']
    filters = [step for step in accepts if step['table'] == 'filter']
    return (rules or filters or accepts or [step for step in path if step['effect'] == 'accept'])[-1]


def _passed_unseen(path, sources, chains, seen, hooks):
    """A base chain the packet must have passed (at a hook on its path, after where its backend's trace starts
    and before its last step) that is missing from a source that traces that backend: lines were lost, or two
    packets were merged wrongly. None when there is none. seen: the base chains on the path; hooks: its hooks."""
    last = path[-1]
    for source in sources:
        first = source[0]
        backends = (LEGACY,) if first['backend'] == LEGACY else (NF_TABLES, NFTABLES)
        for chain in chains:
            if not chain['can_drop'] or chain['backend'] not in backends or chain['hook'] not in hooks or \
                    chain_key(chain) in seen:
                continue
            priority = chain['priority']
            if chain['hook'] == first['hook'] and None not in (priority, first['priority']) and \
                    priority < first['priority']:
                continue  # runs before this backend's trace starts
            if chain['hook'] == last['hook'] and (None in (priority, last['priority']) or priority >= last['priority']):
                continue  # not passed for sure: the check for later chains covers it
            return chain
    return None


def decide(path, chains, blind=None, sources=None):
    """(verdict, deciding step or None, reason or None): accept, drop, reject, or unknown with the reason.

    path: the packet's steps in kernel order; sources: the steps per source before merging (default [path]);
    chains: the base chains (base_chains dicts, every backend) that the packet's family meets; blind: why some
    backend's chains are not known (no usable snapshot, say), which rules out an accept. A packet is
    accepted only when every base chain on its path was seen to its end, the path ends in an accept past the
    routing decision (a packet last seen at prerouting may still be dropped by routing or rp_filter), and no base
    chain that could come later (later at the same hook, or at a hook the packet can still reach) and can drop is
    missing from the path: a chain missing there was either not traced (another backend) or not reached, and
    either way its verdict is not known.
    """
    for step in path:
        if step['effect'] in EFFECTS_FINAL:
            return step['effect'], step, None
    if not path:
        return 'unknown', None, 'no step of the packet was traced'
    last = path[-1]
    if last['effect'] != 'accept':
        return 'unknown', None, 'the trace ends at %s/%s (%s) without a verdict' % (
            last['table'], last['chain'], last['kind'])
    if blind:
        return 'unknown', None, blind
    hooks = set(step['hook'] for step in path)
    if 'output' in hooks and hooks & {'prerouting', 'input'}:
        # a packet to a local address goes out and in again through lo: its hooks do not follow the one order
        # the later-chain check knows, so no accept is backed
        return 'unknown', None, 'the packet went out and came in again (loopback): which chains came after its ' \
            'last step is not known'
    sources = sources if sources is not None else [path]
    gap = _unfinished(sources)
    if gap is not None:
        return 'unknown', None, gap[1]
    seen = set(step['base'] for step in path)
    unseen = _passed_unseen(path, sources, chains, seen, hooks)
    if unseen is not None:
        return 'unknown', None, 'the packet passed %s but the trace of that backend does not show it (lines lost, ' \
            'or two packets taken for one)' % describe(unseen)
    missing = [c for c in chains if c['can_drop'] and chain_key(c) not in seen
               and comes_after(c, last['hook'], last['priority'])]
    if missing:
        names = [describe(c) for c in missing[:3]]
        more = ' and %d more' % (len(missing) - 3) if len(missing) > 3 else ''
        return 'unknown', None, 'accepted at %s/%s, but %s%s could still drop it and %s not in the trace' % (
            last['table'], last['chain'], '; '.join(names), more, 'is' if len(missing) == 1 else 'are')
    if last['hook'] in ('ingress', 'prerouting'):
        return 'unknown', None, 'last seen at %s/%s (%s): no later chain saw it, so whether routing delivered or ' \
            'dropped it is not known' % (last['table'], last['chain'], last['hook'])
    return 'accept', _credited(path), None


def ip_family(packet):
    """ip or ip6, from the packet's addresses (an nft monitor event names its table's family, such as inet); None
    when no line gave an address (then the chains of every IP family count)."""
    src = (packet.fields or {}).get('src')
    if src:
        return 'ip6' if ':' in src else 'ip'
    return {'ip': 'ip', 'ip6': 'ip6'}.get(packet.family)


# Fields both sources print of a packet's first line (before any NAT): a group's members must agree on each.
_SAME_IF_BOTH = ('dst', 'proto', 'len', 'ttl', 'hoplimit', 'sport', 'dport', 'icmp_id', 'icmp_seq', 'tcp_seq')
_SAME_IF_BOTH_V6 = tuple(name for name in _SAME_IF_BOTH if name != 'len')


def _merge_key(packet):
    """What both the kernel log and a monitor print of a packet and no rule changes before they see it: the
    source address and the IPv4 id (IPv6: the flow label). Packet fields are the first ones each source saw."""
    fields = packet.fields or {}
    src = fields.get('src')
    ident = fields.get('flowlabel' if ':' in (src or '') else 'ip_id')
    if not src or ident is None:
        return None
    return (src, ident)


def _agree(members, window):
    for index, packet in enumerate(members):
        fields = packet.fields or {}
        # IPv6 lengths differ by source for one packet (kernel LEN= counts the header, nft the payload)
        names = _SAME_IF_BOTH if ':' not in (fields.get('src') or '') else _SAME_IF_BOTH_V6
        for other_packet in members[index + 1:]:
            other = other_packet.fields or {}
            for name in names:
                if fields.get(name) is not None and other.get(name) is not None and fields[name] != other[name]:
                    return False
            if packet.ts is not None and other_packet.ts is not None and packet.clock == other_packet.clock and \
                    abs(packet.ts - other_packet.ts) > window:
                return False
    return True


def merge_sources(packets, window=2.0):
    """Packets of one host -> groups (lists, in capture order) of packets that are one packet seen by several
    sources.

    On a node traced through more than one backend, the kernel log (legacy TRACE) and the trace monitor
    (nf_tables) each describe the same packet. Packets with the same merge key are joined only when the pairing is
    certain: every source saw the same number of them, the n-th of each source pair up, and every pair agrees on
    the fields both print (and on time, where both have one on the same clock). Otherwise (a source lost or
    rate-limited one, or the key is reused too often to tell) they stay separate records, whose partial paths
    the verdict rule then treats as not seen to the end.
    """
    if len(set(packet.format for packet in packets)) < 2:
        return [[packet] for packet in packets]
    by_key = {}
    for index, packet in enumerate(packets):
        key = _merge_key(packet)
        if key is not None:
            by_key.setdefault(key, {}).setdefault(packet.format, []).append(index)
    group_of = {}
    for sources in by_key.values():
        counts = set(len(indexes) for indexes in sources.values())
        if len(sources) < 2 or len(counts) != 1:
            continue
        for members in zip(*sources.values()):
            if _agree([packets[i] for i in members], window):
                first = min(members)
                for i in members:
                    group_of[i] = first
    groups = {}
    for index in range(len(packets)):
        groups.setdefault(group_of.get(index, index), []).append(packets[index])
    return [groups[first] for first in sorted(groups)]
