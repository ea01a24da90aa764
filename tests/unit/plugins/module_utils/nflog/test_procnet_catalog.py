# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""/proc/net/netfilter/nf_log and the xtables target lists (recorded), and what they prove."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import catalog, procnet
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog.manage import Snapshot
from ansible_collections.netdebug.netfilter.tests.unit.plugins.module_utils.kmod.conftest import (
    DEBIAN12, DEBIAN12_RELEASE, HOST, debian12_root, host_root, text)


@pytest.mark.parametrize('fixture, ipv4, ipv6, available_ipv4', [
    (DEBIAN12 / 'nf_log-boot.txt', None, None, []),
    (DEBIAN12 / 'nf_log-loaded.txt', 'nf_log_ipv4', 'nf_log_ipv6', ['nf_log_ipv4', 'nfnetlink_log']),
    (HOST / 'nf_log-new-netns.txt', 'nf_log_ipv4', 'nf_log_ipv6', ['nf_log_ipv4', 'nfnetlink_log']),
    (HOST / 'nf_log-unbound.txt', None, None, ['nf_log_ipv4', 'nfnetlink_log']),
    (HOST / 'nf_log-nflog-ipv4.txt', 'nfnetlink_log', None, ['nf_log_ipv4', 'nfnetlink_log']),
])
def test_parse_nf_log(fixture, ipv4, ipv6, available_ipv4):
    table = procnet.parse_nf_log(text(fixture))
    assert sorted(table) == list(range(11))
    assert table[2]['bound'] == ipv4 and table[10]['bound'] == ipv6
    assert table[2]['available'] == available_ipv4


def test_parse_nf_log_bad_line():
    with pytest.raises(KmodError, match='nf_log line 1'):
        procnet.parse_nf_log(' 2 nf_log_ipv4\n')


def test_parse_xt_targets():
    loaded = procnet.parse_xt_targets(text(DEBIAN12 / 'ip_tables_targets-loaded.txt'))
    assert loaded == {'NFLOG', 'TRACE', 'LOG', 'ERROR'}
    host = procnet.parse_xt_targets(text(HOST / 'ip_tables_targets.txt'))
    assert {'LOG', 'TRACE', 'NFLOG'} <= host


@pytest.mark.parametrize('release, modules', [
    ('6.1.0-50-amd64', ['nf_log_syslog']),
    ('5.13.0', ['nf_log_syslog']),
    ('5.10.0-28-amd64', ['nf_log_ipv4', 'nf_log_ipv6']),
    ('4.19.0-26-amd64', ['nf_log_ipv4', 'nf_log_ipv6']),
])
def test_syslog_component_by_release(release, modules):
    assert [c.module for c in catalog.syslog_components(release)] == modules


def test_components_needed():
    needed, reported = catalog.components('5.10.0', log_target=True, trace_target=False, nflog=True, families=(2,))
    assert [c.module for c in needed] == ['nf_log_ipv4', 'xt_LOG', 'nfnetlink_log', 'xt_NFLOG']
    assert [c.module for c in reported] == ['nf_log_ipv4', 'nf_log_ipv6', 'xt_LOG', 'xt_TRACE', 'nfnetlink_log',
                                            'xt_NFLOG']


def test_missing_message_names_option_and_package():
    msg = catalog.TRACE_TARGET.missing_message('6.1.0-50-amd64')
    assert 'CONFIG_NETFILTER_XT_TARGET_TRACE' in msg and 'linux-image-6.1.0-50-amd64' in msg


def _states(root, release):
    snap = Snapshot(root, release)
    _needed, reported = catalog.components(release, nflog=True)
    return snap, dict((name, state[0]) for name, state in snap.states(reported).items())


def test_states_on_debian12_at_boot(tmp_path):
    snap, states = _states(debian12_root(tmp_path), DEBIAN12_RELEASE)
    assert states == {'nf_log_syslog': 'loadable', 'xt_LOG': 'loadable', 'xt_TRACE': 'loadable',
                      'nfnetlink_log': 'loadable', 'xt_NFLOG': 'loadable'}
    assert snap.loggers()['ipv4'] is None


def test_states_on_debian12_loaded(tmp_path):
    snap, states = _states(debian12_root(tmp_path, 'loaded'), DEBIAN12_RELEASE)
    assert set(states.values()) == {'loaded'}
    assert snap.loggers() == {'unspec': None, 'inet': None, 'ipv4': 'nf_log_ipv4', 'arp': 'nf_log_arp',
                              'netdev': 'nf_log_netdev', 'bridge': 'nf_log_bridge', 'ipv6': 'nf_log_ipv6'}


def test_states_on_a_kernel_without_modules(tmp_path):
    snap, states = _states(host_root(tmp_path), '6.18.44-fc-v669')
    assert set(states.values()) == {'built_in'}
    evidence = snap.states([catalog.LOG_TARGET])['xt_LOG'][1]
    assert evidence.startswith(str(tmp_path) + '/proc/net/ip_tables_targets lists the LOG target')


def test_without_target_lists_only_loggers_are_proven(tmp_path):
    _snap, states = _states(host_root(tmp_path, targets=False), '6.18.44-fc-v669')
    assert states == {'nf_log_syslog': 'built_in', 'nfnetlink_log': 'built_in', 'xt_LOG': 'missing',
                      'xt_TRACE': 'missing', 'xt_NFLOG': 'missing'}


def test_no_nf_log_file(tmp_path):
    (tmp_path / 'proc').mkdir()
    with pytest.raises(KmodError, match='no netfilter logging'):
        Snapshot(str(tmp_path), '6.1.0')
