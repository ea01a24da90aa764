# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the collect role: verify, unpack and publish every host's archive in one process.

Reads JSON on stdin: {"incoming": DIR, "incident_dir": DIR, "hosts": {HOST: {"dir": NAME, "sha256": HEX,
"content": BASE64 or null}}}, where CONTENT is the archive capture_pack returned inline, else INCOMING/NAME.tar.gz
is the archive fetched from HOST, and HEX the sha256 the node computed. For each host: an inline archive is written
to INCOMING/NAME.tar.gz, the archive's sha256 is checked, it is unpacked into INCOMING/NAME (regular files and directories only, no path leaving
it), an older INCIDENT_DIR/NAME is removed and INCOMING/NAME is renamed to INCIDENT_DIR/NAME, so a host's directory
appears complete or not at all. Prints {HOST: {"ok": true} or {"ok": false, "step": ..., "msg": ...}}; one host's
failure does not stop the others. Python 3.8+, stdlib only.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import os
import shutil
import sys
import tarfile


def _load_digest():
    """The collection's own sha256 function (the one capture_pack used on the node), loaded by path: this script
    runs with the controller's Python, outside the collection's import path."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    path = os.path.join(root, 'plugins', 'module_utils', '_netfilter', 'digest.py')
    spec = importlib.util.spec_from_file_location('netdebug_digest', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sha256_file


sha256_file = _load_digest()


class PublishError(Exception):
    def __init__(self, step, msg):
        super().__init__(msg)
        self.step = step
        self.msg = msg


def safe_members(tar, dest):
    root = os.path.realpath(dest)
    members = tar.getmembers()
    for member in members:
        target = os.path.realpath(os.path.join(root, member.name))
        if not (member.isfile() or member.isdir()) or os.path.isabs(member.name) or \
                not (target == root or target.startswith(root + os.sep)):
            raise PublishError('Unpack', 'unsafe member %r in the archive' % member.name)
    return members


def publish(host, spec, incoming, incident_dir):
    name = spec['dir']
    archive = os.path.join(incoming, name + '.tar.gz')
    staged = os.path.join(incoming, name)
    final = os.path.join(incident_dir, name)
    if spec.get('content') is not None:
        try:
            data = base64.b64decode(spec['content'], validate=True)
            os.makedirs(incoming, mode=0o750, exist_ok=True)
            with open(archive, 'wb') as handle:
                handle.write(data)
        except (binascii.Error, ValueError, OSError) as exc:
            raise PublishError('Write the inline archive on the controller', str(exc))
    try:
        actual = sha256_file(archive)
    except OSError as exc:
        raise PublishError('Checksum the archive on the controller', str(exc))
    if actual != spec['sha256']:
        raise PublishError('Verify the archive against the node\'s sha256',
                           'The archive of %s arrived damaged: sha256 %s on the controller, %s on the node.'
                           % (host, actual, spec['sha256']))
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
        raise PublishError('Unpack beside the bundle', str(exc))
    try:
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staged, final)
        os.unlink(archive)
    except OSError as exc:
        raise PublishError('Publish the host\'s directory in one rename', str(exc))


def main():
    spec = json.load(sys.stdin)
    results = {}
    for host, entry in sorted(spec['hosts'].items()):
        try:
            publish(host, entry, spec['incoming'], spec['incident_dir'])
            results[host] = {'ok': True}
        except PublishError as exc:
            results[host] = {'ok': False, 'step': exc.step, 'msg': exc.msg}
    json.dump(results, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
