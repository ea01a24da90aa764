"""Unit tests of the vm kind's pure parts: apt sources parsing, recipe hash, per-VM config (no root, no VM)."""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# pylint: disable=wrong-import-position
from labkit import image, vm  # noqa: E402

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""

DISABLED = """\
Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no
"""

ONE_LINE = """\
# comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] https://one.example/debian/ bookworm main contrib
deb\thttp://two.example/debian bookworm main
"""


@pytest.mark.parametrize('files, expected', [
    ({'/etc/apt/sources.list.d/debian.sources': DEB822},
     ('http://mirror.example/debian', '/usr/share/keyrings/debian-archive-keyring.gpg')),
    ({'/etc/apt/sources.list.d/a.sources': DISABLED, '/etc/apt/sources.list.d/debian.sources': DEB822},
     ('http://mirror.example/debian', '/usr/share/keyrings/debian-archive-keyring.gpg')),
    ({'/etc/apt/sources.list': ONE_LINE}, ('https://one.example/debian', '/etc/apt/keyrings/x.gpg')),
    ({'/etc/apt/sources.list': 'deb http://two.example/debian bookworm contrib\n' + ONE_LINE.splitlines()[-1]},
     ('http://two.example/debian', '')),
    ({'/etc/apt/sources.list': 'deb cdrom:[Debian]/ bookworm main\ndeb file:/srv/mirror bookworm main\n'},
     ('file:/srv/mirror', '')),
])
def test_pick_mirror(files, expected):
    assert image.pick_mirror(image.parse_sources(files)) == expected


@pytest.mark.parametrize('files', [
    {},
    {'/etc/apt/sources.list.d/a.sources': DISABLED},
    {'/etc/apt/sources.list': 'deb http://x.example/debian bullseye main\ndeb-src http://x.example/debian bookworm main\n'},
])
def test_pick_mirror_without_bookworm_main_says_what_to_add(files):
    with pytest.raises(image.ImageError, match='bookworm main'):
        image.pick_mirror(image.parse_sources(files))


def test_this_machine_has_a_mirror():
    uri, _keyring = image.host_mirror()
    assert uri.startswith(('http://', 'https://', 'file:'))


def test_recipe_hash_follows_the_recipe(tmp_path, monkeypatch):
    recipe = tmp_path / 'vm_image'
    shutil.copytree(image.RECIPE_DIR, recipe)
    monkeypatch.setattr(image, 'RECIPE_DIR', recipe)
    first = image.recipe_hash()
    assert image.recipe_hash() == first
    with open(recipe / 'packages', 'a', encoding='utf-8') as packages:
        packages.write('tcpdump\n')
    assert image.recipe_hash() != first
    assert image.packages()[-1] == 'tcpdump'


def test_packages_cover_what_the_lab_promises():
    wanted = {'linux-image-amd64', 'systemd', 'openssh-server', 'iptables', 'nftables', 'conntrack', 'rsyslog',
              'python3', 'kmod'}
    assert wanted <= set(image.packages())


def test_config_archive_is_a_raw_disk_tar():
    data = vm.config_archive({'hostname': b'node2\n', 'authorized_keys': b'ssh-ed25519 AAAA lab\n'})
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert archive.extractfile('hostname').read() == b'node2\n'
        assert sorted(archive.getnames()) == ['authorized_keys', 'hostname']


def test_node_identity():
    assert vm.node_address(3) == '198.18.1.3' and vm.node_mac(3) == '52:54:00:4e:44:03'
    cmdline = vm.kernel_cmdline(2, 'ab' * 16).split()
    assert {'root=/dev/vda', 'systemd.hostname=node2', 'systemd.machine_id=' + 'ab' * 16} <= set(cmdline)
    unit = vm.network_unit(2)
    assert 'MACAddress=52:54:00:4e:44:02' in unit and 'Address=198.18.1.2/24' in unit and 'Gateway' not in unit
    assert '198.18.1.254\tcontroller' in vm.hosts_file(2) and '198.18.1.2\tnode2' in vm.hosts_file(2)


def test_console_tail_strips_escapes(tmp_path):
    log = tmp_path / 'console.log'
    log.write_bytes(b''.join(b'line %d\r\n' % i for i in range(100)) + b'\x1b[0;32m  OK  \x1b[0m done\r\n')
    tail = vm.console_tail(log, lines=3).splitlines()
    assert tail == ['line 98', 'line 99', '  OK   done']
    assert vm.console_tail(tmp_path / 'missing.log') == '(no console log)'
