# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every match parameter -> iptables argv and nft words; every bad input -> an error naming the parameter."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import spec
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError

# (params, ip_version, iptables argv for the (single) family, nft words)
BUILD_CASES = [
    ({}, 'ipv4', [], ['meta', 'nfproto', 'ipv4']),
    ({}, 'both', [], []),
    ({'protocol': 'tcp'}, 'ipv4', ['-p', 'tcp'], ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'tcp']),
    ({'protocol': '! UDP'}, 'ipv6', ['!', '-p', 'udp'],
     ['meta', 'nfproto', 'ipv6', 'meta', 'l4proto', '!=', 'udp']),
    ({'protocol': '47'}, 'ipv4', ['-p', '47'], ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', '47']),
    ({'protocol': 'all'}, 'ipv4', [], ['meta', 'nfproto', 'ipv4']),
    ({'protocol': 'icmpv6'}, 'ipv6', ['-p', 'ipv6-icmp'],
     ['meta', 'nfproto', 'ipv6', 'meta', 'l4proto', 'ipv6-icmp']),
    ({'source': '198.18.0.1'}, 'ipv4', ['-s', '198.18.0.1/32'], ['meta', 'nfproto', 'ipv4', 'ip', 'saddr',
                                                                 '198.18.0.1/32']),
    ({'source': '!198.18.0.5/24'}, 'ipv4', ['!', '-s', '198.18.0.0/24'],
     ['meta', 'nfproto', 'ipv4', 'ip', 'saddr', '!=', '198.18.0.0/24']),
    ({'destination': '2001:db8::1'}, 'ipv6', ['-d', '2001:db8::1/128'],
     ['meta', 'nfproto', 'ipv6', 'ip6', 'daddr', '2001:db8::1/128']),
    ({'protocol': 'udp', 'destination_port': '53'}, 'ipv4', ['-p', 'udp', '-m', 'udp', '--dport', '53'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'udp', 'udp', 'dport', '53']),
    ({'protocol': 'tcp', 'source_port': '1024-65535', 'destination_port': '! 22'}, 'ipv4',
     ['-p', 'tcp', '-m', 'tcp', '--sport', '1024:65535', '!', '--dport', '22'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'tcp', 'tcp', 'sport', '1024-65535', 'tcp', 'dport', '!=', '22']),
    ({'protocol': 'tcp', 'source_port': '1024:65535', 'destination_port': '80,443,8000:8080'}, 'ipv4',
     ['-p', 'tcp', '-m', 'tcp', '--sport', '1024:65535', '-m', 'multiport', '--dports', '80,443,8000:8080'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'tcp', 'tcp', 'sport', '1024-65535', 'tcp', 'dport',
      '{ 80, 443, 8000-8080 }']),
    ({'protocol': 'sctp', 'source_port': '!5,6'}, 'ipv4', ['-p', 'sctp', '-m', 'multiport', '!', '--sports', '5,6'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'sctp', 'sctp', 'sport', '!=', '{ 5, 6 }']),
    ({'in_interface': 'veth+'}, 'ipv4', ['-i', 'veth+'], ['meta', 'nfproto', 'ipv4', 'iifname', '"veth*"']),
    ({'out_interface': '!eth0'}, 'both', ['!', '-o', 'eth0'], ['oifname', '!=', '"eth0"']),
    ({'protocol': 'icmp', 'icmp_type': 'echo-request'}, 'ipv4', ['-p', 'icmp', '-m', 'icmp', '--icmp-type', '8'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'icmp', 'icmp', 'type', '8']),
    ({'protocol': 'icmp', 'icmp_type': 'port-unreachable'}, 'ipv4',
     ['-p', 'icmp', '-m', 'icmp', '--icmp-type', '3/3'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'icmp', 'icmp', 'type', '3', 'icmp', 'code', '3']),
    ({'protocol': 'icmp', 'icmp_type': '!11/0'}, 'ipv4', ['-p', 'icmp', '-m', 'icmp', '!', '--icmp-type', '11/0'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'l4proto', 'icmp', 'icmp', 'type', '!=', '11', 'icmp', 'code', '!=', '0']),
    ({'protocol': 'ipv6-icmp', 'icmp_type': 'neighbor-solicitation'}, 'ipv6',
     ['-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', '135'],
     ['meta', 'nfproto', 'ipv6', 'meta', 'l4proto', 'ipv6-icmp', 'icmpv6', 'type', '135']),
    ({'ctstate': ['new', 'ESTABLISHED', 'new']}, 'ipv4', ['-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED'],
     ['meta', 'nfproto', 'ipv4', 'ct', 'state', '{ new, established }']),
    ({'ctstate': 'RELATED,untracked'}, 'ipv4', ['-m', 'conntrack', '--ctstate', 'RELATED,UNTRACKED'],
     ['meta', 'nfproto', 'ipv4', 'ct', 'state', '{ related, untracked }']),
    ({'mark': '0x1/0xff'}, 'ipv4', ['-m', 'mark', '--mark', '0x1/0xff'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'mark', 'and', '0xff', '==', '0x1']),
    ({'mark': '! 16'}, 'ipv4', ['-m', 'mark', '!', '--mark', '0x10'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'mark', '!=', '0x10']),
    ({'uid_owner': 'root'}, 'ipv4', ['-m', 'owner', '--uid-owner', 'root'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'skuid', 'root']),
    ({'uid_owner': '!1000-2000'}, 'ipv4', ['-m', 'owner', '!', '--uid-owner', '1000-2000'],
     ['meta', 'nfproto', 'ipv4', 'meta', 'skuid', '!=', '1000-2000']),
    ({'match_extra': ['-m', 'length', '--length', '0:100']}, 'ipv4', ['-m', 'length', '--length', '0:100'],
     ['meta', 'nfproto', 'ipv4', '-m', 'length', '--length', '0:100']),
]


@pytest.mark.parametrize('params, ip_version, ipt, nft', BUILD_CASES)
def test_build(params, ip_version, ipt, nft):
    match = spec.build_match(params, ip_version)
    family = 'ipv6' if ip_version == 'ipv6' else 'ipv4'
    assert match.iptables_args(family) == ipt
    assert match.nft_words() == nft


def test_every_match_parameter_has_a_build_case():
    used = set()
    for params, _v, _i, _n in BUILD_CASES:
        used |= set(params)
    assert used == set(spec.MATCH_PARAMS)


# (params, ip_version, backend, parameter named in the error, text in the message)
ERROR_CASES = [
    ({'source': '198.18.0.1'}, 'ipv6', None, 'source', 'set ip_version: ipv4'),
    ({'destination': '2001:db8::1'}, 'ipv4', None, 'destination', 'IPv6 address but ip_version is ipv4'),
    ({'source': '198.18.0.1'}, 'both', None, 'source', 'ip_version is both'),
    ({'source': 'node1.example'}, 'ipv4', None, 'source', 'not an IP address'),
    ({'destination': '198.18.0.0/33'}, 'ipv4', None, 'destination', 'not an IP address'),
    ({'protocol': 'icmp'}, 'ipv6', None, 'protocol', 'only for ipv4'),
    ({'protocol': 'icmp'}, 'both', None, 'protocol', 'only for ipv4'),
    ({'protocol': 'ipv6-icmp'}, 'ipv4', None, 'protocol', 'only for ipv6'),
    ({'protocol': 'bogus'}, 'ipv4', None, 'protocol', 'not known'),
    ({'protocol': '256'}, 'ipv4', None, 'protocol', 'not known'),
    ({'destination_port': '80'}, 'ipv4', None, 'destination_port', 'tcp, udp or sctp'),
    ({'protocol': 'icmp', 'source_port': '80'}, 'ipv4', None, 'source_port', 'tcp, udp or sctp'),
    ({'protocol': '!tcp', 'destination_port': '80'}, 'ipv4', None, 'destination_port', 'tcp, udp or sctp'),
    ({'protocol': 'tcp', 'destination_port': '70000'}, 'ipv4', None, 'destination_port', '0-65535'),
    ({'protocol': 'tcp', 'destination_port': '90:80'}, 'ipv4', None, 'destination_port', 'low to high'),
    ({'protocol': 'tcp', 'destination_port': 'http'}, 'ipv4', None, 'destination_port', 'not a port'),
    ({'protocol': 'tcp', 'destination_port': ','.join(str(p) for p in range(1, 17))}, 'ipv4', None,
     'destination_port', 'at most 15'),
    ({'protocol': 'tcp', 'destination_port': '1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16'}, 'ipv4', None, 'destination_port', 'at most 15'),
    ({'in_interface': 'a' * 16}, 'ipv4', None, 'in_interface', 'at most 15'),
    ({'in_interface': 'eth 0'}, 'ipv4', None, 'in_interface', 'no blanks'),
    ({'out_interface': 'e+th'}, 'ipv4', None, 'out_interface', 'only at the end'),
    ({'out_interface': 'a/b'}, 'ipv4', None, 'out_interface', 'not an interface name'),
    ({'icmp_type': 'echo-request'}, 'ipv4', None, 'icmp_type', 'needs protocol icmp'),
    ({'protocol': 'icmp', 'icmp_type': 'neighbour-solicitation'}, 'ipv4', None, 'icmp_type', 'not an ICMP type'),
    ({'protocol': 'icmp', 'icmp_type': '300'}, 'ipv4', None, 'icmp_type', 'not an ICMP type'),
    ({'protocol': 'ipv6-icmp', 'icmp_type': 'source-quench'}, 'ipv6', None, 'icmp_type', 'not an ICMPv6 type'),
    ({'ctstate': ['NEW', 'BOGUS']}, 'ipv4', None, 'ctstate', 'not a conntrack state'),
    ({'ctstate': ['DNAT']}, 'ipv4', 'nftables', 'ctstate', 'SNAT and DNAT'),
    ({'mark': '0x1/0xff/1'}, 'ipv4', None, 'mark', 'VALUE/MASK'),
    ({'mark': '0x100000000'}, 'ipv4', None, 'mark', '32 bits'),
    ({'mark': 'red'}, 'ipv4', None, 'mark', 'VALUE/MASK'),
    ({'uid_owner': 'bad user'}, 'ipv4', None, 'uid_owner', 'not a user name'),
    ({'match_extra': '-m length'}, 'ipv4', None, 'match_extra', 'list of argv tokens'),
    ({'match_extra': ['-j', 'ACCEPT']}, 'ipv4', None, 'match_extra', 'only adds matches'),
    ({'match_extra': ['-m', 'comment', '--comment', 'x']}, 'ipv4', None, 'match_extra', 'only adds matches'),
    ({'match_extra': ['-t', 'filter']}, 'ipv4', None, 'match_extra', 'only adds matches'),
    ({'match_extra': ['-m', 'x;y']}, 'ipv4', None, 'match_extra', 'without ";"'),
    ({'match_extra': ['']}, 'ipv4', None, 'match_extra', 'non-empty'),
    ({'match_extra': ['ip', 'saddr', '1.2.3.4', 'accept']}, 'ipv4', 'nftables', 'match_extra', 'only adds matches'),
    ({'match_extra': ['counter']}, 'ipv4', 'nftables', 'match_extra', 'only adds matches'),
    # Options smuggled the way getopt_long reads them: attached to a short option, after '=', abbreviated,
    # clustered, or a match that adds a second comment (issue 15: a second comment hid the rule from its owner).
    ({'match_extra': ['-mcomment', '--comment=x']}, 'ipv4', None, 'match_extra', "the match module 'comment'"),
    ({'match_extra': ['--match=comment']}, 'ipv4', None, 'match_extra', "the match module 'comment'"),
    ({'match_extra': ['--mat', 'comment']}, 'ipv4', None, 'match_extra', "the match module 'comment'"),
    ({'match_extra': ['-m', 'COMMENT']}, 'ipv4', None, 'match_extra', 'the match module'),
    ({'match_extra': ['--comment=x']}, 'ipv4', None, 'match_extra', 'the option --comment'),
    ({'match_extra': ['--comm', 'x']}, 'ipv4', None, 'match_extra', 'the option --comm'),
    ({'match_extra': ['--jum', 'ACCEPT']}, 'ipv4', None, 'match_extra', 'the option --jum'),
    ({'match_extra': ['--JUMP=ACCEPT']}, 'ipv4', None, 'match_extra', 'the option --jump'),
    ({'match_extra': ['-jACCEPT']}, 'ipv4', None, 'match_extra', 'the option -j'),
    ({'match_extra': ['-fjACCEPT']}, 'ipv4', None, 'match_extra', 'the option -j'),
    ({'match_extra': ['-gKUBE-SERVICES']}, 'ipv4', None, 'match_extra', 'the option -g'),
    ({'match_extra': ['-tfilter']}, 'ipv4', None, 'match_extra', 'the option -t'),
    ({'match_extra': ['--tab=nat']}, 'ipv4', None, 'match_extra', 'the option --tab'),
    ({'match_extra': ['-w5']}, 'ipv4', None, 'match_extra', 'the option -w'),
    ({'match_extra': ['-c', '0', '0']}, 'ipv4', None, 'match_extra', 'the option -c'),
    ({'match_extra': ['-v']}, 'ipv4', None, 'match_extra', 'the option -v'),
    ({'match_extra': ['--set-counters', '0', '0']}, 'ipv4', None, 'match_extra', 'the option --set-counters'),
    ({'match_extra': ['-m', 'length', '--length', '1', '-I', 'INPUT']}, 'ipv4', None, 'match_extra', 'the option -I'),
    ({'match_extra': ['tcp dport 80 drop']}, 'ipv4', 'nftables', 'match_extra', "the nft word 'drop'"),
    ({'match_extra': ['ip', 'saddr', '{1.2.3.4,5.6.7.8}', 'ACCEPT']}, 'ipv4', 'nftables', 'match_extra',
     "the nft word 'accept'"),
    ({'match_extra': ['meta', 'mark', 'set', '1']}, 'ipv4', 'nftables', 'match_extra', "the nft word 'set'"),
    ({'match_extra': ['comment "x"']}, 'ipv4', 'nftables', 'match_extra', "the nft word 'comment'"),
]


# match_extra that only adds matches passes, in the spellings people use.
EXTRA_ALLOWED = [
    (['-m', 'length', '--length', '0:100'], None),
    (['-mlength', '--length=0:100'], None),
    (['--match', 'conntrack', '--ctstatus', 'DNAT'], None),
    (['-f'], None),
    (['!', '-f'], None),
    (['-m', 'set', '--match-set', 'kube-ips', 'src'], None),
    (['-m', 'physdev', '--physdev-in', 'veth1'], None),
    (['-m', 'recent', '--rcheck', '--seconds', '60'], None),
    (['ip', 'length', '<', '100'], 'nftables'),
    (['ip', 'saddr', '@allowed'], 'nftables'),
]


@pytest.mark.parametrize('tokens, backend', EXTRA_ALLOWED)
def test_match_extra_that_only_matches_passes(tokens, backend):
    assert spec.build_match({'match_extra': tokens}, 'ipv4', backend).extra == tokens


@pytest.mark.parametrize('params, ip_version, backend, param, text', ERROR_CASES)
def test_errors_name_the_parameter(params, ip_version, backend, param, text):
    with pytest.raises(ParamError) as err:
        spec.build_match(params, ip_version, backend)
    assert err.value.param == param
    assert err.value.msg.startswith(param + ': ')
    assert text in err.value.msg


def test_bad_ip_version():
    with pytest.raises(ParamError, match='^ip_version: '):
        spec.build_match({}, 'ipv5')


@pytest.mark.parametrize('params, hook, param', [
    ({'in_interface': 'eth0'}, 'OUTPUT', 'in_interface'),
    ({'in_interface': 'eth0'}, 'POSTROUTING', 'in_interface'),
    ({'out_interface': 'eth0'}, 'PREROUTING', 'out_interface'),
    ({'out_interface': 'eth0'}, 'INPUT', 'out_interface'),
    ({'uid_owner': '0'}, 'PREROUTING', 'uid_owner'),
    ({'uid_owner': '0'}, 'INPUT', 'uid_owner'),
])
def test_hook_errors(params, hook, param):
    match = spec.build_match(params, 'ipv4')
    with pytest.raises(ParamError) as err:
        match.check_hook(hook)
    assert err.value.param == param and hook in err.value.msg


@pytest.mark.parametrize('params, hook', [
    ({'in_interface': 'eth0'}, 'PREROUTING'), ({'in_interface': 'eth0'}, 'FORWARD'),
    ({'out_interface': 'eth0'}, 'OUTPUT'), ({'out_interface': 'eth0'}, 'POSTROUTING'),
    ({'uid_owner': '0'}, 'OUTPUT'), ({'uid_owner': '0'}, 'POSTROUTING'), ({'uid_owner': '0'}, None),
])
def test_hook_fits(params, hook):
    spec.build_match(params, 'ipv4').check_hook(hook)


@pytest.mark.parametrize('params, hooks', [
    ({}, ['PREROUTING', 'OUTPUT']),
    ({'in_interface': 'eth0'}, ['PREROUTING']),
    ({'out_interface': 'eth0'}, ['OUTPUT']),
    ({'uid_owner': 'root'}, ['OUTPUT']),
    ({'in_interface': 'eth0', 'uid_owner': 'root'}, []),
])
def test_preferred_hooks(params, hooks):
    assert spec.build_match(params, 'ipv4').preferred_hooks(['PREROUTING', 'OUTPUT']) == hooks


def test_ctstate_in_raw_warns():
    match = spec.build_match({'ctstate': ['NEW']}, 'ipv4')
    assert match.warnings('raw') and 'before connection tracking' in match.warnings('raw')[0]
    assert not match.warnings('filter')
