# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""User filters: validation of the module parameters into a FilterSpec, and the pure-Python matcher.

The matcher is the reference: every entry the kernel returns passes through it, so results are the same whether
the kernel filtered (new kernels) or not (old kernels). Kernel-side filtering only ever narrows what has to be
decoded; it never decides alone.
"""

from __future__ import annotations

import ipaddress
import socket

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import param_error

U32_MAX = 0xFFFFFFFF


class AddressFilter:
    """One address parameter: a host (exact text comparison) or a network (membership)."""

    def __init__(self, param, value):
        try:
            net = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise param_error(param, '%r is not an IP address or network (examples: 198.18.210.2, 198.18.210.0/24, '
                                     '2001:db8::1)' % (value,))
        self.param = param
        self.network = net
        self.family = socket.AF_INET if net.version == 4 else socket.AF_INET6
        self.host = None
        if net.prefixlen == net.max_prefixlen:
            # the decoder renders addresses with inet_ntop; render the filter the same way
            self.host = socket.inet_ntop(self.family, net.network_address.packed)

    def matches(self, text):
        if text is None:
            return False
        if self.host is not None:
            return text == self.host
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return False
        return addr.version == self.network.version and addr in self.network


def parse_int(param, value, low, high):
    """An integer parameter, given as a number or as a decimal or 0x-hex string, within [low, high]."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise param_error(param, 'expected an integer, got a boolean')
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        try:
            number = int(text, 0)
        except ValueError:
            raise param_error(param, '%r is not an integer (decimal or 0x hex)' % (value,))
    if not low <= number <= high:
        raise param_error(param, '%d is out of range (%d to %d)' % (number, low, high))
    return number


def parse_protocol(value):
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in C.PROTOCOLS:
        return C.PROTOCOLS[text]
    if text.isdigit():
        return parse_int('protocol', text, 0, 255)
    raise param_error('protocol', '%r is not a protocol name (%s) or number 0-255'
                      % (value, ', '.join(sorted(C.PROTOCOLS))))


def parse_states(values):
    if not values:
        return None
    states = set()
    for value in values:
        name = str(value).strip().upper()
        name = C.TCP_STATE_ALIASES.get(name, name)
        if name not in C.TCP_STATES:
            raise param_error('state', '%r is not a TCP conntrack state (one of %s)' % (value, ', '.join(C.TCP_STATES)))
        states.add(name)
    return frozenset(states)


def parse_status(values, unreplied):
    """Status names, optionally negated with a leading '!' (UNREPLIED is !SEEN_REPLY) -> (required, forbidden)."""
    required = set()
    forbidden = set()
    for value in values or []:
        name = str(value).strip().upper()
        name = C.STATUS_ALIASES.get(name, name)
        negated = name.startswith('!')
        name = name.lstrip('!').strip()
        if name not in C.STATUS_BY_NAME:
            raise param_error('status', '%r is not a conntrack status flag (one of %s, each optionally negated with '
                                        'a leading !, or UNREPLIED)' % (value, ', '.join(C.STATUS_BY_NAME)))
        (forbidden if negated else required).add(name)
    if unreplied is not None:
        (forbidden if unreplied else required).add('SEEN_REPLY')
    clash = required & forbidden
    if clash:
        raise param_error('status', 'asks for %s both set and unset (check unreplied too)' % ', '.join(sorted(clash)))
    return frozenset(required), frozenset(forbidden)


class FilterSpec:
    """The validated filters of one query."""

    ORIG_KEYS = ('source', 'destination')
    PORT_KEYS = ('source_port', 'destination_port')
    ICMP_KEYS = ('icmp_type', 'icmp_code', 'icmp_id')

    def __init__(self, params):
        family = params.get('family')
        self.family = C.FAMILIES[family] if family else None
        self.protocol = parse_protocol(params.get('protocol'))
        self.addresses = {}
        for key in ('source', 'destination', 'reply_source', 'reply_destination'):
            if params.get(key) not in (None, ''):
                self.addresses[key] = AddressFilter(key, params[key])
        self.ports = {}
        for key in self.PORT_KEYS:
            port = parse_int(key, params.get(key), 0, 65535)
            if port is not None:
                self.ports[key] = port
        self.icmp = {}
        for key, high in (('icmp_type', 255), ('icmp_code', 255), ('icmp_id', 65535)):
            number = parse_int(key, params.get(key), 0, high)
            if number is not None:
                self.icmp[key] = number
        self.states = parse_states(params.get('state'))
        self.status_required, self.status_forbidden = parse_status(params.get('status'), params.get('unreplied'))
        self.mark = None
        mark = parse_int('mark', params.get('mark'), 0, U32_MAX)
        mask = parse_int('mark_mask', params.get('mark_mask'), 0, U32_MAX)
        if mask is not None and mark is None:
            raise param_error('mark_mask', 'needs mark (the value to compare after masking)')
        if mark is not None:
            mask = U32_MAX if mask is None else mask
            self.mark = (mark & mask, mask)
        self.zone = parse_int('zone', params.get('zone'), 0, 65535)
        self._check_consistency()

    def _check_consistency(self):
        keys = sorted(self.addresses)
        for key in keys[1:]:
            if self.addresses[key].family != self.addresses[keys[0]].family:
                raise param_error(key, 'is IPv%d while %s is IPv%d; an entry has one address family'
                                  % (self.addresses[key].network.version, keys[0],
                                     self.addresses[keys[0]].network.version))
        if self.family is not None and keys and self.addresses[keys[0]].family != self.family:
            raise param_error(keys[0], 'is not an address of family %s' % C.FAMILY_NAMES[self.family])
        if self.states is not None:
            if self.protocol is None:
                self.protocol = 6
            elif self.protocol != 6:
                raise param_error('state', 'TCP states need protocol tcp (got protocol %s)'
                                  % C.PROTOCOL_NAMES.get(self.protocol, self.protocol))
        if self.ports and self.protocol is not None and self.protocol not in C.PORT_PROTOCOLS:
            key = sorted(self.ports)[0]
            raise param_error(key, 'protocol %s has no ports (ports exist for tcp, udp, sctp, dccp, udplite)'
                              % C.PROTOCOL_NAMES.get(self.protocol, self.protocol))
        if self.icmp:
            key = sorted(self.icmp)[0]
            if self.protocol not in C.ICMP_PROTOCOLS:
                raise param_error(key, 'needs protocol icmp or icmpv6')
        if self.protocol == 1 and self.family == socket.AF_INET6 or self.protocol == 58 and self.family == socket.AF_INET:
            raise param_error('protocol', '%s does not exist in family %s'
                              % (C.PROTOCOL_NAMES[self.protocol], C.FAMILY_NAMES[self.family]))

    def implied_family(self):
        """The one family an entry can have to match, or None when both can."""
        if self.family is not None:
            return self.family
        for addr in self.addresses.values():
            return addr.family
        if self.protocol == 1:
            return socket.AF_INET
        if self.protocol == 58:
            return socket.AF_INET6
        return None

    def is_empty(self):
        return not (self.family is not None or self.protocol is not None or self.addresses or self.ports or self.icmp
                    or self.states or self.status_required or self.status_forbidden or self.mark is not None
                    or self.zone is not None)

    def matcher(self):
        """A function entry -> bool applying every filter, or None when there is none."""
        checks = []
        family = self.implied_family()
        if family is not None:
            name = C.FAMILY_NAMES[family]
            checks.append(lambda e: e['family'] == name)
        if self.protocol is not None:
            protocol = self.protocol
            checks.append(lambda e: e['protocol_number'] == protocol)
        for key, addr in sorted(self.addresses.items()):
            direction, field = ('reply', key[6:]) if key.startswith('reply_') else ('original', key)
            checks.append(_address_check(direction, field, addr))
        for key, value in sorted(list(self.ports.items()) + list(self.icmp.items())):
            checks.append(_field_check(key, value))
        if self.states is not None:
            states = self.states
            checks.append(lambda e: e.get('state') in states)
        if self.status_required or self.status_forbidden:
            checks.append(_status_check(self.status_required, self.status_forbidden))
        if self.mark is not None:
            value, mask = self.mark
            checks.append(lambda e: e['mark'] & mask == value)
        if self.zone is not None:
            zone = self.zone
            checks.append(lambda e: e['zone'] == zone)
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda e: all(check(e) for check in checks)


def _address_check(direction, field, addr):
    return lambda e: addr.matches(e.get(direction, {}).get(field))


def _field_check(key, value):
    return lambda e: e['original'].get(key) == value


def _status_check(required, forbidden):
    def check(entry):
        status = entry.get('status')
        if status is None:  # destroy events of old kernels carry no status: they cannot be shown to match
            return False
        return all(name in status for name in required) and not any(name in status for name in forbidden)
    return check
