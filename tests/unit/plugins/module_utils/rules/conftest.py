# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the _rules unit tests: recorded fixtures and a runner that answers from them."""

from __future__ import annotations

import os
import pathlib

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._drops import instance as drops_instance
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import (
    engine, iptables_backend, legacy_tables, loggers,
)
from ansible_collections.netdebug.netfilter.tests.unit.plugins.fakes import FakeRunner

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'rules'


def read_fixture(name):
    return (FIXTURES / name).read_text(encoding='utf-8')


@pytest.fixture(autouse=True)
def no_host_legacy_tables(tmp_path, tmp_path_factory, monkeypatch):
    """The run's record copies /proc/net/ip*_tables_names: point it at files the test controls (none by default),
    not at this machine's kernel. legacy_table_names(text_ipv4, text_ipv6) writes them."""
    paths = {family: str(tmp_path / ('proc-%s-tables' % family)) for family in ('ipv4', 'ipv6')}
    monkeypatch.setattr(iptables_backend, 'LEGACY_TABLE_NAMES', paths)
    # nor this machine's loaded modules (legacy table modules our inserts load): none unless a test writes some
    monkeypatch.setattr(legacy_tables, 'PROC_MODULES', str(tmp_path / 'proc-modules'))
    # nor this machine's tracefs (drop-reason instances): no mount of it, and ours would go under tmp_path
    # (outside tmp_path, which tests use as the state root and expect to go)
    proc = tmp_path_factory.mktemp('proc')
    (proc / 'mounts').write_text('', encoding='ascii')
    monkeypatch.setattr(drops_instance, 'MOUNTS', str(proc / 'mounts'))
    monkeypatch.setattr(drops_instance, 'MOUNT_ROOT', str(proc / 'tracefs-mounts'))

    def write(ipv4=None, ipv6=None):
        for family, text in (('ipv4', ipv4), ('ipv6', ipv6)):
            if text is not None:
                pathlib.Path(paths[family]).write_text(text, encoding='ascii')
    return write


@pytest.fixture
def fixture_text():
    """fixture_text(name) -> the recorded text."""
    return read_fixture


@pytest.fixture
def runner():
    return FakeRunner()


@pytest.fixture
def patched(monkeypatch, tmp_path):
    """Reaper, installer and dry run replaced; legacy tables all in use; loggers bound. Returns stopped reapers."""
    stopped = []
    names = tmp_path / 'tables_names'
    names.write_text('raw\nfilter\nmangle\nnat\nsecurity\n')
    nf_log = tmp_path / 'nf_log'
    nf_log.write_text('2 nf_log_ipv4 (nf_log_ipv4,nfnetlink_log)\n10 nf_log_ipv6 (nf_log_ipv6,nfnetlink_log)\n')
    monkeypatch.setattr(iptables_backend, 'LEGACY_TABLE_NAMES', {'ipv4': str(names), 'ipv6': str(names)})
    monkeypatch.setattr(loggers, 'NF_LOG', str(nf_log))
    monkeypatch.setattr(engine.dryrun, 'check', lambda node, rules, extra: True)
    monkeypatch.setattr(engine.install, 'install', lambda root: os.path.join(root, 'lib', 'x', 'reap.py'))
    monkeypatch.setattr(engine.schedule, 'schedule', lambda node, program, python, run_id, expires_at: {
        'kind': 'process', 'pid': 4242, 'start': 7, 'expires_at': expires_at})
    monkeypatch.setattr(engine.procs, 'stop_process', lambda pid, start: stopped.append((pid, start)) or True)
    return stopped
