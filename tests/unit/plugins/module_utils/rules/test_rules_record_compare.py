# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ruleset_restored's comparison: what other netdebug runs do meanwhile (a concurrent capture) is not a change;
this run's leftovers and everything else are."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.record import restored

RUN = 'twin-a'
EMPTY = {'nf_tables': {'ipv4': '', 'ipv6': ''}, 'nftables': ''}


def trace_rules(run):
    """Recorded on a lab node (iptables-nft 1.8.9) while run `run` traced: its rules, the raw table iptables-nft
    made for them, and that table in the nft listing."""
    return {
        'nf_tables': {'ipv4': '*raw\n:PREROUTING ACCEPT\n:OUTPUT ACCEPT\n-A PREROUTING -s 198.18.0.3/32 -p icmp -m '
                              'comment --comment "netdebug:%s:1795563693" -j TRACE\n-A OUTPUT -s 198.18.0.3/32 -p icmp '
                              '-m comment --comment "netdebug:%s:1795563693" -j TRACE\nCOMMIT\n' % (run, run),
                      'ipv6': ''},
        'nftables': 'table ip raw {\n\tchain OUTPUT {\n\t\ttype filter hook output priority raw; policy accept;\n\t\t'
                    'meta l4proto icmp ip saddr 198.18.0.3 counter meta nftrace set 1\n\t}\n}\n',
    }


def with_nft(snap, extra):
    return dict(snap, nftables=snap['nftables'] + extra)


OTHER = trace_rules('twin-b')
OURS = trace_rules(RUN)
FILTER = '*filter\n:INPUT ACCEPT\n:FORWARD DROP\n:OUTPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n'
NATIVE = 'table inet fw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n'
NATIVE_IP_FILTER = 'table ip filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n}\n'


def netdebug_table(run):
    return ('table inet netdebug {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority -350; policy '
            'accept;\n\t\tmeta nftrace set 1 comment "netdebug:%s:1795563693"\n\t}\n}\n' % run)


CASES = [
    # (id, before, after, restored)
    ('same', EMPTY, EMPTY, True),
    ('another run started during ours', EMPTY, OTHER, True),
    ('another run stopped during ours', OTHER, EMPTY, True),
    ('another run native, in inet netdebug', with_nft(EMPTY, NATIVE), with_nft(EMPTY, NATIVE + netdebug_table('b')),
     True),
    ('our own rule left behind', EMPTY, OURS, False),
    ('our own inet netdebug rule left behind', EMPTY, with_nft(EMPTY, netdebug_table(RUN)), False),
    ('our leftover next to another run', OTHER, dict(OURS), False),
    ('a foreign rule removed', {'nf_tables': {'ipv4': FILTER, 'ipv6': ''}, 'nftables': ''},
     {'nf_tables': {'ipv4': FILTER.replace('-A INPUT -i lo -j ACCEPT\n', ''), 'ipv6': ''}, 'nftables': ''}, False),
    ('a foreign change while another run traced', OTHER,
     {'nf_tables': {'ipv4': FILTER, 'ipv6': ''}, 'nftables': ''}, False),
    ('an empty table with a DROP policy appeared', EMPTY,
     {'nf_tables': {'ipv4': '*filter\n:INPUT DROP\nCOMMIT\n', 'ipv6': ''}, 'nftables': ''}, False),
    ('a comment that only starts like a tag', OTHER,
     {'nf_tables': {'ipv4': '*raw\n:PREROUTING ACCEPT\n-A PREROUTING -m comment --comment "netdebug:x:1 keep" -j '
                            'TRACE\nCOMMIT\n', 'ipv6': ''}, 'nftables': ''}, False),
    ('a native table went away', with_nft(EMPTY, NATIVE), EMPTY, False),
    # With no other run about, the nft listing counts in full: a native ip filter table iptables-nft-save
    # cannot show (it prints only a warning comment) is still compared.
    ('native ip filter changed, no other run', with_nft(EMPTY, NATIVE_IP_FILTER),
     with_nft(EMPTY, NATIVE_IP_FILTER.replace('policy drop', 'policy accept')), False),
    ('legacy unchanged', {'legacy': {'ipv4': FILTER}}, {'legacy': {'ipv4': FILTER}}, True),
]


@pytest.mark.parametrize('before, after, expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_restored_ignores_only_other_runs(before, after, expected):
    assert restored(before, after, RUN) is expected
