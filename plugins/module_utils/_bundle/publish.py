# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of the collect step: verify, unpack and publish every host's archive (bundle_publish).

For each host: an archive capture_pack returned inline is written to <incoming>/<dir>.tar.gz (a fetched one is
there already), its sha256 is checked against the node's, it is unpacked into <incoming>/<dir> (regular files and
directories only, no path leaving it), and that directory replaces <incident_dir>/<dir> in one rename, so a host's
directory appears complete or not at all. One host's failure does not stop the others. In check mode the archive is
checked (sha256 and members) and nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import shutil
import tarfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.digest import sha256_file
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError

STEP_WRITE = 'Write the inline archive on the controller'
STEP_CHECKSUM = 'Checksum the archive on the controller'
STEP_VERIFY = "Verify the archive against the node's sha256"
STEP_UNPACK = 'Unpack beside the bundle'
STEP_PUBLISH = "Publish the host's directory in one rename"


class PublishError(NetdebugError):
    """One host's archive could not be published; step names where it failed."""

    def __init__(self, step, msg):
        super().__init__(msg)
        self.step = step


def safe_members(tar, dest):
    """The archive's members, each a regular file or a directory that stays inside dest."""
    root = os.path.realpath(dest)
    members = tar.getmembers()
    for member in members:
        target = os.path.realpath(os.path.join(root, member.name))
        if not (member.isfile() or member.isdir()) or os.path.isabs(member.name) or \
                not (target == root or target.startswith(root + os.sep)):
            raise PublishError(STEP_UNPACK, 'unsafe member %r in the archive' % member.name)
    return members


def _inline(spec):
    try:
        return base64.b64decode(spec['content'], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PublishError(STEP_WRITE, str(exc)) from None


def _checked(host, spec, archive, check_mode):
    """The archive's bytes in check mode (an inline one is not written), else None once it is on disk; its sha256
    is the node's."""
    data = _inline(spec) if spec.get('content') is not None else None
    if data is not None and not check_mode:
        try:
            os.makedirs(os.path.dirname(archive), mode=0o750, exist_ok=True)
            with open(archive, 'wb') as handle:
                handle.write(data)
        except OSError as exc:
            raise PublishError(STEP_WRITE, str(exc)) from None
        data = None
    try:
        actual = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(archive)
    except OSError as exc:
        raise PublishError(STEP_CHECKSUM, str(exc)) from None
    if actual != spec['sha256']:
        raise PublishError(STEP_VERIFY, 'The archive of %s arrived damaged: sha256 %s on the controller, %s on the '
                                        'node.' % (host, actual, spec['sha256']))
    return data


def publish(host, spec, incoming, incident_dir, check_mode=False):
    """Publish one host's archive (spec: dir, sha256, content or None); raises PublishError."""
    name = spec['dir']
    archive = os.path.join(incoming, name + '.tar.gz')
    staged = os.path.join(incoming, name)
    data = _checked(host, spec, archive, check_mode)
    if check_mode:
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) if data is not None else tarfile.open(archive, 'r:gz') as tar:
                safe_members(tar, staged)
        except (OSError, tarfile.TarError) as exc:
            raise PublishError(STEP_UNPACK, str(exc)) from None
        return
    shutil.rmtree(staged, ignore_errors=True)
    os.makedirs(staged, mode=0o750)
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            members = safe_members(tar, staged)
            if hasattr(tarfile, 'data_filter'):  # Python 3.12+ (and security updates of older ones)
                tar.extractall(staged, members=members, filter='data')
            else:
                tar.extractall(staged, members=members)  # members checked by safe_members
    except (OSError, tarfile.TarError) as exc:
        raise PublishError(STEP_UNPACK, str(exc)) from None
    final = os.path.join(incident_dir, name)
    try:
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staged, final)
        os.unlink(archive)
    except OSError as exc:
        raise PublishError(STEP_PUBLISH, str(exc)) from None


def publish_all(hosts, incoming, incident_dir, check_mode=False):
    """{host: {'ok': True} or {'ok': False, 'step': ..., 'msg': ...}} for every host of hosts."""
    results = {}
    for host, spec in sorted(hosts.items()):
        try:
            publish(host, spec, incoming, incident_dir, check_mode)
            results[host] = {'ok': True}
        except PublishError as exc:
            results[host] = {'ok': False, 'step': exc.step, 'msg': exc.msg}
    return results
