# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operations of conntrack_query (list, get, count, stats, delete, watch) over one ctnetlink socket.

run() is the Python entry point the module calls: parameters in, result dict out, ConntrackError on failure.
Dumps are streamed: counting and filtering keep nothing but the entries that will be returned.
"""

from __future__ import annotations

import errno
import os
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C, deps, netns, stats
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.decode import AddressCache, nested_u32
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError, param_error
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.filters import FilterSpec
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.kernel import KernelCaps, plan_dump
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.layout import FastDecoder
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.netlink import CtnetlinkSocket, NetlinkError
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.request import (
    delete_request, dump_request, get_request, pyroute2_features, stats_request,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.gcpause import gc_paused

OPERATIONS = ('list', 'get', 'count', 'stats', 'delete', 'watch')
FILTER_PARAMS = ('family', 'protocol', 'source', 'destination', 'source_port', 'destination_port', 'reply_source',
                 'reply_destination', 'icmp_type', 'icmp_code', 'icmp_id', 'state', 'status', 'unreplied', 'mark',
                 'mark_mask', 'zone')
EVENT_GROUPS = {'new': 1 << (C.NFNLGRP_CONNTRACK_NEW - 1), 'update': 1 << (C.NFNLGRP_CONNTRACK_UPDATE - 1),
                'destroy': 1 << (C.NFNLGRP_CONNTRACK_DESTROY - 1)}
DELETE_BATCH = 64  # acknowledgements of one batch must fit the receive buffer
# the places the kernel shows its counters (module globals, so that tests can point them elsewhere)
PROC_STAT = stats.PROC_STAT
SYSCTL_DIR = stats.SYSCTL_DIR


def _kernel_errno_error(exc, what):
    """Turn the errnos that have a known remedy into messages that say it."""
    if exc.errno == errno.EPERM:
        return ConntrackError('%s needs root (CAP_NET_ADMIN) on the node: use become: true' % what, errno=exc.errno)
    if exc.errno in (errno.EOPNOTSUPP, errno.ENOENT, errno.EPROTONOSUPPORT):
        return ConntrackError('conntrack is not active on the node: the kernel has no ctnetlink (%s). Load it with '
                              '"modprobe nf_conntrack_netlink" (or build CONFIG_NF_CT_NETLINK)' % exc.msg,
                              errno=exc.errno)
    return exc


class Conntrack:
    """One query session: the socket, the kernel's filter capabilities and the request encoder."""

    source = 'netlink'  # where the entries come from (said in the bundle)
    stats_source = 'netlink'  # where the per-CPU counters come from when /proc/net/stat/nf_conntrack is missing

    def __init__(self, release=None, encoder=None, socket_factory=CtnetlinkSocket):
        self.encoder = encoder or deps.nfct_msg
        self.caps = KernelCaps(release or os.uname().release, pyroute2_features(self.encoder))
        self.socket_factory = socket_factory
        self._sock = None
        self.kernel_filtered = []
        self.kernel_fallback = None

    @property
    def sock(self):
        if self._sock is None:
            try:
                self._sock = self.socket_factory()
            except OSError as exc:
                raise ConntrackError('cannot open a netfilter netlink socket: %s' % exc.strerror, errno=exc.errno)
        return self._sock

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- dumps ------------------------------------------------------------------------------------------------

    def scan(self, spec, keep_raw=False, use_kernel=True):
        """Yield every entry matching spec, streaming: kernel filters narrow, the Python matcher decides."""
        plan = plan_dump(spec, self.caps, use_kernel)
        self.kernel_filtered = plan.kernel_filters
        match = spec.matcher()
        fast = FastDecoder(AddressCache())
        decode = fast.decode_raw if keep_raw else fast.decode
        produced = False
        for family, kernel in plan.requests:
            seq = self.sock.next_seq()
            request = dump_request(self.encoder, seq, family, kernel)
            try:
                for entry in self.sock.stream(request, seq, decode):
                    if match is None or match(entry):
                        produced = True
                        yield entry
            except NetlinkError as exc:
                # A kernel that rejects a filter we believed it had (a distribution kernel without
                # CONFIG_NF_CONNTRACK_MARK, an odd backport): the error comes before any entry, so redo the
                # whole scan without kernel filters; the Python matcher gives the same result.
                if use_kernel and kernel and not produced and exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                    self.kernel_fallback = 'the kernel refused the dump filters (%s); filtered in Python' % exc.msg
                    yield from self.scan(spec, keep_raw, use_kernel=False)
                    return
                raise _kernel_errno_error(exc, 'dumping the conntrack table')

    def listing(self, spec, limit, keep_raw=False):
        """(first `limit` matching entries, total matched); limit 0 returns all."""
        entries = []
        matched = 0
        with gc_paused():
            for entry in self.scan(spec, keep_raw):
                matched += 1
                if not limit or matched <= limit:
                    entries.append(entry)
        return entries, matched

    def count(self, spec):
        if spec.is_empty():
            total = self.global_stats().get('entries')
            if total is not None:
                return total
        matched = 0
        for _entry in self.scan(spec):
            matched += 1
        return matched

    # -- single requests --------------------------------------------------------------------------------------

    def _request(self, build, what):
        seq = self.sock.next_seq()
        try:
            return self.sock.transact(build(seq), seq)
        except NetlinkError as exc:
            raise _kernel_errno_error(exc, what)

    def get(self, spec):
        family, tup = exact_tuple(spec)
        seq = self.sock.next_seq()
        try:
            messages = self.sock.transact(get_request(self.encoder, seq, family, tup, spec.zone), seq)
        except NetlinkError as exc:
            if exc.errno == errno.ENOENT:
                return []
            raise _kernel_errno_error(exc, 'looking up a conntrack entry')
        decode = FastDecoder(AddressCache()).decode
        match = spec.matcher()
        entries = [decode(raw, 0, len(raw)) for raw in messages]
        return [entry for entry in entries if match is None or match(entry)]

    def global_stats(self):
        """{'entries': n, 'max': m} from IPCTNL_MSG_CT_GET_STATS (kernels without it give {})."""
        try:
            messages = self._request(lambda seq: stats_request(self.encoder, seq, False), 'reading conntrack stats')
        except ConntrackError:
            return {}
        values = {}
        for raw in messages:
            values.update(nested_u32(raw, 20, len(raw)))
        return {'entries': values.get(C.STATS_GLOBAL_ENTRIES), 'max': values.get(C.STATS_GLOBAL_MAX_ENTRIES)}

    def cpu_stats(self):
        messages = self._request(lambda seq: stats_request(self.encoder, seq, True), 'reading conntrack stats')
        return stats.netlink_cpu_stats([(int.from_bytes(raw[18:20], 'big'), nested_u32(raw, 20, len(raw)))
                                        for raw in messages])

    # -- changes ----------------------------------------------------------------------------------------------

    def delete(self, victims):
        """Delete the given entries (each with _raw_orig from a keep_raw scan); returns (deleted, vanished)."""
        deleted = 0
        vanished = 0
        for first in range(0, len(victims), DELETE_BATCH):
            batch = victims[first:first + DELETE_BATCH]
            seq0 = self.sock.next_seq()
            self.sock.seq = seq0 + len(batch)
            data = b''.join(
                delete_request(seq0 + index, C.FAMILIES.get(entry['family'], 0), entry['_raw_orig'], entry.get('id'),
                               None if entry['_raw_orig_zoned'] else entry['zone'])
                for index, entry in enumerate(batch))
            self.sock.send(data)
            for code in self.sock.acks(len(batch), seq0).values():
                if code == 0:
                    deleted += 1
                elif code == errno.ENOENT:  # gone meanwhile (expired, or its tuple now has a newer entry)
                    vanished += 1
                else:
                    raise _kernel_errno_error(NetlinkError('the kernel refused a delete: %s' % os.strerror(code),
                                                           errno=code), 'deleting conntrack entries')
        return deleted, vanished

    def watch(self, spec, kinds, duration, max_events):
        """Collect matching events for `duration` seconds, at most max_events; returns (events, stats dict)."""
        groups = 0
        for kind in kinds:
            groups |= EVENT_GROUPS[kind]
        match = spec.matcher()
        decode = FastDecoder(AddressCache()).decode
        events = []
        seen = 0
        lost = 0
        started = time.monotonic()
        deadline = started + duration
        sock = self.socket_factory(groups=groups, rcvbuf=8 << 20)
        try:
            for item in sock.events(deadline):
                if item is None:
                    lost += 1
                    continue
                buf, start, end, mtype, flags = item
                if mtype == C.IPCTNL_MSG_CT_DELETE:
                    kind = 'destroy'
                elif flags & (C.NLM_F_CREATE | C.NLM_F_EXCL):
                    kind = 'new'
                else:
                    kind = 'update'
                if kind not in kinds:
                    continue
                seen += 1
                entry = decode(buf, start, end)
                if match is None or match(entry):
                    entry['event'] = kind
                    entry['time'] = round(time.time(), 6)
                    events.append(entry)
                    if len(events) >= max_events:
                        break
        finally:
            sock.close()
        return events, {'seen': seen, 'lost': lost, 'elapsed': round(time.monotonic() - started, 3),
                        'truncated': len(events) >= max_events}


def exact_tuple(spec):
    """The one original tuple `get` looks up: every field of it must be given."""
    family = spec.implied_family()
    missing = [key for key in ('source', 'destination') if key not in spec.addresses or
               spec.addresses[key].host is None]
    if spec.protocol is None:
        missing.insert(0, 'protocol')
    elif spec.protocol in C.PORT_PROTOCOLS:
        missing += [key for key in ('source_port', 'destination_port') if key not in spec.ports]
    elif spec.protocol in C.ICMP_PROTOCOLS:
        missing += [key for key in ('icmp_type', 'icmp_code', 'icmp_id') if key not in spec.icmp]
    if missing:
        raise param_error(missing[0], 'operation=get looks up one exact original tuple and also needs %s'
                          % ', '.join(missing))
    tup = {'source': spec.addresses['source'].host, 'destination': spec.addresses['destination'].host,
           'protocol_number': spec.protocol}
    tup.update(spec.ports)
    tup.update(spec.icmp)
    return family, tup


def _victims(entries, limit):
    """Entries to delete: the first `limit` whole (they are returned), the rest only what a delete needs."""
    for index, entry in enumerate(entries):
        if limit and index >= limit:
            entry = dict((key, entry[key]) for key in ('family', 'id', 'zone', '_raw_orig', '_raw_orig_zoned')
                         if key in entry)
        yield entry


def _strip_private(entries):
    for entry in entries:
        entry.pop('_raw_orig', None)
        entry.pop('_raw_orig_zoned', None)
    return entries


def validate(params):
    """Check every parameter before anything touches the node; returns the FilterSpec."""
    operation = params.get('operation') or 'list'
    if operation not in OPERATIONS:
        raise param_error('operation', '%r is not one of %s' % (operation, ', '.join(OPERATIONS)))
    spec = FilterSpec(params)
    if operation == 'stats':
        given = [key for key in FILTER_PARAMS if params.get(key) not in (None, [], '')]
        if given:
            raise param_error(given[0], 'filters do not apply to operation=stats (the counters are per CPU, not per '
                                        'entry); use operation=count with filters')
    if operation == 'delete' and spec.is_empty():
        raise param_error('operation', 'delete needs at least one filter; to empty the whole table of one family '
                                       'say so with family')
    if operation == 'get':
        exact_tuple(spec)
    for key, low, high in (('limit', 0, 1 << 31), ('max_events', 1, 1 << 20)):
        value = params.get(key)
        if value is not None and not low <= value <= high:
            raise param_error(key, '%s is out of range (%d to %d)' % (value, low, high))
    duration = params.get('duration')
    if duration is not None and not 0 < duration <= 86400:
        raise param_error('duration', '%s is out of range (more than 0, at most 86400 seconds)' % duration)
    near = params.get('near_full_percent')
    if near is not None and not 1 <= near <= 100:
        raise param_error('near_full_percent', '%s is out of range (1 to 100)' % near)
    return spec


def _stats_result(ct, near_full_percent):
    source = 'proc'
    try:
        with open(PROC_STAT) as handle:
            cpus = stats.parse_proc_stat(handle.read())
    except OSError:
        source = ct.stats_source
        cpus = ct.cpu_stats()
    total = stats.summarize(cpus)
    glob = ct.global_stats()
    count = glob.get('entries')
    if count is None:
        count = stats.read_int(os.path.join(SYSCTL_DIR, 'nf_conntrack_count'))
    maximum = stats.read_int(os.path.join(SYSCTL_DIR, 'nf_conntrack_max'))
    if maximum is None:
        maximum = glob.get('max')
    full, reasons = stats.verdict(total, count, maximum, near_full_percent)
    return {'counters': total, 'per_cpu': cpus, 'count': count, 'max': maximum,
            'buckets': stats.read_int(os.path.join(SYSCTL_DIR, 'nf_conntrack_buckets')), 'table_full': full,
            'table_full_reasons': reasons, 'source': source}


def run(params, check_mode=False, conntrack=None):
    """The module's work: validate, enter the namespace, run the operation; returns the result dict."""
    spec = validate(params)
    operation = params.get('operation') or 'list'
    result = {'changed': False, 'operation': operation}
    if params.get('netns') not in (None, ''):
        result['netns'] = netns.enter(params['netns'])
    ct = conntrack or Conntrack()
    limit = params.get('limit')
    limit = 1000 if limit is None else limit
    try:
        if operation == 'list':
            entries, matched = ct.listing(spec, limit)
            result.update(entries=entries, matched=matched, truncated=matched > len(entries))
        elif operation == 'count':
            result.update(count=ct.count(spec))
            result['matched'] = result['count']
        elif operation == 'get':
            entries = ct.get(spec)
            result.update(entries=entries, matched=len(entries), found=bool(entries))
        elif operation == 'delete':
            victims = list(_victims(ct.scan(spec, keep_raw=True), limit))
            deleted = vanished = 0
            if victims and not check_mode:
                deleted, vanished = ct.delete(victims)
            shown = _strip_private([entry for entry in victims if 'original' in entry])
            result.update(entries=shown, matched=len(victims), deleted=deleted, vanished=vanished,
                          truncated=len(victims) > len(shown), changed=bool(victims) if check_mode else deleted > 0)
        elif operation == 'watch':
            events, facts = ct.watch(spec, params.get('events') or list(EVENT_GROUPS), params.get('duration') or 10,
                                     params.get('max_events') or 1000)
            result.update(events=events, matched=len(events), **facts)
        else:
            near = params.get('near_full_percent') or 90
            result.update(_stats_result(ct, near))
    finally:
        ct.close()
    if operation in ('list', 'count', 'delete', 'get'):
        result['kernel_filtered'] = list(ct.kernel_filtered) if operation != 'get' else ['exact tuple (lookup)']
        if ct.kernel_fallback:
            result['kernel_fallback'] = ct.kernel_fallback
    result['kernel_release'] = ct.caps.release
    return result
