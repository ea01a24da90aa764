# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What capture_pack packs for one host (the capture_pack_args filter): the trace's record as trace.json, the
monitors' capture files, the kernel's drops (drop reasons) and the recorded rulesets to copy, the kernel log window to read, and the conntrack filter
the run's match gives. Pure."""

from __future__ import annotations

import os
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import layout

# Seconds of kernel log read before the run's start (the kernel stamps a line a little before the module sees it).
KERNLOG_LEAD = 2
# The trace's protocol names that conntrack knows by number or another name; 'all' filters nothing.
CONNTRACK_PROTOCOLS = {'esp': '50', 'ah': '51', 'icmp6': 'icmpv6', 'all': ''}
PORT_RE = re.compile(r'^[0-9]+$')
TRACE_KEYS = (('variant', None), ('log', {}), ('removed', {}), ('ruleset_restored', None), ('monitors_died', []),
              ('monitors_restarted', []), ('monitors_truncated', []), ('packets', None), ('drop_reasons', None))


def _text(value):
    return '' if value is None else str(value)


def conntrack_filter(match):
    """conntrack_query filters from the trace's match where they are plain values: no negation, no port ranges or
    lists (those filter nothing), so that every match the trace accepts gives a filter capture_pack accepts."""
    match = match or {}
    found = {}
    protocol = _text(match.get('protocol')).lower()
    protocol = CONNTRACK_PROTOCOLS.get(protocol, protocol)
    if protocol and not protocol.startswith('!'):
        found['protocol'] = protocol
    for key in ('source', 'destination'):
        value = _text(match.get(key))
        if value and not value.startswith('!'):
            found[key] = value
    for key in ('source_port', 'destination_port'):
        value = _text(match.get(key))
        if PORT_RE.match(value):
            found[key] = int(value)
    return found


def pack_args(trace, kernlog_source, kernlog_file, match=None, conntrack_limit=None):
    """{'texts', 'copies', 'kernlog', 'conntrack'} for capture_pack from the host's netdebug_trace fact ({} or None
    without a trace: the conntrack playbook); conntrack is None unless a limit is given (the snapshot is taken)."""
    trace = trace or {}
    start = trace.get('start') or {}
    texts = {}
    if trace:
        record = {'run_id': trace.get('run_id'), 'phase': trace.get('phase'), 'error': trace.get('error'),
                  'start': start}
        record.update((key, trace.get(key, default)) for key, default in TRACE_KEYS)
        texts[layout.TRACE_JSON] = record
    copies = [{'src': path, 'dest': '%s/%s' % (layout.TRACE_DIR, os.path.basename(path))}
              for path in start.get('capture_files') or []]
    drops = start.get('drop_reasons') or {}
    if drops.get('file') and (trace.get('drop_reasons') or {}).get('events') is not None:  # the stop wrote it
        copies.append({'src': drops['file'], 'dest': layout.DROP_REASONS_JSON})
    record_dir = trace.get('record_dir') or start.get('record_dir')
    if record_dir:
        copies.append({'src': record_dir, 'dest': layout.RULESET_DIR})
    log = trace.get('log') or {}
    kernlog = None
    if start.get('kernel_log') or 'rules' in log:
        since = int(start.get('started_at') or 0) - KERNLOG_LEAD
        kernlog = {'source': kernlog_source, 'file': kernlog_file, 'since': since,
                   'until': max(int(start.get('expires_at') or 0), since),
                   'patterns': ['TRACE:'] + ([log['log_prefix']] if 'log_prefix' in log else [])}
    conntrack = None if conntrack_limit is None else dict(conntrack_filter(match), limit=int(conntrack_limit))
    return {'texts': texts, 'copies': copies, 'kernlog': kernlog, 'conntrack': conntrack}
