# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ctnetlink socket: send requests, stream replies datagram by datagram into one reused buffer.

pyroute2 encodes the requests (request.py); reading is done here on a plain socket so that a dump of any size
runs in constant memory and each message is handed to the fast decoder without building objects for it.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import constants as C
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.decode import (
    NLMSGHDR, DecodeError, error_code, iter_messages)
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack.errors import ConntrackError

RECV_BUFFER = 1 << 18  # the kernel fills at most 32 KiB per dump datagram; events may come in bursts
SO_RCVBUFFORCE = 33


class NetlinkError(ConntrackError):
    """The kernel answered a request with an errno."""


def _errno_text(code):
    return '%s (%s)' % (errno.errorcode.get(code, 'E?'), os.strerror(code))


class CtnetlinkSocket:
    """A NETLINK_NETFILTER socket in the current network namespace."""

    def __init__(self, groups=0, rcvbuf=None, timeout=120.0, sock=None):
        """sock: an already open socket-like object (the unit tests replay recorded datagrams through one)."""
        self.sock = sock if sock is not None else socket.socket(socket.AF_NETLINK, socket.SOCK_RAW,
                                                                C.NETLINK_NETFILTER)
        if rcvbuf:
            try:  # root may exceed net.core.rmem_max; the event stream needs the room
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((0, groups))
        self.timeout = timeout
        self.buf = bytearray(RECV_BUFFER)
        self.seq = int(time.time()) & 0x7FFFFFFF

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next_seq(self):
        self.seq = (self.seq + 1) & 0x7FFFFFFF
        return self.seq

    def send(self, data):
        self.sock.send(data)  # a netlink datagram goes whole or fails

    def _recv(self, deadline=None):
        """Receive one datagram into the shared buffer; returns its length (0 on timeout with a deadline)."""
        wait = self.timeout if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _w, _x = select.select([self.sock], [], [], wait)
        if not ready:
            if deadline is not None:
                return 0
            raise ConntrackError('no answer from the kernel (ctnetlink) within %d seconds' % self.timeout)
        return self.sock.recv_into(self.buf)

    def stream(self, request, seq, decode=None):
        """Send a dump request and yield (buf, start, end) for each data message until NLMSG_DONE, or
        decode(buf, start, end) when a decoder is given (one generator less on the hot path).

        The buffer is reused for the next datagram: consumers must copy what they keep. (The message walk is
        inlined: this loop runs once per table entry.)
        """
        self.send(request)
        buf = self.buf
        unpack = NLMSGHDR.unpack_from
        while True:
            length = self._recv()
            off = 0
            while off + 16 <= length:
                mlen, mtype, _flags, mseq, _pid = unpack(buf, off)
                if mlen < 16 or off + mlen > length:
                    raise DecodeError('netlink message of length %d at offset %d overruns the datagram' % (mlen, off))
                if mseq == seq:  # anything else is a stale answer to an earlier request on this socket
                    if mtype >= C.NLMSG_MIN_TYPE:
                        yield decode(buf, off, off + mlen) if decode else (buf, off, off + mlen)
                    elif mtype == C.NLMSG_DONE:
                        return
                    elif mtype == C.NLMSG_ERROR:
                        code = -error_code(buf, off)
                        if code:
                            raise NetlinkError('the kernel refused the request: %s' % _errno_text(code), errno=code)
                        return
                off += (mlen + 3) & ~3

    def transact(self, request, seq):
        """Send a request that wants an acknowledgement; returns the copies of the data messages before it."""
        messages = []
        for buf, start, end in self.stream(request, seq):
            messages.append(bytes(buf[start:end]))
        return messages

    def acks(self, count, first_seq):
        """Read `count` acknowledgements of consecutive requests; returns {seq: errno (0 = success)}."""
        results = {}
        buf = self.buf
        while len(results) < count:
            length = self._recv()
            for mtype, _flags, mseq, start, _end in iter_messages(buf, length):
                if mtype == C.NLMSG_ERROR and first_seq <= mseq < first_seq + count:
                    results[mseq] = -error_code(buf, start)
        return results

    def events(self, deadline):
        """Yield (buf, start, end, type, flags) of event messages until the deadline; None marks lost events."""
        buf = self.buf
        while True:
            try:
                length = self._recv(deadline)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # the socket overflowed: the kernel dropped events
                    yield None
                    continue
                raise
            if not length:
                return
            for mtype, flags, _seq, start, end in iter_messages(buf, length):
                if mtype >> 8 == C.NFNL_SUBSYS_CTNETLINK:
                    yield buf, start, end, mtype & 0xFF, flags
