# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the _kmod and _nflog unit tests: the recorded kernel tables and fake node roots made from them."""

from __future__ import annotations

import os
import pathlib
import shutil

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'kmod'
DEBIAN12 = FIXTURES / 'debian12-6.1.0-50-amd64'
DEBIAN12_RELEASE = '6.1.0-50-amd64'
HOST = FIXTURES / 'host-6.18.44-fc-v669'
HOST_RELEASE = '6.18.44-fc-v669'


def text(path):
    return pathlib.Path(path).read_text(encoding='utf-8')


def make_root(tmp_path, release, files):
    """A fake node root: files maps a path inside the root to a fixture path (or to text)."""
    for inside, source in files.items():
        dest = tmp_path / inside.lstrip('/')
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, pathlib.Path):
            shutil.copyfile(str(source), str(dest))
        else:
            dest.write_text(source)
    (tmp_path / 'proc' / 'self' / 'ns').mkdir(parents=True, exist_ok=True)
    (tmp_path / 'proc' / 'self' / 'ns' / 'net').write_text('')
    return str(tmp_path)


def debian12_root(tmp_path, state='boot'):
    """A Debian 12 VM as recorded: at boot (nothing of LOG/TRACE loaded) or with the modules loaded."""
    moddir = '/lib/modules/%s/' % DEBIAN12_RELEASE
    files = {
        '/proc/modules': DEBIAN12 / ('proc-modules-%s.txt' % state),
        '/proc/net/netfilter/nf_log': DEBIAN12 / ('nf_log-%s.txt' % state),
        moddir + 'modules.builtin': DEBIAN12 / 'modules.builtin',
        moddir + 'modules.builtin.modinfo': DEBIAN12 / 'modules.builtin.modinfo',
        moddir + 'modules.alias': DEBIAN12 / 'modules.alias.netfilter',
        moddir + 'modules.dep': DEBIAN12 / 'modules.dep.netfilter',
        '/proc/sys/kernel/modules_disabled': DEBIAN12 / 'modules_disabled.txt',
    }
    if state == 'loaded':
        files['/proc/net/ip_tables_targets'] = DEBIAN12 / 'ip_tables_targets-loaded.txt'
    return make_root(tmp_path, DEBIAN12_RELEASE, files)


def host_root(tmp_path, nf_log='nf_log-new-netns.txt', targets=True):
    """This repository's recording machine: kernel without module support, netfilter built in."""
    files = {'/proc/net/netfilter/nf_log': HOST / nf_log}
    if targets:
        files['/proc/net/ip_tables_targets'] = HOST / 'ip_tables_targets.txt'
        files['/proc/net/ip6_tables_targets'] = HOST / 'ip6_tables_targets.txt'
    return make_root(tmp_path, HOST_RELEASE, files)


def exists(path):
    return os.path.exists(path)
