# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""facts.json: the node facts a bundle records, read with the stdlib in the shape of Ansible's setup facts.

The keys and shapes are those the collect role took from ``setup: gather_subset=min`` (hostname, fqdn, kernel,
distribution, distribution_version, architecture, python as ansible_python.version, service_mgr, date_time), so
that bundles read the same whichever way they were made; reading them here saves the node a setup run.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import sys
import time

OS_RELEASE = ('/etc/os-release', '/usr/lib/os-release')
# os-release ID -> the name Ansible's distribution fact uses, where it is not just the ID capitalised.
DISTRIBUTION_NAMES = {
    'rhel': 'RedHat', 'centos': 'CentOS', 'almalinux': 'AlmaLinux', 'opensuse-leap': 'openSUSE Leap',
    'opensuse-tumbleweed': 'openSUSE Tumbleweed', 'sles': 'SLES', 'arch': 'Archlinux', 'ol': 'OracleLinux',
    'amzn': 'Amazon', 'linuxmint': 'Linux Mint',
}
# PID 1's name -> service manager, for nodes without systemd.
INIT_NAMES = {'init': 'sysvinit', 'openrc-init': 'openrc', 'runit': 'runit', 'runit-init': 'runit',
              's6-svscan': 's6', 'upstart': 'upstart'}


def parse_os_release(text):
    """KEY=value lines of os-release(5) -> dict, quotes removed."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1].replace('\\"', '"').replace('\\\\', '\\')
        values[key.strip()] = value
    return values


def _read(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return handle.read()
    except OSError:
        return None


def distribution(root='/'):
    """(distribution, distribution_version) as setup names them, or (None, None) without os-release.

    Debian's VERSION_ID is only the major number; /etc/debian_version has the point release setup reports."""
    for path in OS_RELEASE:
        text = _read(os.path.join(root, path.lstrip('/')))
        if text is not None:
            break
    else:
        return None, None
    release = parse_os_release(text)
    ident = release.get('ID', '').lower()
    name = DISTRIBUTION_NAMES.get(ident, ident.capitalize() or None)
    version = release.get('VERSION_ID') or None
    if ident == 'debian':
        point = (_read(os.path.join(root, 'etc/debian_version')) or '').strip()
        if point[:1].isdigit() and (version is None or point.split('.')[0] == version):
            version = point
    return name, version


def service_mgr(root='/'):
    """systemd when it runs (/run/systemd/system exists), else named after PID 1 (sysvinit for init); None when
    PID 1 cannot be read."""
    if os.path.isdir(os.path.join(root, 'run/systemd/system')):
        return 'systemd'
    comm = (_read(os.path.join(root, 'proc/1/comm')) or '').strip()
    if not comm:
        return None
    return INIT_NAMES.get(comm, comm)


def date_time(now=None):
    """The keys of setup's ansible_date_time, for the moment now (epoch seconds, default the current time)."""
    now = time.time() if now is None else now
    local = datetime.datetime.fromtimestamp(now)
    utc = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    stamp = time.localtime(now)
    return {
        'year': local.strftime('%Y'), 'month': local.strftime('%m'), 'weekday': local.strftime('%A'),
        'weekday_number': local.strftime('%w'), 'weeknumber': local.strftime('%W'), 'day': local.strftime('%d'),
        'hour': local.strftime('%H'), 'minute': local.strftime('%M'), 'second': local.strftime('%S'),
        'epoch': str(int(now)), 'epoch_int': str(int(now)), 'date': local.strftime('%Y-%m-%d'),
        'time': local.strftime('%H:%M:%S'), 'iso8601_micro': utc.strftime('%Y-%m-%dT%H:%M:%S.%fZ'),
        'iso8601': utc.strftime('%Y-%m-%dT%H:%M:%SZ'), 'iso8601_basic': local.strftime('%Y%m%dT%H%M%S%f'),
        'iso8601_basic_short': local.strftime('%Y%m%dT%H%M%S'), 'tz': time.strftime('%Z', stamp),
        'tz_dst': time.tzname[1], 'tz_offset': time.strftime('%z', stamp),
    }


def gather(extra=None, root='/', now=None):
    """facts.json's content: the node's facts, then the caller's `extra` keys over them."""
    name, version = distribution(root)
    info = sys.version_info
    facts = {
        'inventory_hostname': None,
        'hostname': platform.node().split('.')[0] or None,
        'fqdn': socket.getfqdn(),
        'kernel': platform.release(),
        'distribution': name,
        'distribution_version': version,
        'architecture': platform.machine(),
        'python': {'major': info.major, 'minor': info.minor, 'micro': info.micro,
                   'releaselevel': info.releaselevel, 'serial': info.serial},
        'service_mgr': service_mgr(root),
        'date_time': date_time(now),
    }
    facts.update(extra or {})
    return facts
