# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read new kernel log records from /dev/kmsg (for the legacy TRACE lines of a ``duration`` call)."""

from __future__ import annotations

import errno
import os

KMSG = '/dev/kmsg'


def parse_record(data):
    """Message text of one /dev/kmsg record 'prio,seq,usec,flags;text\\n continuation lines'."""
    text = data.decode('utf-8', 'replace')
    head, sep, rest = text.partition(';')
    if not sep:
        return text.strip()
    return rest.split('\n', 1)[0]


class KmsgReader:
    """Opened before the rule goes in, positioned at the end: read() returns what the kernel logged since."""

    def __init__(self, path=KMSG):
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def read(self, contains=('TRACE: ',)):
        """New records whose text contains one of the given strings."""
        lines = []
        while True:
            try:
                data = os.read(self.fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # records were overwritten before we read them; go on with the next
                if exc.errno == errno.EAGAIN:
                    break
                raise
            if not data:
                break
            line = parse_record(data)
            if any(text in line for text in contains):
                lines.append(line)
        return lines

    def close(self):
        os.close(self.fd)
