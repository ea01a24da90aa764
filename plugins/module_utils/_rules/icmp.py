# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ICMP and ICMPv6 type names (as iptables spells them) and their numeric type/code (RFC 792, RFC 4443).

Rules are written with numbers: both iptables and nft accept them, and ``iptables -S`` prints them.
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError

# name -> (type, code or None)
ICMP4 = {
    'echo-reply': (0, None), 'pong': (0, None),
    'destination-unreachable': (3, None),
    'network-unreachable': (3, 0), 'host-unreachable': (3, 1), 'protocol-unreachable': (3, 2),
    'port-unreachable': (3, 3), 'fragmentation-needed': (3, 4), 'source-route-failed': (3, 5),
    'network-unknown': (3, 6), 'host-unknown': (3, 7), 'network-prohibited': (3, 9), 'host-prohibited': (3, 10),
    'TOS-network-unreachable': (3, 11), 'TOS-host-unreachable': (3, 12), 'communication-prohibited': (3, 13),
    'host-precedence-violation': (3, 14), 'precedence-cutoff': (3, 15),
    'source-quench': (4, None),
    'redirect': (5, None), 'network-redirect': (5, 0), 'host-redirect': (5, 1),
    'TOS-network-redirect': (5, 2), 'TOS-host-redirect': (5, 3),
    'echo-request': (8, None), 'ping': (8, None),
    'router-advertisement': (9, None), 'router-solicitation': (10, None),
    'time-exceeded': (11, None), 'ttl-exceeded': (11, None),
    'ttl-zero-during-transit': (11, 0), 'ttl-zero-during-reassembly': (11, 1),
    'parameter-problem': (12, None), 'ip-header-bad': (12, 0), 'required-option-missing': (12, 1),
    'timestamp-request': (13, None), 'timestamp-reply': (14, None),
    'address-mask-request': (17, None), 'address-mask-reply': (18, None),
}

ICMP6 = {
    'destination-unreachable': (1, None),
    'no-route': (1, 0), 'communication-prohibited': (1, 1), 'beyond-scope': (1, 2), 'address-unreachable': (1, 3),
    'port-unreachable': (1, 4), 'failed-policy': (1, 5), 'reject-route': (1, 6),
    'packet-too-big': (2, None),
    'time-exceeded': (3, None), 'ttl-exceeded': (3, None),
    'ttl-zero-during-transit': (3, 0), 'ttl-zero-during-reassembly': (3, 1),
    'parameter-problem': (4, None), 'bad-header': (4, 0), 'unknown-header-type': (4, 1), 'unknown-option': (4, 2),
    'echo-request': (128, None), 'ping': (128, None), 'echo-reply': (129, None), 'pong': (129, None),
    'router-solicitation': (133, None), 'router-advertisement': (134, None),
    'neighbour-solicitation': (135, None), 'neighbor-solicitation': (135, None),
    'neighbour-advertisement': (136, None), 'neighbor-advertisement': (136, None),
    'redirect': (137, None),
}

_NUMERIC = re.compile(r'^([0-9]{1,3})(?:/([0-9]{1,3}))?$')


def icmp_type_code(value, family):
    """(type, code or None) for a name or 'TYPE[/CODE]' of the family ('ipv4' or 'ipv6')."""
    table = ICMP4 if family == 'ipv4' else ICMP6
    if value in table:
        return table[value]
    match = _NUMERIC.match(value)
    if match:
        icmp_type = int(match.group(1))
        code = None if match.group(2) is None else int(match.group(2))
        if icmp_type <= 255 and (code is None or code <= 255):
            return icmp_type, code
    raise ParamError('icmp_type', '%r is not an %s type: use a number TYPE[/CODE] (0-255) or one of %s'
                     % (value, 'ICMP' if family == 'ipv4' else 'ICMPv6', ', '.join(sorted(table))))
