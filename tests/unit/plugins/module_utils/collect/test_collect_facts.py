# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""facts.json read with the stdlib in the shapes of Ansible's setup (gather_subset=min) facts."""

from __future__ import annotations

import os
import platform
import sys
import time

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import facts

DEBIAN_12 = '''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
'''
UBUNTU = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n'
RHEL = "NAME='Red Hat Enterprise Linux'\nVERSION_ID='9.4'\nID=\"rhel\"\n"


def _root(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.mkdir()
        else:
            path.write_text(text)
    return str(tmp_path)


def test_parse_os_release():
    assert facts.parse_os_release(DEBIAN_12 + '# comment\n\nBROKEN\n') == {
        'PRETTY_NAME': 'Debian GNU/Linux 12 (bookworm)', 'NAME': 'Debian GNU/Linux', 'VERSION_ID': '12',
        'VERSION': '12 (bookworm)', 'VERSION_CODENAME': 'bookworm', 'ID': 'debian',
        'HOME_URL': 'https://www.debian.org/'}


@pytest.mark.parametrize('files, expected', [
    ({'etc/os-release': DEBIAN_12, 'etc/debian_version': '12.11\n'}, ('Debian', '12.11')),
    ({'etc/os-release': DEBIAN_12, 'etc/debian_version': 'trixie/sid\n'}, ('Debian', '12')),
    ({'etc/os-release': DEBIAN_12}, ('Debian', '12')),
    ({'usr/lib/os-release': UBUNTU}, ('Ubuntu', '24.04')),
    ({'etc/os-release': RHEL}, ('RedHat', '9.4')),
    ({'etc/os-release': 'ID=alpine\n'}, ('Alpine', None)),
    ({}, (None, None)),
])
def test_distribution(tmp_path, files, expected):
    assert facts.distribution(_root(tmp_path, files)) == expected


@pytest.mark.parametrize('files, expected', [
    ({'run/systemd/system': None, 'proc/1/comm': 'systemd\n'}, 'systemd'),
    ({'proc/1/comm': 'init\n'}, 'sysvinit'),
    ({'proc/1/comm': 'openrc-init\n'}, 'openrc'),
    ({'proc/1/comm': 'tini\n'}, 'tini'),
    ({}, None),
])
def test_service_mgr(tmp_path, files, expected):
    assert facts.service_mgr(_root(tmp_path, files)) == expected


# What `ansible localhost -m setup -a gather_subset=min` gave for ansible_date_time at epoch 1795562651 (TZ=UTC).
SETUP_DATE_TIME = {
    'date': '2026-11-24', 'day': '24', 'epoch': '1795562651', 'epoch_int': '1795562651', 'hour': '23',
    'iso8601': '2026-11-24T23:24:11Z', 'iso8601_basic': '20261124T232411511785',
    'iso8601_basic_short': '20261124T232411', 'iso8601_micro': '2026-11-24T23:24:11.511785Z', 'minute': '24',
    'month': '11', 'second': '11', 'time': '23:24:11', 'tz': 'UTC', 'tz_dst': 'UTC', 'tz_offset': '+0000',
    'weekday': 'Tuesday', 'weekday_number': '2', 'weeknumber': '47', 'year': '2026'}


def test_date_time_matches_setup(monkeypatch):
    monkeypatch.setenv('TZ', 'UTC')
    time.tzset()
    try:
        assert facts.date_time(1795562651.511785) == SETUP_DATE_TIME
    finally:
        monkeypatch.undo()
        time.tzset()


def test_gather_has_setups_keys_and_the_callers_over_them(tmp_path):
    root = _root(tmp_path, {'etc/os-release': DEBIAN_12, 'etc/debian_version': '12.11\n',
                            'run/systemd/system': None})
    got = facts.gather({'inventory_hostname': 'node2', 'fqdn': 'given'}, root=root, now=1795562651)
    assert sorted(got) == ['architecture', 'date_time', 'distribution', 'distribution_version', 'fqdn', 'hostname',
                           'inventory_hostname', 'kernel', 'python', 'service_mgr']
    assert got['inventory_hostname'] == 'node2' and got['fqdn'] == 'given'
    assert (got['distribution'], got['distribution_version'], got['service_mgr']) == ('Debian', '12.11', 'systemd')
    assert got['kernel'] == os.uname().release == platform.release()
    assert got['hostname'] == os.uname().nodename.split('.')[0]
    assert got['architecture'] == os.uname().machine
    assert got['python'] == {'major': sys.version_info.major, 'minor': sys.version_info.minor,
                             'micro': sys.version_info.micro, 'releaselevel': sys.version_info.releaselevel,
                             'serial': sys.version_info.serial}
    assert got['date_time']['epoch'] == '1795562651'
    assert facts.gather(root=root)['inventory_hostname'] is None
