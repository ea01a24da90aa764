# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A capture bundle -> the report dict that report.json holds (and that report.md and report.html render)."""

from __future__ import annotations

import os
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis import conntrack_entries, kernel_drops
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.correlate import (
    correlate, hop_order, nat_aliases, protocols, wall_time,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.findings import findings
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.kubernetes import Namer, object_words
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.parse import iter_events
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.paths import (
    Grouper, Packet, decide, ip_family, kernel_order, merge_sources, resolve_path,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.resolve import (
    Resolver, SNAPSHOT_NAMES, Snapshot,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.words import (
    kernel_dropped, kernel_words, packet_words, rule_place,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.reader import (
    HostInput, load_manifest, open_lines,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.clock import least_offset
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.window import utc_text
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.gcpause import gc_paused

SUMMARY_KEYS = ('src', 'dst', 'proto', 'sport', 'dport', 'icmp_type', 'icmp_code', 'icmp_id', 'icmp_seq', 'ip_id',
                'in', 'out', 'len')
VERDICT_RULE_KEYS = ('table', 'chain', 'kind', 'rulenum', 'handle', 'rule', 'target', 'hook', 'family', 'backend',
                     'k8s')
PATH_STEP_KEYS = ('table', 'chain', 'kind', 'rulenum', 'handle', 'rule', 'target')
FULL_STEP_KEYS = PATH_STEP_KEYS + ('effect', 'hook', 'family', 'resolved', 'note', 'chain_type', 'base_chain',
                                   'backend', 'priority', 'k8s')


# A rule that matched names the packet's protocol: iptables "-p icmp" (not "! -p"), nft "ip protocol icmp",
# "meta l4proto tcp", or a protocol header match such as "icmp type" or "tcp dport".
_RULE_PROTO = re.compile(r'(?:^|\s)(?<!! )-p ([\w-]+)|\b(?:ip protocol|ip6 nexthdr|meta l4proto) ([\w-]+)'
                         r'|\b(icmp|icmpv6|tcp|udp|sctp) (?:type|code|dport|sport|flags)\b')
_PROTO_NAMES = {'ipv6-icmp': 'icmpv6', 'icmp6': 'icmpv6'}

# report.json's format; docs/schemas/report.schema.json describes it (a change of meaning is a new number).
FORMAT = 1


def capture_parameters(manifest):
    """What the capture was, from its manifest (merged parts): for the report's header."""
    windows = [entry['window'] for entry in manifest['hosts'].values()
               if isinstance(entry.get('window'), dict) and entry['window'].get('start') is not None]
    window = None
    if windows:
        start, end = min(w['start'] for w in windows), max(w['end'] for w in windows)
        window = {'start': start, 'end': end, 'start_utc': utc_text(start), 'end_utc': utc_text(end)}
    statuses = {}
    for entry in manifest['hosts'].values():
        status = entry.get('status') or 'unknown'
        statuses[status] = statuses.get(status, 0) + 1
    return {'kind': manifest.get('kind'), 'match': manifest.get('match'), 'duration': manifest.get('duration'),
            'backend': manifest.get('backend'), 'started_at': manifest.get('started_at'),
            'ended_at': manifest.get('ended_at'), 'ran_by': manifest.get('ran_by'), 'window': window,
            'hosts': dict(sorted(statuses.items()))}


def _summary(fields, path, conntrack):
    """The packet's summary. xtables-monitor prints no protocol (only TCP shows, by its flags): it is taken from
    a rule on the path that matched it, else from the host's conntrack entry of its addresses and ports."""
    fields = fields or {}
    summary = {key: fields[key] for key in SUMMARY_KEYS if fields.get(key) is not None}
    if 'proto' in summary:
        return summary
    for step in path:
        if step['kind'] == 'rule' and step['rule']:
            m = _RULE_PROTO.search(step['rule'])
            if m:
                name = next(group for group in m.groups() if group)
                summary['proto'] = _PROTO_NAMES.get(name, name)
                return summary
    if 'src' in summary and 'dst' in summary and 'frag' not in fields:
        name = conntrack.get((summary['src'], summary['dst'], summary.get('sport'), summary.get('dport')))
        if name:
            summary['proto'] = _PROTO_NAMES.get(name, name)
    return summary


def _journey_protocols(records, journeys):
    """A packet whose protocol no line of its host told takes it from the same packet on another host."""
    for members in journeys:
        names = {records[i]['summary']['proto'] for i in members if 'proto' in records[i]['summary']}
        if len(names) == 1:
            name = names.pop()
            for i in members:
                records[i]['summary'].setdefault('proto', name)


def _year(manifest):
    for key in ('started_at', 'created', 'ended_at'):
        value = manifest.get(key)
        if isinstance(value, str) and len(value) >= 4 and value[:4].isdigit():
            return int(value[:4])
    return None


def name_addresses(summary, objects):
    """Add 'src_k8s'/'dst_k8s' ('pod ns1/web-0', 'service ns1/svc1') to a packet summary where the Kubernetes
    objects the user gave know its addresses."""
    for key in ('src', 'dst'):
        pod = objects.pod(summary.get(key))
        service = objects.service(summary.get(key)) if pod is None else None
        found, what = (pod, 'pod') if pod is not None else (service, 'service')
        if found is not None:
            summary[key + '_k8s'] = '%s %s' % (what, object_words(found))


class _Host:
    """Per-host work: group the host's trace lines into packets and resolve them."""

    def __init__(self, name, entry, incident_dir, year, window, objects=None):
        self.input = HostInput(name, entry, incident_dir)
        self.name = name
        self.grouper = Grouper(name, window)
        files = self.input.snapshot_files()
        if not files and self.input.trace_files:
            self.input.errors.append('no ruleset snapshot: rule numbers and handles are not resolved to rules, and '
                                     'legacy chain policies stay unknown')
        self.snapshot = Snapshot(files)
        self.input.errors.extend(self.snapshot.errors)
        self.notes = []
        if files and SNAPSHOT_NAMES['nft'] not in files:
            self.notes.append('no %s snapshot (nft missing or failing on the node): native nftables chains, if the '
                              'node has any, are not known and not counted in the verdicts' % SNAPSHOT_NAMES['nft'])
        self.protocols = protocols(self.input.conntrack)
        self.resolver = Resolver(self.snapshot, Namer(self.snapshot, objects))
        self.incident_dir = incident_dir
        self.year = year

    def read(self):
        for path in self.input.trace_files:
            rel = os.path.relpath(path, self.incident_dir)
            self.grouper.start_file()
            try:
                with open_lines(path) as fh:
                    for event in iter_events(fh, host=self.name, year=self.year):
                        self.grouper.add(event, rel)
            except (OSError, EOFError, ValueError) as exc:  # e.g. a truncated .gz: keep what was read
                self.input.errors.append('reading %s stopped: %s' % (rel, exc))

    def records(self):
        """(packet, record, full path, index of the deciding step) per packet, in capture order; a packet that
        several sources saw (kernel log and monitor) is one record with their steps in kernel order."""
        compact_paths = {}  # packets that took the same steps share one compact path list and one rule dict
        rule_dicts = {}
        for group in merge_sources(self.grouper.packets, self.grouper.window):
            packet = group[0] if len(group) == 1 else _combined(group)
            paths = [resolve_path(member, self.resolver) for member in group]
            path = paths[0] if len(paths) == 1 else kernel_order(paths)
            family = ip_family(packet)
            verdict, step, reason = decide(path, self.snapshot.chains_for(family), self.snapshot.unseen(family),
                                           paths)
            signature = tuple(id(s) for s in path)  # resolved steps are shared objects, kept by the resolver
            compact = compact_paths.get(signature)
            if compact is None:
                compact = compact_paths[signature] = [{key: s[key] for key in PATH_STEP_KEYS} for s in path]
            deciding = rule = None
            if step is not None:
                positions = [i for i, s in enumerate(path) if s is step]
                deciding = positions[0] if verdict in ('drop', 'reject') else positions[-1]
                rule = rule_dicts.get(id(step))
                if rule is None:
                    rule = rule_dicts[id(step)] = {key: step[key] for key in VERDICT_RULE_KEYS}
            yield packet, {
                'host': self.name, 'trace_id': packet.trace_id, 'first_seen': packet.time, 'ts': packet.ts,
                'clock': packet.clock, 'format': packet.format, 'family': family,
                'source': packet.source, 'line': packet.line, 'summary': _summary(packet.fields, path, self.protocols), 'path': compact,
                'verdict': verdict, 'verdict_rule': rule, 'verdict_reason': reason, 'logs': packet.logs,
                'journey': None,
            }, path, deciding


def _combined(group):
    """One Packet for the members of a merge group: times and line from the first member with a time, the
    richest packet fields (a monitor line may lack the protocol), every log prefix and address pair."""
    timed = [member for member in group if member.ts is not None]
    first = (timed or group)[0]
    packet = Packet(first.host, {'trace_id': next((m.trace_id for m in group if m.trace_id is not None), None),
                                 'format': '+'.join(sorted(set(m.format for m in group))), 'family': first.family,
                                 'time': first.time, 'ts': first.ts, 'clock': first.clock, 'line': first.line},
                    first.source)
    with_fields = [member.fields for member in group if member.fields]
    packet.fields = max(with_fields, key=len) if with_fields else None
    for member in group:
        packet.logs.extend(member.logs)
        packet.pairs |= member.pairs
    return packet


def _distinct_paths(records, full_paths, decidings):
    """Packets grouped by host and the exact steps they took; each group is drawn once in the HTML report."""
    paths = {}
    for index, record in enumerate(records):
        signature = (record['host'], record['verdict'], id(record['path']))
        entry = paths.get(signature)
        if entry is None:
            entry = {'id': len(paths), 'host': record['host'], 'verdict': record['verdict'], 'packets': 0,
                     'example_packet': index, 'deciding_step': decidings[index], 'steps': full_paths[index],
                     'verdict_reason': record['verdict_reason']}
            paths[signature] = entry
        entry['packets'] += 1
        record['path_id'] = entry['id']
    return list(paths.values())


def _drops(records):
    drops = {}
    for record in records:
        if record['verdict'] not in ('drop', 'reject'):
            continue
        rule = record['verdict_rule'] or {}
        # a drop by the kernel, not a rule: one entry per reason and location
        kernel = (record.get('kernel_drop') or {}) if not rule else {}
        key = (record['host'], record['verdict'], rule.get('table'), rule.get('chain'), rule.get('kind'),
               rule.get('rulenum'), rule.get('handle'), kernel.get('reason'), kernel.get('location'))
        entry = drops.get(key)
        if entry is None:
            entry = dict(rule, host=record['host'], verdict=record['verdict'], packets=0,
                         example=record['summary'])
            if kernel:
                entry['kernel_drop'] = {'reason': kernel['reason'], 'location': kernel['location']}
            drops[key] = entry
        entry['packets'] += 1
    return sorted(drops.values(), key=lambda d: (-d['packets'], d['host'], str(d.get('chain'))))


def verdict_lines(drops, limit=20):
    """One line per dropping rule: 'node2 drops ICMP 198.18.0.1 -> 198.18.0.2 at filter/app-guard rule 3: ...'."""
    lines = []
    for drop in drops[:limit]:
        verb = 'rejects' if drop['verdict'] == 'reject' else 'drops'
        if kernel_dropped(drop):
            line = '%s %s %s in the kernel, not by a rule: %s' % (drop['host'], verb, packet_words(drop['example']),
                                                                  kernel_words(drop['kernel_drop']))
            lines.append(line + (' (%d packets)' % drop['packets'] if drop['packets'] > 1 else ''))
            continue
        line = '%s %s %s at %s' % (drop['host'], verb, packet_words(drop['example']), rule_place(drop))
        if drop.get('rule'):
            line += ': %s' % drop['rule']
        if drop['packets'] > 1:
            line += ' (%d packets)' % drop['packets']
        lines.append(line)
    return lines


def journey_services(members, records, full_paths):
    """What Kubernetes did to a journey's packets: 'service ns1/svc1:p80 -> endpoint 10.180.0.1:80 (DNAT on node2)'
    ('(pod ns1/web-0, DNAT on node2)' where the objects name the pod) for each kube-proxy endpoint chain on their
    paths, in hop order, each once."""
    lines = []
    for index in members:
        for step in full_paths[index]:
            name = step.get('k8s') or {}
            if name.get('role') != 'endpoint' or not name.get('endpoint'):
                continue
            service = 'service %s -> ' % object_words(name) if name.get('namespace') else ''
            pod = 'pod %s, ' % name['pod'] if name.get('pod') else ''
            line = '%sendpoint %s (%sDNAT on %s)' % (service, name['endpoint'], pod, records[index]['host'])
            if line not in lines:
                lines.append(line)
    return lines


def _conntrack_findings(host_input):
    """The host's conntrack entries of the match never answered, and UDP entries DNATed where no DNAT rule of its
    ruleset (after the capture where recorded) sends any more (conntrack_entries)."""
    if not host_input.conntrack:
        return None
    texts = (host_input.rulesets_after or host_input.rulesets).values()
    found = conntrack_entries.findings(host_input.conntrack, texts)
    return {'unreplied': len(found['unreplied']),
            'unreplied_examples': [conntrack_entries.example(e) for e in found['unreplied'][:conntrack_entries.EXAMPLES]],
            'stale_dnat': [{'target': target, 'entries': len(stale), 'example': conntrack_entries.example(stale[0])}
                           for target, stale in sorted(found['stale_dnat'].items())]}


def _join_kernel_drops(records, full_paths, decidings, host_drops, corrections, hosts):
    """Join each kernel's drops to the packets of its hosts (kernel_drops.join): a packet whose verdict becomes a
    kernel drop has no deciding step, and its host's verdict counts follow. Returns per kernel what it dropped that
    no traced packet explains."""
    last_hooks = [path[-1]['hook'] if path else None for path in full_paths]
    found = []
    for names in kernel_drops.kernels(host_drops).values():
        events = kernel_drops.pool(host_drops, names, corrections)
        conntrack = dict((name, kernel_drops.conntrack_drops(host_drops[name].conntrack)) for name in names)
        unjoined, flipped = kernel_drops.join(records, last_hooks, set(names), events, conntrack)
        for index, before in flipped:
            decidings[index] = None
            counts = hosts[records[index]['host']]['verdicts']
            counts[before] -= 1
            counts['drop'] = counts.get('drop', 0) + 1
        pooled = host_drops[kernel_drops.pooled_host(host_drops, names)]
        found.append({'hosts': names, 'kernel': pooled.kernel, 'events': len(events),
                      'joined': len(events) - len(unjoined), 'lost': pooled.lost,
                      'unjoined': kernel_drops.counts(unjoined)})
        for name in names:
            hosts[name]['kernel_drops'] = len(events)
            hosts[name]['conntrack_window'] = host_drops[name].conntrack
    return found


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def clock_offset(entry):
    """The host's measured clock offset (seconds, node minus controller) from its manifest entry, or None."""
    clock = entry.get('clock')
    return _number(clock.get('offset')) if isinstance(clock, dict) else None


def clock_correction(entry):
    """What is taken off the host's wall-clock times: its measured offset less the measurement's error (the
    correction nearest zero it allows, as the window was moved), or None when none was measured."""
    offset = clock_offset(entry)
    if offset is None:
        return None
    return round(least_offset(offset, _number(entry['clock'].get('error'))), 6)


def build_report(incident_dir, incident_id=None, window=2.0, correlation_window=10.0, objects=None):
    """The whole report as a JSON-ready dict (deterministic: no generation time, stable order). objects: the
    Kubernetes objects the user gave (k8s_objects.Objects), or None."""
    with gc_paused():
        return _build_report(incident_dir, incident_id, window, correlation_window, objects)


def _build_report(incident_dir, incident_id, window, correlation_window, objects):
    manifest = load_manifest(incident_dir)
    year = _year(manifest)
    hosts = {}
    records = []
    full_paths = []
    decidings = []
    aliases = {}
    host_drops, corrections = {}, {}
    for name, entry in manifest['hosts'].items():
        host = _Host(name, entry, incident_dir, year, window, objects)
        host.read()
        if host.input.drops is not None:
            host_drops[name] = host.input.drops
        corrections[name] = clock_correction(entry)
        aliases[name] = nat_aliases(host.input.conntrack)
        offset, correction = clock_offset(entry), clock_correction(entry)
        verdicts = {}
        count = 0
        for packet, record, path, deciding in host.records():
            verdicts[record['verdict']] = verdicts.get(record['verdict'], 0) + 1
            record['_pairs'] = packet.pairs
            record['_offset'] = correction
            record['_ttl'] = (packet.fields or {}).get('ttl', (packet.fields or {}).get('hoplimit'))
            if objects is not None:
                name_addresses(record['summary'], objects)
            records.append(record)
            full_paths.append(path)
            decidings.append(deciding)
            count += 1
        hosts[name] = {
            'status': host.input.status, 'reason': host.input.reason, 'events': host.grouper.events,
            'unparsed': host.grouper.unparsed, 'packets': count, 'untraced': host.input.untraced, 'verdicts': verdicts,
            'trace_files': [os.path.relpath(p, incident_dir) for p in host.input.trace_files],
            'snapshots': host.snapshot.names, 'conntrack_entries': len(host.input.conntrack),
            'conntrack_sample': [conntrack_entries.describe(e) for e in host.input.conntrack[:conntrack_entries.SAMPLE]],
            'errors': host.input.errors, 'notes': host.notes, 'clock_offset': offset, 'clock_correction': correction,
            'window': entry.get('window'), 'drop_reasons': entry.get('drop_reasons'),
            'conntrack_findings': _conntrack_findings(host.input),
        }
        host.grouper = None  # the records hold what is needed; let the grouping state go
    for record in records:
        wall = wall_time(record)
        record['controller_ts'] = None if wall is None else round(wall, 6)
    times = [record['controller_ts'] if record['clock'] == 'wall' else record['ts'] for record in records]
    order = sorted(range(len(records)), key=lambda i: (times[i] is None, times[i] or 0, records[i]['host'],
                                                       records[i]['line']))
    records = [records[i] for i in order]
    full_paths = [full_paths[i] for i in order]
    decidings = [decidings[i] for i in order]
    for index, record in enumerate(records):
        record['id'] = index
    journeys = correlate(records, [record.pop('_pairs') for record in records], aliases, correlation_window)
    ttls = [record.pop('_ttl') for record in records]
    first_hooks = [path[0]['hook'] if path else None for path in full_paths]
    journeys = [hop_order(records, members, ttls, first_hooks) for members in journeys]
    for record in records:
        record.pop('_offset')
    _journey_protocols(records, journeys)
    kernel = _join_kernel_drops(records, full_paths, decidings, host_drops, corrections, hosts)
    paths = _distinct_paths(records, full_paths, decidings)
    drops = _drops(records)
    return {
        'format': FORMAT,
        'incident_id': incident_id or manifest.get('incident_id') or os.path.basename(incident_dir.rstrip('/')),
        'capture': capture_parameters(manifest),
        'manifest_notes': manifest['notes'],
        'kubernetes_objects': None if objects is None else dict(objects.counts, file=objects.source),
        'hosts': hosts,
        'findings': findings(drops, kernel, hosts),
        'verdicts': verdict_lines(drops),
        'drops': drops,
        'kernel_drops': kernel,
        'journeys': [{'id': i, 'packets': members, 'hosts': [records[m]['host'] for m in members],
                      'kubernetes': journey_services(members, records, full_paths)}
                     for i, members in enumerate(journeys)],
        'paths': [{'id': p['id'], 'host': p['host'], 'verdict': p['verdict'], 'verdict_reason': p['verdict_reason'],
                   'packets': p['packets'],
                   'example_packet': p['example_packet'], 'deciding_step': p['deciding_step'],
                   'steps': [{key: step[key] for key in FULL_STEP_KEYS} for step in p['steps']]} for p in paths],
        'packets': records,
    }
