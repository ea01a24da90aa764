# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packet fields of real recorded lines (tests/unit/fixtures/trace), kernel nf_log format and xtables-monitor."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.fields import (
    _fast, parse_fields, parse_fields_general,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.parse import parse_trace

# (fixture file, a substring that picks one line, expected subset of its packet fields)
CASES = [
    pytest.param('legacy/node2/trace/dmesg.log', 'ID=42340 DF PROTO=ICMP TYPE=8 CODE=0 ID=27705 SEQ=1', {
        'in': 'ndt2', 'src': '198.18.200.1', 'dst': '198.18.200.2', 'len': 84, 'tos': 0, 'prec': 0, 'ttl': 64,
        'ip_id': 42340, 'flags': ['DF'], 'proto': 'icmp', 'icmp_type': 8, 'icmp_code': 0, 'icmp_id': 27705,
        'icmp_seq': 1, 'mac': 'e6:f1:ac:46:55:db:56:cf:22:ec:94:ab:08:00', 'mac_dst': 'e6:f1:ac:46:55:db',
        'mac_src': '56:cf:22:ec:94:ab', 'mac_proto': '0800'}, id='icmp-two-ids'),
    pytest.param('legacy/node2/trace/dmesg.log', 'SPT=50660 DPT=8080', {
        'proto': 'tcp', 'sport': 50660, 'dport': 8080, 'tcp_seq': 1069697491, 'tcp_ack': 0, 'tcp_window': 64240,
        'tcp_res': 0, 'tcp_flags': ['SYN'], 'tcp_urgp': 0, 'ip_id': 45822,
        'tcp_options': '020405B40402080A29EB49EB000000000103030A'}, id='tcp-syn-options'),
    pytest.param('legacy/node2/trace/dmesg.log', 'PROTO=UDP SPT=49243', {
        'proto': 'udp', 'sport': 49243, 'dport': 5353, 'len': 34, 'l4_len': 14}, id='udp-two-lens'),
    pytest.param('legacy/node1/trace/dmesg.log', 'ID=14986 PROTO=ICMP TYPE=3', {
        'src': '198.18.200.2', 'dst': '198.18.200.1', 'prec': 0xC0, 'ip_id': 14986, 'icmp_type': 3,
        'icmp_code': 3, 'inner': {'src': '198.18.200.1', 'dst': '198.18.200.2', 'len': 34, 'ip_id': 12391,
                                  'flags': ['DF'], 'proto': 'udp', 'sport': 49243, 'dport': 5353, 'l4_len': 14,
                                  'tos': 0, 'prec': 0, 'ttl': 64}}, id='icmp-error-inner-packet'),
    pytest.param('legacy/node1/trace/dmesg.log', 'ACK RST', {
        'ip_id': 0, 'tcp_flags': ['ACK', 'RST'], 'tcp_ack': 1069697492, 'tcp_window': 0}, id='tcp-ack-flag-vs-key'),
    pytest.param('legacy/node1/trace/dmesg.log', 'ndtrace out:', {
        'out': 'ndt1', 'uid': 0, 'gid': 0, 'tcp_seq': 3674721548}, id='log-uid-gid'),
    pytest.param('legacy/node2/trace/dmesg.log', 'TYPE=128 CODE=0 ID=28359', {
        'src': '2001:2:0:200::1', 'dst': '2001:2:0:200::2', 'len': 104, 'tc': 0, 'hoplimit': 64,
        'flowlabel': 246919, 'proto': 'icmpv6', 'icmp_type': 128, 'icmp_id': 28359, 'icmp_seq': 1,
        'mac_proto': '86dd'}, id='ipv6-expanded-addresses'),
    pytest.param('nft/node2/trace/xtables-monitor.log', 'SPORT=55174 DPORT=8080', {
        'in': 'ndt2', 'mac_src': '56:cf:22:ec:94:ab', 'mac_dst': 'e6:f1:ac:46:55:db', 'mac_proto': '0800',
        'tos': 0, 'ip_id': 39796, 'flags': ['DF'], 'sport': 55174, 'dport': 8080, 'tcp_flags': ['SYN'],
        'proto': 'tcp'}, id='xtables-packet-tcp'),
    pytest.param('nft/node1/trace/xtables-monitor.log', 'ACK RST', {
        'ip_id': 0, 'flags': ['DF'], 'tcp_flags': ['ACK', 'RST']}, id='xtables-packet-rst'),
    pytest.param('docs/xtables-monitor-manpage.log', 'ID=38349DF', {
        'in': 'lo', 'll': '0x304', 'extra': ['0000000000000000000000000800'], 'ip_id': 38349, 'flags': ['DF'],
        'len': 84}, id='doc-xtables-glued-id-flag'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'icmp id 32746 icmp sequence 1', {
        'in': 'ndt2', 'mac_src': '56:cf:22:ec:94:ab', 'src': '198.18.200.1', 'dst': '198.18.200.2', 'ttl': 64,
        'ip_id': 45102, 'proto': 'icmp', 'len': 84, 'icmp_type': 8, 'icmp_code': 0, 'icmp_id': 32746,
        'icmp_seq': 1}, id='nft-packet-icmp-names'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'tcp sport 55180 tcp dport 8080', {
        'proto': 'tcp', 'sport': 55180, 'dport': 8080, 'tcp_flags': ['SYN'], 'tcp_window': 64240,
        'ip_id': 17192}, id='nft-packet-tcp'),
    pytest.param('nftables/node2/trace/nft-monitor.log', 'ip6 length 64 icmpv6', {
        'src': '2001:2:0:200::1', 'hoplimit': 64, 'flowlabel': 246919, 'proto': 'icmpv6', 'icmp_type': 128,
        'icmp_code': 0, 'icmp_id': 0x122e, 'icmp_seq': 1}, id='nft-icmpv6-echo-id-as-parameter-problem'),
]


@pytest.mark.parametrize('rel, pick, expected', CASES)
def test_packet_fields_of_real_lines(line_with, rel, pick, expected):
    event = parse_trace([line_with(rel, pick)])[0]
    assert event['kind'] != 'unparsed', event
    packet = event['packet']
    for key, value in expected.items():
        assert packet.get(key) == value, (key, packet)


KERNEL_FILES = ['legacy/node1/trace/dmesg.log', 'legacy/node2/trace/dmesg.log']


@pytest.mark.parametrize('rel', KERNEL_FILES)
def test_fast_path_agrees_with_general_tokenizer(lines, rel):
    """The one-regex fast path must give exactly what the general tokenizer gives, on every real line."""
    fast_hits = 0
    for line in lines(rel):
        text = line[line.index('IN='):]
        if not text.endswith(' '):
            text += ' '
        fast = _fast(text)
        general = parse_fields_general(text)
        if fast is not None:
            fast_hits += 1
            assert fast == general, line
        assert parse_fields(text) == general
    assert fast_hits > 10  # the fast path really is taken on the common lines


def test_xtables_monitor_macs_without_leading_zeros_are_padded():
    """xtables-monitor 1.8.9 prints MACSRC=2:0:c6:12:0:1 (seen in the capture playbook's lab bundles)."""
    packet = parse_fields('IN=eth0 MACSRC=2:0:c6:12:0:1 MACDST=2:0:c6:12:0:2 MACPROTO=0800 SRC=198.18.0.1 ')
    assert (packet['mac_src'], packet['mac_dst']) == ('02:00:c6:12:00:01', '02:00:c6:12:00:02')


def test_empty_in_out_are_left_out():
    packet = parse_fields('IN= OUT=eth0 SRC=198.18.0.1 DST=198.18.0.2 LEN=20 TOS=0x00 PREC=0x00 TTL=1 ID=1 PROTO=47 ')
    assert 'in' not in packet and packet['out'] == 'eth0' and packet['proto'] == '47'


def test_unknown_keys_and_bare_words_are_kept():
    packet = parse_fields_general('IN=br0 PHYSIN=veth1 FOO=bar WEIRD SRC=198.18.0.1 ')
    assert packet == {'in': 'br0', 'physin': 'veth1', 'foo': 'bar', 'extra': ['WEIRD'], 'src': '198.18.0.1'}
