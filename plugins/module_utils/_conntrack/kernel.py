# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the running kernel can filter during a dump, and the plan that splits a FilterSpec between kernel and
Python.

Kernel-side dump filters by version (net/netfilter/nf_conntrack_netlink.c):
  - CTA_MARK/CTA_MARK_MASK: all supported kernels;
  - CTA_FILTER with an original tuple (addresses, protocol, ports, ICMP fields): 5.8, and only for one address
    family per request (so a family-less tuple filter becomes one dump per family);
  - CTA_STATUS/CTA_STATUS_MASK: 5.15;
  - CTA_ZONE: 6.8, and then only for zones other than 0 (the kernel reads zone 0 as "no zone filter").
Two parts of CTA_FILTER are never used, because a kernel filter that drops too much cannot be repaired in Python:
  - IPv6 addresses: ctnetlink_filter_match_tuple tests `!ipv6_addr_cmp(...)`, which is true when the addresses
    are EQUAL, so the kernel drops exactly the entries asked for (seen on 6.18; the code is unchanged since 5.8);
  - the reply tuple: early 5.x kernels parsed it with the original tuple's flags.
"""

from __future__ import annotations

import re
import socket

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.constants import STATUS_BY_NAME

TUPLE_FILTER = (5, 8)
STATUS_FILTER = (5, 15)
ZONE_FILTER = (6, 8)
KERNEL_PORT_PROTOCOLS = (6, 17)  # ctnetlink_filter_match_tuple compares ports for TCP and UDP only


def parse_release(release):
    """'6.1.0-18-amd64' -> (6, 1); unknown shapes -> (0, 0), which enables no version-gated filter."""
    match = re.match(r'(\d+)\.(\d+)', release or '')
    if not match:
        return (0, 0)
    return (int(match.group(1)), int(match.group(2)))


class KernelCaps:
    """Dump filters usable with this kernel release and this pyroute2 (which must be able to encode them)."""

    def __init__(self, release, encodable):
        self.release = release
        version = parse_release(release)
        self.tuple_filter = version >= TUPLE_FILTER and 'CTA_FILTER' in encodable
        self.status_filter = version >= STATUS_FILTER and 'CTA_STATUS_MASK' in encodable
        self.zone_filter = version >= ZONE_FILTER and 'CTA_ZONE' in encodable
        self.mark_filter = 'CTA_MARK_MASK' in encodable


class DumpPlan:
    """The dump requests to send (family, kernel filter dict) and the names of the filters the kernel applies."""

    def __init__(self, requests, kernel_filters):
        self.requests = requests
        self.kernel_filters = kernel_filters


def _kernel_tuple(spec):
    tup = {}
    for key in ('source', 'destination'):
        addr = spec.addresses.get(key)
        if addr is not None and addr.host is not None and addr.family == socket.AF_INET:
            tup[key] = addr.host
    if spec.protocol is not None:
        tup['protocol_number'] = spec.protocol
        if spec.protocol in KERNEL_PORT_PROTOCOLS:
            tup.update(spec.ports)
        if spec.protocol in (1, 58):
            tup.update(spec.icmp)
    return tup


def plan_dump(spec, caps, use_kernel=True):
    """Split the filters: what the kernel can do goes into the requests, the matcher re-checks everything."""
    family = spec.implied_family()
    kernel = {}
    used = []
    if family is not None:
        used.append('family')
    if use_kernel:
        if caps.tuple_filter:
            tup = _kernel_tuple(spec)
            if tup:
                kernel['tuple'] = tup
                used.extend(sorted('protocol' if key == 'protocol_number' else key for key in tup))
        if spec.mark is not None and caps.mark_filter:
            kernel['mark'] = spec.mark
            used.append('mark')
        if caps.status_filter and (spec.status_required or spec.status_forbidden):
            value = sum(STATUS_BY_NAME[name] for name in spec.status_required)
            mask = value | sum(STATUS_BY_NAME[name] for name in spec.status_forbidden)
            kernel['status'] = (value, mask)
            used.append('status')
        if caps.zone_filter and spec.zone:
            kernel['zone'] = spec.zone
            used.append('zone')
    if family is not None:
        families = [family]
    elif 'tuple' in kernel:
        families = [socket.AF_INET, socket.AF_INET6]  # CTA_FILTER needs a family
    else:
        families = [socket.AF_UNSPEC]
    return DumpPlan([(fam, kernel) for fam in families], used)
