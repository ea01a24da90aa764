# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throwaway apt repository served from the controller to lab nodes that have no route out.

The packages come from the apt sources already configured on the controller (`apt-get download`, no host name
written here); the index is built with `dpkg-deb` (part of dpkg) so no extra tool is needed. Nodes use it through a
sources line marked `[trusted=yes]` that the caller writes and removes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time

VM_BRIDGE_ADDRESS = '198.18.1.254'


def download(packages, directory):
    """apt-get download the named packages into directory; returns the .deb paths."""
    proc = subprocess.run(['apt-get', 'download', '-q'] + list(packages), cwd=directory, capture_output=True,
                          text=True, check=False, env=dict(os.environ, LC_ALL='C'))
    if proc.returncode != 0:
        raise RuntimeError('apt-get download %s failed (rc %d): %s'
                           % (' '.join(packages), proc.returncode, proc.stderr.strip()))
    return sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith('.deb'))


def rsyslog_init_script():
    """Debian's rsyslog init script (Debian 12's rsyslog no longer ships one): from orphan-sysvinit-scripts,
    downloaded through this machine's apt sources."""
    with tempfile.TemporaryDirectory(prefix='netdebug-initd-') as tmp:
        deb = download(['orphan-sysvinit-scripts'], tmp)[0]
        subprocess.run(['dpkg-deb', '-x', deb, os.path.join(tmp, 'root')], check=True)
        with open(os.path.join(tmp, 'root/usr/share/orphan-sysvinit-scripts/rsyslog'), 'rb') as handle:
            return handle.read()


def _stanza(deb, directory):
    control = subprocess.run(['dpkg-deb', '-f', deb], capture_output=True, text=True, check=True).stdout.strip()
    with open(deb, 'rb') as handle:
        data = handle.read()
    return '%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n' % (
        control, os.path.relpath(deb, directory), len(data), hashlib.sha256(data).hexdigest())


def write_index(directory):
    """Packages and Release files of a flat repository (`deb [trusted=yes] URL ./`) for the .debs in directory."""
    debs = sorted(name for name in os.listdir(directory) if name.endswith('.deb'))
    packages = '\n'.join(_stanza(os.path.join(directory, name), directory) for name in debs)
    with open(os.path.join(directory, 'Packages'), 'w', encoding='utf-8') as handle:
        handle.write(packages)
    raw = packages.encode('utf-8')
    with open(os.path.join(directory, 'Release'), 'w', encoding='utf-8') as handle:
        handle.write('Origin: netdebug-test\nLabel: netdebug-test\nSHA256:\n %s %d Packages\n'
                     % (hashlib.sha256(raw).hexdigest(), len(raw)))


class LocalAptRepo:
    """Context manager: downloads packages, indexes them and serves them over HTTP on the lab bridge address."""

    def __init__(self, packages, bind=VM_BRIDGE_ADDRESS):
        self.packages = list(packages)
        self.bind = bind
        self.directory = None
        self.port = None
        self._tmp = None
        self._server = None

    @property
    def source_line(self):
        return 'deb [trusted=yes] http://%s:%d/ ./\n' % (self.bind, self.port)

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix='netdebug-apt-')
        self.directory = self._tmp.name
        try:
            download(self.packages, self.directory)
            write_index(self.directory)
            self._serve()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _serve(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((self.bind, 0))
            self.port = probe.getsockname()[1]
        self._server = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, '-m', 'http.server', '--bind', self.bind, '--directory', self.directory, str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection((self.bind, self.port), timeout=1).close()
                return
            except OSError:
                if self._server.poll() is not None or time.time() > deadline:
                    raise RuntimeError('http.server did not start on %s:%d' % (self.bind, self.port)) from None
                time.sleep(0.2)

    def __exit__(self, *exc):
        if self._server is not None:
            self._server.terminate()
            self._server.wait(timeout=10)
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return False
