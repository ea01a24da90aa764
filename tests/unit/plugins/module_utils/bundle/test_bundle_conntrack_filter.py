# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conntrack filter the run's match gives capture_pack (_bundle/pack_args.conntrack_filter): every match the
trace accepts gives a filter capture_pack accepts, so a capture never loses a host's bundle to it."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.pack_args import conntrack_filter
from ansible_collections.netdebug.netfilter.plugins.module_utils._collect.reads import check_conntrack

# (match, filter): the trace's protocol names conntrack has no name for go by number; negations, 'all', ranges
# and lists filter nothing.
CASES = [
    ({'protocol': 'icmp', 'source': '198.18.0.1'}, {'protocol': 'icmp', 'source': '198.18.0.1'}),
    ({'protocol': 'esp'}, {'protocol': '50'}),
    ({'protocol': 'AH'}, {'protocol': '51'}),
    ({'protocol': 'icmp6'}, {'protocol': 'icmpv6'}),
    ({'protocol': 'ipv6-icmp'}, {'protocol': 'ipv6-icmp'}),
    ({'protocol': 'all', 'destination_port': '80'}, {'destination_port': 80}),
    ({'protocol': '!tcp', 'source': '!198.18.0.1'}, {}),
    ({'protocol': 17, 'source_port': 53, 'destination_port': '1000:2000'}, {'protocol': '17', 'source_port': 53}),
    ({'protocol': 'sctp', 'destination': '198.18.0.0/24'}, {'protocol': 'sctp', 'destination': '198.18.0.0/24'}),
    ({}, {}),
]


@pytest.mark.parametrize('match, expected', CASES, ids=[str(c[0]) for c in CASES])
def test_filter_is_one_capture_pack_accepts(match, expected):
    found = conntrack_filter(match)
    assert found == expected
    check_conntrack(dict(found, limit=10000))


def test_no_match_no_filter():
    assert conntrack_filter(None) == {}
