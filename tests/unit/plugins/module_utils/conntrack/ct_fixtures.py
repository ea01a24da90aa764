# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the conntrack unit tests: the recorded fixtures, the recorded conntrack(8) listing, and a fake netlink
socket that answers requests with recorded datagrams (tests/unit/fixtures/conntrack/README.md)."""

from __future__ import annotations

import collections
import json
import os
import pathlib
import struct

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import text
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.netlink import CtnetlinkSocket

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'conntrack'
FRAME = struct.Struct('<I')
NLMSGHDR = struct.Struct('=IHHII')


def datagrams(name):
    data = (FIXTURES / name).read_bytes()
    out = []
    off = 0
    while off < len(data):
        (length,) = FRAME.unpack_from(data, off)
        out.append(data[off + 4:off + 4 + length])
        off += 4 + length
    return out


def messages(name, data_only=True):
    """The individual netlink messages of a datagram file (ctnetlink data messages only, by default)."""
    out = []
    for data in datagrams(name):
        off = 0
        while off < len(data):
            length, mtype = NLMSGHDR.unpack_from(data, off)[:2]
            if not data_only or mtype >> 8 == C.NFNL_SUBSYS_CTNETLINK:
                out.append(data[off:off + length])
            off += (length + 3) & ~3
    return out


def cases():
    return json.loads((FIXTURES / 'cases.json').read_text())['cases']


def conntrack_lines():
    """The recorded `conntrack -L -o extended,id` listing, read by the module's own text parser (_conntrack/text)."""
    return [text.parse_line(line) for line in (FIXTURES / 'conntrack_L.txt').read_text().splitlines()
            if line.strip()]


def with_seq(data, seq):
    """A datagram with every message's sequence number set to seq."""
    out = bytearray(data)
    off = 0
    while off < len(out):
        length = NLMSGHDR.unpack_from(out, off)[0]
        struct.pack_into('=I', out, off + 8, seq)
        off += (length + 3) & ~3
    return bytes(out)


def request_seqs(data):
    """(seq, type) of each message of a request datagram."""
    out = []
    off = 0
    while off < len(data):
        length, mtype, _flags, seq, _pid = NLMSGHDR.unpack_from(data, off)
        out.append((seq, mtype))
        off += (length + 3) & ~3
    return out


def ack(seq, code=0):
    """An NLMSG_ERROR acknowledgement (code 0) or error (negative errno) for request seq."""
    body = struct.pack('=i', code) + NLMSGHDR.pack(20, 0, 0, seq, 0)
    return NLMSGHDR.pack(16 + len(body), C.NLMSG_ERROR, 0, seq, 0) + body


class FakeNetlinkSock:
    """Socket-like object for CtnetlinkSocket: each send() queues responder(request) as datagrams to receive.

    Readiness for select() comes from a pipe holding one byte per queued datagram.
    """

    def __init__(self, responder):
        self.responder = responder
        self.sent = []
        self.queue = collections.deque()
        self.rfd, self.wfd = os.pipe()

    def preload(self, grams):
        for data in grams:
            self.queue.append(data)
            os.write(self.wfd, b'x')

    def fileno(self):
        return self.rfd

    def send(self, data):
        self.sent.append(bytes(data))
        self.preload(self.responder(bytes(data)))
        return len(data)

    def recv_into(self, buf):
        os.read(self.rfd, 1)
        data = self.queue.popleft()
        buf[:len(data)] = data
        return len(data)

    def setsockopt(self, *args):
        pass

    def bind(self, *args):
        pass

    def close(self):
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def fake_factory(responder, sockets=None, preload=None):
    """A socket_factory for query.Conntrack that builds CtnetlinkSockets over FakeNetlinkSocks."""
    def factory(groups=0, rcvbuf=None):
        fake = FakeNetlinkSock(responder)
        if preload and groups:
            fake.preload(preload)
        if sockets is not None:
            sockets.append(fake)
        return CtnetlinkSocket(groups=groups, rcvbuf=rcvbuf, timeout=5, sock=fake)
    return factory


def replay(name):
    """A responder answering any request with the recorded datagrams of `name`, renumbered to its seq."""
    recorded = datagrams(name)

    def responder(request):
        seq = request_seqs(request)[0][0]
        return [with_seq(data, seq) for data in recorded]
    return responder
