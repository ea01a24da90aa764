# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ruleset_restored's comparison: what netdebug runs add (a concurrent capture) is not a change; the rest is."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.record import comparable

EMPTY = {'nf_tables': {'ipv4': '', 'ipv6': ''}, 'nftables': ''}
# Recorded on a lab node (iptables-nft 1.8.9) while another run, twin-b, traced: its rules, the raw table
# iptables-nft made for them, and that table in the nft listing.
OTHER_RUN = {
    'nf_tables': {'ipv4': '*raw\n:PREROUTING ACCEPT\n:OUTPUT ACCEPT\n-A PREROUTING -s 198.18.0.3/32 -p icmp -m comment '
                          '--comment "netdebug:twin-b:1795563693" -j TRACE\n-A OUTPUT -s 198.18.0.3/32 -p icmp -m '
                          'comment --comment "netdebug:twin-b:1795563693" -j TRACE\nCOMMIT\n', 'ipv6': ''},
    'nftables': 'table ip raw {\n\tchain OUTPUT {\n\t\ttype filter hook output priority raw; policy accept;\n\t\tmeta '
                'l4proto icmp ip saddr 198.18.0.3 counter meta nftrace set 1\n\t}\n}\n',
}
FILTER = '*filter\n:INPUT ACCEPT\n:FORWARD DROP\n:OUTPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n'
NATIVE = 'table inet fw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n'
NETDEBUG_TABLE = 'table inet netdebug {\n\tchain prerouting {\n\t\tmeta nftrace set 1\n\t}\n}\n'

CASES = [
    # (before, after, equal)
    (EMPTY, EMPTY, True),
    (EMPTY, OTHER_RUN, True),  # another capture started during ours
    (OTHER_RUN, EMPTY, True),  # another capture stopped during ours
    ({'nf_tables': {'ipv4': FILTER, 'ipv6': ''}, 'nftables': ''},
     {'nf_tables': {'ipv4': FILTER.replace('-A INPUT -i lo -j ACCEPT\n', ''), 'ipv6': ''}, 'nftables': ''}, False),
    # an empty table whose policy is not ACCEPT is a change
    (EMPTY, {'nf_tables': {'ipv4': '*filter\n:INPUT DROP\nCOMMIT\n', 'ipv6': ''}, 'nftables': ''}, False),
    # an untagged rule, even with a comment that looks alike, is a change
    (EMPTY, {'nf_tables': {'ipv4': '*raw\n:PREROUTING ACCEPT\n-A PREROUTING -m comment --comment "netdebugx" -j '
                                   'TRACE\nCOMMIT\n', 'ipv6': ''}, 'nftables': ''}, False),
    (dict(EMPTY, nftables=NATIVE), dict(EMPTY, nftables=NATIVE + NETDEBUG_TABLE), True),
    (dict(EMPTY, nftables=NATIVE), EMPTY, False),  # a native table went away
    # without iptables-nft saves the nft listing is the only view of ip raw: it counts
    ({'nftables': ''}, {'nftables': OTHER_RUN['nftables']}, False),
    ({'legacy': {'ipv4': FILTER}}, {'legacy': {'ipv4': FILTER}}, True),
]


@pytest.mark.parametrize('before, after, equal', CASES)
def test_comparable_leaves_out_what_runs_add(before, after, equal):
    assert (comparable(before) == comparable(after)) is equal
