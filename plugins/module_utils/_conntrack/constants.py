# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Numbers of the ctnetlink protocol (linux/netfilter/nfnetlink_conntrack.h and friends) and their names."""

from __future__ import annotations

import socket

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
NFNETLINK_V0 = 0

# nlmsghdr types and flags
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLMSG_MIN_TYPE = 0x10  # types below are netlink control messages
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

# ctnetlink message types (low byte of nlmsg_type; the high byte is the subsystem)
IPCTNL_MSG_CT_NEW = 0
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_DELETE = 2
IPCTNL_MSG_CT_GET_STATS_CPU = 4
IPCTNL_MSG_CT_GET_STATS = 5

# multicast groups (bit numbers + 1, as bind() wants them)
NFNLGRP_CONNTRACK_NEW = 1
NFNLGRP_CONNTRACK_UPDATE = 2
NFNLGRP_CONNTRACK_DESTROY = 3

# enum ctattr_type
CTA_TUPLE_ORIG = 1
CTA_TUPLE_REPLY = 2
CTA_STATUS = 3
CTA_PROTOINFO = 4
CTA_HELP = 5
CTA_TIMEOUT = 7
CTA_MARK = 8
CTA_COUNTERS_ORIG = 9
CTA_COUNTERS_REPLY = 10
CTA_USE = 11
CTA_ID = 12
CTA_SECMARK = 17
CTA_ZONE = 18
CTA_SECCTX = 19
CTA_TIMESTAMP = 20
CTA_LABELS = 22

# enum ctattr_tuple, ctattr_ip, ctattr_l4proto
CTA_TUPLE_IP = 1
CTA_TUPLE_PROTO = 2
CTA_TUPLE_ZONE = 3
CTA_IP_V4_SRC = 1
CTA_IP_V4_DST = 2
CTA_IP_V6_SRC = 3
CTA_IP_V6_DST = 4
CTA_PROTO_NUM = 1
CTA_PROTO_SRC_PORT = 2
CTA_PROTO_DST_PORT = 3
CTA_PROTO_ICMP_ID = 4
CTA_PROTO_ICMP_TYPE = 5
CTA_PROTO_ICMP_CODE = 6
CTA_PROTO_ICMPV6_ID = 7
CTA_PROTO_ICMPV6_TYPE = 8
CTA_PROTO_ICMPV6_CODE = 9

# enum ctattr_protoinfo and its TCP/DCCP/SCTP members (state is attribute 1 in all three)
CTA_PROTOINFO_TCP = 1
CTA_PROTOINFO_DCCP = 2
CTA_PROTOINFO_SCTP = 3
CTA_PROTOINFO_STATE = 1

# enum ctattr_counters, ctattr_tstamp, ctattr_help, ctattr_secctx
CTA_COUNTERS_PACKETS = 1
CTA_COUNTERS_BYTES = 2
CTA_COUNTERS32_PACKETS = 3
CTA_COUNTERS32_BYTES = 4
CTA_TIMESTAMP_START = 1
CTA_TIMESTAMP_STOP = 2
CTA_HELP_NAME = 1
CTA_SECCTX_NAME = 1

# CTA_FILTER flags (CTA_FILTER_F_*), kernel 5.8+
CTA_FILTER_ORIG_FLAGS = 1
CTA_FILTER_REPLY_FLAGS = 2
FILTER_IP_SRC = 1 << 0
FILTER_IP_DST = 1 << 1
FILTER_PROTO_NUM = 1 << 3
FILTER_PROTO_SRC_PORT = 1 << 4
FILTER_PROTO_DST_PORT = 1 << 5
FILTER_ICMP_TYPE = 1 << 6
FILTER_ICMP_CODE = 1 << 7
FILTER_ICMP_ID = 1 << 8
FILTER_ICMPV6_TYPE = 1 << 9
FILTER_ICMPV6_CODE = 1 << 10
FILTER_ICMPV6_ID = 1 << 11

FAMILIES = {'ipv4': socket.AF_INET, 'ipv6': socket.AF_INET6}
FAMILY_NAMES = {socket.AF_INET: 'ipv4', socket.AF_INET6: 'ipv6'}

# IP protocol numbers conntrack knows by name (conntrack -p accepts the same names)
PROTOCOLS = {
    'icmp': 1, 'igmp': 2, 'tcp': 6, 'udp': 17, 'dccp': 33, 'gre': 47, 'ipv6-icmp': 58, 'icmpv6': 58,
    'sctp': 132, 'udplite': 136,
}
PROTOCOL_NAMES = {1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 47: 'gre', 58: 'icmpv6', 132: 'sctp',
                  136: 'udplite'}
PORT_PROTOCOLS = frozenset((6, 17, 33, 132, 136))  # protocols whose tuple carries ports
ICMP_PROTOCOLS = frozenset((1, 58))

# enum ip_conntrack_status bits (bit 12 was IPS_UNTRACKED before 4.14, IPS_NAT_CLASH since 5.7)
STATUS_BITS = (
    ('EXPECTED', 0), ('SEEN_REPLY', 1), ('ASSURED', 2), ('CONFIRMED', 3), ('SRC_NAT', 4), ('DST_NAT', 5),
    ('SEQ_ADJUST', 6), ('SRC_NAT_DONE', 7), ('DST_NAT_DONE', 8), ('DYING', 9), ('FIXED_TIMEOUT', 10),
    ('TEMPLATE', 11), ('NAT_CLASH', 12), ('HELPER', 13), ('OFFLOAD', 14), ('HW_OFFLOAD', 15),
)
STATUS_BY_NAME = dict((name, 1 << bit) for name, bit in STATUS_BITS)
# What conntrack(8) prints: [UNREPLIED] is the absence of SEEN_REPLY
STATUS_ALIASES = {'UNREPLIED': '!SEEN_REPLY', 'REPLIED': 'SEEN_REPLY', 'UNASSURED': '!ASSURED'}

# enum tcp_conntrack (9 was LISTEN before 2.6.31 and is SYN_SENT2 since)
TCP_STATES = ('NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT',
              'CLOSE', 'SYN_SENT2')
TCP_STATE_ALIASES = {'LISTEN': 'SYN_SENT2', 'TIME-WAIT': 'TIME_WAIT'}
SCTP_STATES = ('NONE', 'CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT', 'SHUTDOWN_RECD',
               'SHUTDOWN_ACK_SENT', 'HEARTBEAT_SENT', 'HEARTBEAT_ACKED')
DCCP_STATES = ('NONE', 'REQUEST', 'RESPOND', 'PARTOPEN', 'OPEN', 'CLOSEREQ', 'CLOSING', 'TIMEWAIT', 'IGNORE',
               'INVALID')

# enum ctattr_stats_cpu and ctattr_stats_global, as lowercase counter names (the names of /proc/net/stat)
STATS_CPU_NAMES = {1: 'searched', 2: 'found', 3: 'new', 4: 'invalid', 5: 'ignore', 6: 'delete',
                   7: 'delete_list', 8: 'insert', 9: 'insert_failed', 10: 'drop', 11: 'early_drop',
                   12: 'error', 13: 'search_restart', 14: 'clash_resolve', 15: 'chain_toolong'}
STATS_GLOBAL_ENTRIES = 1
STATS_GLOBAL_MAX_ENTRIES = 2
