# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File helpers for the managed drop-ins: read, ownership check, atomic write, removal."""

from __future__ import annotations

import os
import tempfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.render import HEADER


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError) as exc:
        if not os.path.exists(path):
            return None
        raise KernlogError('cannot read %s: %s' % (path, exc))


def ensure_ours(param, path, text):
    """Refuse to overwrite or delete a file this module did not write (it would lack the header)."""
    if text is not None and not text.startswith(HEADER):
        raise KernlogError('%s: %s exists and was not written by netdebug.netfilter.rsyslog_kernlog (no "Managed by" '
                           'header); it is left alone. Choose another %s or move that file away.'
                           % (param, path, param))


def atomic_write(module, dest, content, mode=0o644):
    """Write content to dest through a temporary file in the same directory and an atomic rename."""
    directory = os.path.dirname(dest) or '.'
    if not os.path.isdir(directory):
        raise KernlogError('the directory %s for %s does not exist (is the package that owns it installed?)'
                           % (directory, dest))
    fd, tmp = tempfile.mkstemp(prefix='.netdebug-', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content.encode('utf-8'))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        module.atomic_move(tmp, dest)
        os.chmod(dest, mode)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if os.path.exists(path):
            raise KernlogError('cannot remove %s: %s' % (path, exc))
