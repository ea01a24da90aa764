# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's drops (each host's drop-reasons.json, from its run's skb:kfree_skb instance) joined to the traced
packets. Pure.

The event carries no addresses, so the join goes by time, IP family and where the packet was last seen:
- a NETFILTER_DROP joins a packet a rule dropped (the record keeps both: the rule, and the kernel's location, which
  tells nf_tables (nft_do_chain) from xtables-legacy (nf_hook_slow) on recent kernels; 6.1 says nf_hook_slow for
  both), else a packet no rule dropped (conntrack's own drop: a full table);
- any other reason joins a packet no rule dropped, last seen where that drop can happen: a reason of the send
  path (neighbour, qdisc, no route out) after output/postrouting/forward, any other after prerouting/input;
- within JOIN_WINDOW seconds of the packet's time, best first over all pairs (rank, then the nearest), one drop per
  packet; a NETFILTER_DROP of a packet no rule dropped only for a host whose conntrack counted as many drops.
NOT_SPECIFIED drops are never joined (the kernel gives no reason: any code path) and are counted apart. Network
namespaces share one kernel (the netns lab): the hosts whose files come from one kernel (same boot id) share one
pool of drops, so a drop is counted once and joined to the packet of whichever of them it fits. Kernel-log lines
that carry only the kernel's own stamp are joined by the drop's own stamp (the instance's trace clock is the
kernel's local clock, the kernel log's).
"""

from __future__ import annotations

import bisect
import json

from ansible_collections.netdebug.netfilter.plugins.module_utils._drops.reasons import NETFILTER_DROP, NOT_SPECIFIED

# The monitors stamp a line when they read it and the kernel log when it gets it: a little after the kernel's drop.
JOIN_WINDOW = 1.0
SEND_PATH_PREFIXES = ('NEIGH_', 'QDISC_', 'IP_OUTNOROUTES', 'TC_EGRESS', 'BPF_CGROUP_EGRESS', 'FQ_', 'CAKE_',
                      'DUALPI2_', 'TUNNEL_TXINFO', 'NO_TX_TARGET', 'IPV6DISABLED')
SEND_HOOKS = ('output', 'postrouting', 'forward')
# Reasons of the routing decision (after prerouting, before input or forward); the other receive reasons come with
# local delivery (after input).
ROUTING_REASONS = frozenset(('IP_RPFILTER', 'IP_INADDRERRORS', 'IP_INNOROUTES', 'IP_LOCAL_SOURCE', 'IP_INVALID_SOURCE',
                             'IP_INVALID_DEST', 'OTHERHOST', 'UNICAST_IN_L2_MULTICAST', 'XFRM_POLICY'))
ROUTING_HOOKS = ('ingress', 'prerouting')
NFT_CHAIN_WALK = 'nft_do_chain'
CONNTRACK_HOOKS = ('prerouting', 'output')
# Drops the kernel reports for packets that were delivered all the same: an ICMP echo reply that no ping socket
# took is freed as NO_SOCKET in ping_rcv after a raw socket (ping as root) got its copy. Never joined to a packet.
NEVER_JOINED = frozenset(('ping_rcv',))
# (protocol, (reason prefix, kernel function prefixes...)): what a drop's reason or location says of its protocol
PROTOCOL_WORDS = (('tcp', ('TCP_', 'tcp')), ('udp', ('UDP_', 'udp')), ('icmp', ('ICMP', 'icmp', 'ping')))
RECEIVE_HOOKS = ('ingress', 'prerouting', 'input')
FAMILIES = {'ip': 'ipv4', 'ip6': 'ipv6'}
# conntrack counters whose growth over the window is a finding: drops for lack of room or a lost insert race, then
# packets conntrack could not track and lookups that had to start again
WATCHED_COUNTERS = ('insert_failed', 'drop', 'early_drop', 'invalid', 'search_restart')
NOT_BY_A_RULE = {False: 'dropped by the kernel, not by a rule',
                 True: 'dropped by netfilter, not by a traced rule (conntrack, or a chain not traced)'}


class HostDrops:
    """One host's drop-reasons.json: events [(time, family, reason, location, kernel stamp)], the time on the node's
    wall clock, the stamp on the kernel's trace clock (the same drop has the same stamp in every instance)."""

    def __init__(self, data):
        if not isinstance(data, dict) or not isinstance(data.get('events'), list):
            raise ValueError('not a drop-reasons record (no events list)')
        self.events = []
        for item in data['events']:
            if not (isinstance(item, list) and len(item) == 5
                    and all(isinstance(item[i], (int, float)) and not isinstance(item[i], bool) for i in (0, 4))):
                raise ValueError('bad event %r' % (item,))
            self.events.append((float(item[0]), str(item[1]), str(item[2]), item[3], item[4]))
        self.kernel = data.get('kernel')
        self.boot_id = data.get('boot_id')
        self.lost = data.get('lost') or 0
        self.conntrack = conntrack_window(data.get('conntrack'))


def conntrack_window(recorded):
    """The host's conntrack over the window from the counters at the start and at the stop: {'deltas': {counter:
    growth} of the counters that grew, 'count', 'max'}; None without both readings."""
    recorded = recorded or {}
    start, stop = recorded.get('start'), recorded.get('stop')
    if not (isinstance(start, dict) and isinstance(stop, dict)):
        return None
    before, after = start.get('counters') or {}, stop.get('counters') or {}
    deltas = dict((name, after[name] - before.get(name, 0)) for name in WATCHED_COUNTERS
                  if isinstance(after.get(name), int) and after[name] > before.get(name, 0))
    return {'deltas': deltas, 'count': stop.get('count'), 'max': stop.get('max')}


def conntrack_drops(window):
    """Packets the host's conntrack dropped over the window (no room, a lost insert race): 0 when not known."""
    deltas = (window or {}).get('deltas') or {}
    return deltas.get('drop', 0) + deltas.get('insert_failed', 0)


def load(text):
    return HostDrops(json.loads(text))


def send_path(reason):
    return reason.startswith(SEND_PATH_PREFIXES)


def _rank(record, last_hook, reason, location):
    """How well a drop fits a record (lower is better), None when it cannot be this packet's drop.

    A NETFILTER_DROP is a rule's drop first (never a legacy rule's where the kernel names nf_tables' chain walk);
    else conntrack's own (a full table) or a chain nobody traced, on any packet no rule dropped. Any other reason
    fits a packet no rule dropped, last seen where that drop happens: routing after prerouting, local delivery
    after input, the send path after output, forward or postrouting; any receive hook is a weaker fit (a node
    whose input hook has no chain shows the packet last at prerouting)."""
    dropped = record['verdict'] in ('drop', 'reject')
    if reason == NETFILTER_DROP:
        if dropped:
            legacy = (record['verdict_rule'] or {}).get('backend') == 'legacy'
            return None if legacy and location == NFT_CHAIN_WALK else 0
        # conntrack drops at its own hooks (prerouting, output): a packet last seen there first
        return 2 if last_hook in CONNTRACK_HOOKS else (3 if last_hook else None)
    if dropped:
        return None
    if send_path(reason):
        return 0 if last_hook in SEND_HOOKS else None
    if reason in ROUTING_REASONS:  # past routing (input, forward) the packet was not dropped there
        return 0 if last_hook in ROUTING_HOOKS else None
    if last_hook == 'input':
        return 0
    return 1 if last_hook in ROUTING_HOOKS else None


def kernels(hosts):
    """{kernel key: [host names]}: hosts whose drops come from one kernel (same boot id and release) share a key."""
    groups = {}
    for name, drops in hosts.items():
        key = (drops.boot_id, drops.kernel) if drops.boot_id else (name,)
        groups.setdefault(key, []).append(name)
    return groups


def pooled_host(hosts, names):
    """The host whose file stands for the kernel: every instance on one kernel records every drop (each stamps it
    a few microseconds apart), so the one that recorded the most."""
    return max(names, key=lambda n: (len(hosts[n].events), n))


def pool(hosts, names, corrections):
    """The kernel's drops, [(time on the controller's clock, family, reason, location, kernel stamp)] sorted: those
    of pooled_host()."""
    name = pooled_host(hosts, names)
    correction = corrections.get(name) or 0.0
    events = [(stamp - correction, family, reason, location, kernel_stamp)
              for stamp, family, reason, location, kernel_stamp in hosts[name].events]
    events.sort(key=lambda e: (e[0], e[2]))
    return events


def drop_protocol(reason, location):
    """The transport protocol a drop belongs to where its reason or kernel function says (TCP_*, tcp_v4_rcv,
    UDP_CSUM, __udp4_lib_rcv, icmp_rcv, ...), else None."""
    for name, words in PROTOCOL_WORDS:
        if reason.startswith(words[0]) or (location or '').lstrip('_').startswith(words[1:]):
            return name
    return None


def _timed(records, names):
    """The records of the hosts, sorted by time in each of two clocks: the controller's wall clock, and the kernel's
    local clock (kernel-log lines that carry only that)."""
    wall, boot = [], []
    for index, record in enumerate(records):
        if record['host'] not in names:
            continue
        if record.get('controller_ts') is not None:
            wall.append((record['controller_ts'], index))
        elif record.get('clock') == 'boot' and record.get('ts') is not None:
            boot.append((record['ts'], index))
    wall.sort()
    boot.sort()
    return [(wall, [t for t, _i in wall]), (boot, [t for t, _i in boot])]


def _pairs(records, last_hooks, clocks, events):
    """Every (rank, distance, event, record) that could be a join, within the window."""
    pairs = []
    for number, (stamp, family, reason, location, kernel_stamp) in enumerate(events):
        if reason == NOT_SPECIFIED or location in NEVER_JOINED:
            continue
        protocol = drop_protocol(reason, location)
        for (timed, times), when in zip(clocks, (stamp, kernel_stamp)):
            for ts, index in timed[bisect.bisect_left(times, when - JOIN_WINDOW):
                                   bisect.bisect_right(times, when + JOIN_WINDOW)]:
                record = records[index]
                if FAMILIES.get(record['family'], family) != family or record.get('kernel_drop') is not None:
                    continue
                proto = record['summary'].get('proto')
                if proto and protocol not in (None, proto.replace('icmpv6', 'icmp')):
                    continue  # a TCP drop is never a UDP packet's
                rank = _rank(record, last_hooks[index], reason, location)
                if rank is not None:
                    pairs.append((rank, abs(ts - when), number, index))
    pairs.sort()
    return pairs


def join(records, last_hooks, names, events, conntrack_drops=None):
    """Join the kernel's drops to the records of its hosts (names); a joined record gets 'kernel_drop' and, where no
    rule dropped it, the verdict drop with the reason. events: pool(). Every pair that could be a join is taken
    best first (rank, then nearest in time), each drop and each record once. A NETFILTER_DROP of a packet no rule
    dropped is conntrack's own: taken only for a host whose conntrack counted drops, at most that many
    (conntrack_drops: {host: count}). Returns the drops joined to no packet and (index, verdict before) of the
    records whose verdict became drop."""
    budget = dict(conntrack_drops or {})
    joined, taken, flipped = set(), set(), []
    for rank, _distance, number, index in _pairs(records, last_hooks, _timed(records, names), events):
        if number in joined or index in taken:
            continue
        record = records[index]
        if rank >= 2:  # conntrack's own drop
            if budget.get(record['host'], 0) <= 0:
                continue
            budget[record['host']] -= 1
        stamp, _family, reason, location, _kernel_stamp = events[number]
        joined.add(number)
        taken.add(index)
        record['kernel_drop'] = {'reason': reason, 'location': location, 'ts': round(stamp, 6)}
        if record['verdict'] not in ('drop', 'reject'):
            flipped.append((index, record['verdict']))
            record['verdict'], record['verdict_rule'] = 'drop', None  # an accept on the path did not decide
            record['verdict_reason'] = '%s: %s%s, after %s' % (
                NOT_BY_A_RULE[reason == NETFILTER_DROP], reason, ' (%s)' % location if location else '',
                last_hooks[index])
    unjoined = [event[:4] for number, event in enumerate(events) if number not in joined]
    return unjoined, flipped


def counts(events):
    """[{'reason', 'location', 'family', 'packets'}] per reason, location and family, most first."""
    table = {}
    for _stamp, family, reason, location in events:
        key = (reason, location, family)
        table[key] = table.get(key, 0) + 1
    return [{'reason': r, 'location': loc, 'family': fam, 'packets': n}
            for (r, loc, fam), n in sorted(table.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1]), kv[0][2]))]
