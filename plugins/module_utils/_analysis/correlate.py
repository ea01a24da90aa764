# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cross-node correlation: the same packet seen on several hosts becomes one journey.

Two packets on different hosts are the same when they have the same IPv4 id (or, for IPv6, the same ICMP
id/sequence or ports), share an address pair, and - when both clocks are wall clocks - were first seen within
`window` seconds. NAT is allowed for through each host's conntrack snapshot: a packet whose addresses match one
direction of an entry also counts as carrying the translated addresses of that entry.
"""

from __future__ import annotations

import json
import re

_KV = re.compile(r'(\w+)=(\S+)')


def parse_conntrack_text(text):
    """`conntrack -L` output -> entries [{'proto', 'original': {src, dst, sport, dport}, 'reply': {...}}]."""
    entries = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not _KV.search(line):
            continue
        tuples = []
        current = None
        for key, value in _KV.findall(line):
            if key == 'src':
                current = {'src': value}
                tuples.append(current)
            elif current is not None and key in ('dst', 'type', 'code', 'id'):
                current[key] = value
            elif current is not None and key in ('sport', 'dport') and value.isdigit():
                current[key] = int(value)
        if len(tuples) >= 2:
            # 'udp 17 29 src=...', or with -o extended the layer-3 protocol first: 'ipv4 2 udp 17 29 src=...'
            proto = words[2] if words[0] in ('ipv4', 'ipv6') else words[0]
            entries.append({'proto': proto, 'original': tuples[0], 'reply': tuples[1],
                            'replied': '[UNREPLIED]' not in words})
    return entries


def _tuple(data):
    if not isinstance(data, dict):
        return None
    src = data.get('src', data.get('source'))
    dst = data.get('dst', data.get('destination'))
    if not src or not dst:
        return None
    found = {'src': str(src), 'dst': str(dst)}
    for key, names in (('sport', ('sport', 'source_port')), ('dport', ('dport', 'destination_port'))):
        value = next((data[name] for name in names if isinstance(data.get(name), int)), None)
        if value is not None:
            found[key] = value
    return found


def parse_conntrack_json(text):
    """conntrack.json ({'entries': [...]} as conntrack_query returns, or a bare list) -> entries."""
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get('entries', [])
    entries = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        original = _tuple(item.get('original', item.get('orig')))
        reply = _tuple(item.get('reply'))
        if original and reply:
            status = item.get('status')
            entries.append({'proto': item.get('protocol', item.get('proto')), 'original': original, 'reply': reply,
                            'replied': 'SEEN_REPLY' in status if isinstance(status, list) else None})
    return entries


def nat_aliases(entries):
    """(src, dst) -> set of (src, dst) the same packet has on the other side of a translation."""
    aliases = {}
    for entry in entries:
        orig = (entry['original']['src'], entry['original']['dst'])
        reply = (entry['reply']['src'], entry['reply']['dst'])
        translated = (reply[1], reply[0])  # the original direction after NAT
        if translated != orig:
            aliases.setdefault(orig, set()).add(translated)
            aliases.setdefault(translated, set()).add(orig)
            back = (orig[1], orig[0])  # the reply direction after un-NAT
            aliases.setdefault(reply, set()).add(back)
            aliases.setdefault(back, set()).add(reply)
    return aliases


def protocols(entries):
    """(src, dst, sport, dport) -> protocol name, both directions of every entry (ports None for ICMP and other
    portless protocols); a key that entries of different protocols share is left out."""
    found = {}
    for entry in entries:
        proto = entry.get('proto')
        if not isinstance(proto, str) or not proto or proto.isdigit() or proto == 'unknown':
            continue
        for side in (entry['original'], entry['reply']):
            key = (side['src'], side['dst'], side.get('sport'), side.get('dport'))
            found[key] = proto if found.get(key, proto) == proto else None
    return {key: proto for key, proto in found.items() if proto is not None}


def _ident(record):
    summary = record['summary']
    if summary.get('ip_id') is not None and record['family'] != 'ip6':
        return ('4', summary['ip_id'])
    if summary.get('icmp_seq') is not None:
        return ('6i', summary.get('icmp_id'), summary['icmp_seq'])
    if summary.get('sport') is not None and summary.get('dport') is not None:
        return ('6p', summary['sport'], summary['dport'])
    return None


def wall_time(record):
    """The record's wall-clock time on the controller's clock (the node's measured offset taken off), or None
    for a boot-clock or missing time."""
    if record['clock'] != 'wall' or record['ts'] is None:
        return None
    return record['ts'] - (record.get('_offset') or 0.0)


def hop_order(records, members, ttls, first_hooks):
    """A journey's records, first hop first.

    The IP TTL (IPv6 hop limit) falls by one at every router, so a higher TTL at a node's first step means an
    earlier hop; between equal TTLs the node where the packet was made (first step at output) comes first, then
    the earlier time on the controller's clock. Clocks alone would do only where they agree to well under a hop's
    latency, which measured offsets (a few ms) cannot promise.
    """
    def key(i):
        ttl = ttls[i]
        when = wall_time(records[i])
        made_here = 0 if first_hooks[i] == 'output' else 1
        return (-ttl if ttl is not None else 0, made_here, when is None, when or 0.0, records[i]['host'], i)

    if any(ttls[i] is None for i in members):
        return sorted(members, key=lambda i: key(i)[1:])
    return sorted(members, key=key)


def correlate(records, pairs_by_record, aliases_by_host, window=10.0):
    """Set record['journey'] (an int) on packets seen on more than one host; returns the journeys (lists of
    record indexes, in order of their first packet).

    records: packet records (dicts with host, ts, clock, family, summary); pairs_by_record: the address pairs
    each packet was seen with; aliases_by_host: nat_aliases() per host.
    """
    parent = list(range(len(records)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # wall-clock span of each component: a merge that would make it wider than the window is refused, so a
    # packet with a boot clock (comparable to nothing) cannot glue together packets that are far apart
    times = [wall_time(r) for r in records]
    span = [(t, t) if t is not None else None for t in times]

    def union(a, b):
        root_a, root_b = find(a), find(b)
        if root_a == root_b:
            return
        span_a, span_b = span[root_a], span[root_b]
        if span_a and span_b:
            merged = (min(span_a[0], span_b[0]), max(span_a[1], span_b[1]))
            if merged[1] - merged[0] > window:
                return
        else:
            merged = span_a or span_b
        parent[root_a] = root_b
        span[root_b] = merged

    buckets = {}
    for i, record in enumerate(records):
        ident = _ident(record)
        if ident is not None:
            buckets.setdefault(ident, []).append(i)
    expanded = {}

    def pairs_of(i):
        if i not in expanded:
            pairs = set(pairs_by_record[i])
            aliases = aliases_by_host.get(records[i]['host'], {})
            for pair in list(pairs):
                pairs |= aliases.get(pair, set())
            expanded[i] = pairs
        return expanded[i]

    for members in buckets.values():
        if len(members) < 2 or len(members) > 64:  # a huge bucket means a reused id, not one packet
            continue
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1:]:
                ra, rb = records[a], records[b]
                if ra['host'] == rb['host']:
                    continue
                pa, pb = ra['summary'].get('proto'), rb['summary'].get('proto')
                if pa and pb and pa != pb:
                    continue
                if times[a] is not None and times[b] is not None and abs(times[a] - times[b]) > window:
                    continue
                if pairs_of(a) & pairs_of(b):
                    union(a, b)
    groups = {}
    for i in range(len(records)):
        groups.setdefault(find(i), []).append(i)
    journeys = []
    for members in sorted((m for m in groups.values() if len(m) > 1), key=lambda m: m[0]):
        for i in members:
            records[i]['journey'] = len(journeys)
        journeys.append(members)
    return journeys
