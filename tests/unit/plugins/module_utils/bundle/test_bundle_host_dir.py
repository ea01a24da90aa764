# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each host's directory in the bundle (_bundle/layout.host_dir, the bundle_host_dir filter) for hostile inventory
names: no name may leave the incident directory, and no two hosts may share one."""

from __future__ import annotations

import hashlib
import os
import pathlib

import pytest

from ansible_collections.netdebug.netfilter.plugins.filter.capture_pack_args import FilterModule
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.layout import host_dir

NAMES = ['node1', 'web-01.example.net', '../x', '..', '.hidden', 'a/b', 'a_b', 'x y', '../../etc']


@pytest.mark.parametrize('name', NAMES)
def test_directory_stays_inside_the_incident(name):
    directory = host_dir(name)
    assert directory and '/' not in directory and not directory.startswith('.'), directory
    incident = pathlib.PurePosixPath('/bundle/INC')
    assert os.path.normpath(str(incident / directory)).startswith(str(incident) + '/'), directory


def test_plain_names_are_kept_and_no_two_hosts_collide():
    dirs = {name: FilterModule().filters()['bundle_host_dir'](name) for name in NAMES}
    assert dirs['node1'] == 'node1' and dirs['web-01.example.net'] == 'web-01.example.net'
    assert dirs['a_b'] == 'a_b' and dirs['a/b'] != 'a_b'
    assert len(set(dirs.values())) == len(NAMES)
    assert dirs['../x'] == '_._x-' + hashlib.sha1(b'../x').hexdigest()[:8]
