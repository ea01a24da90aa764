# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing the kernel module tables, from content recorded on a Debian 12 VM (see fixtures/kmod/README.md)."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import parsers
from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.tests.unit.plugins.module_utils.kmod.conftest import DEBIAN12, text


def test_proc_modules_at_boot_and_loaded():
    boot = parsers.parse_proc_modules(text(DEBIAN12 / 'proc-modules-boot.txt'))
    loaded = parsers.parse_proc_modules(text(DEBIAN12 / 'proc-modules-loaded.txt'))
    assert 'xt_LOG' not in boot and 'nf_log_syslog' not in boot
    assert boot['x_tables'] == {'size': 61440, 'refcount': 1, 'holders': ['ip_tables'], 'state': 'Live'}
    assert loaded['xt_LOG'] == {'size': 20480, 'refcount': 0, 'holders': [], 'state': 'Live'}
    assert loaded['nfnetlink']['holders'] == ['nfnetlink_log']
    assert loaded['x_tables']['holders'] == ['xt_NFLOG', 'xt_TRACE', 'xt_LOG', 'ip_tables']
    assert set(loaded) - set(boot) == {'xt_NFLOG', 'nfnetlink_log', 'nfnetlink', 'xt_TRACE', 'xt_LOG',
                                       'nf_log_syslog'}


@pytest.mark.parametrize('line', ['xt_LOG', 'xt_LOG abc 0 - Live 0x0'])
def test_proc_modules_bad_line(line):
    with pytest.raises(KmodError, match='/proc/modules line 1'):
        parsers.parse_proc_modules(line + '\n')


def test_modules_builtin():
    builtin = parsers.parse_modules_builtin(text(DEBIAN12 / 'modules.builtin'))
    assert len(builtin) == 186
    assert 'unix' in builtin and 'xt_LOG' not in builtin  # Debian builds netfilter as modules
    assert all('-' not in name and not name.endswith('.ko') for name in builtin)


def test_builtin_modinfo_aliases():
    aliases = parsers.parse_builtin_modinfo((DEBIAN12 / 'modules.builtin.modinfo').read_bytes())
    assert aliases  # Debian 12's built-in modules carry aliases too
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items())
    assert parsers.parse_builtin_modinfo(b'xt_LOG.alias=ipt_LOG\x00xt_LOG.license=GPL\x00') == {'ipt_LOG': 'xt_LOG'}


def test_modules_alias_resolves_the_netfilter_names():
    aliases = parsers.parse_modules_alias(text(DEBIAN12 / 'modules.alias.netfilter'))
    assert parsers.resolve_alias('ipt_LOG', aliases) == ['xt_LOG']
    assert parsers.resolve_alias('ip6t_LOG', aliases) == ['xt_LOG']
    assert parsers.resolve_alias('ipt_TRACE', aliases) == ['xt_TRACE']
    assert parsers.resolve_alias('nf_log_ipv4', aliases) == ['nf_log_syslog']   # 5.13+: one module
    assert parsers.resolve_alias('nf_log_ipv6', aliases) == ['nf_log_syslog']
    assert parsers.resolve_alias('nf-logger-2-0', aliases) == ['nf_log_syslog']
    assert parsers.resolve_alias('nf-logger-2-1', aliases) == ['nfnetlink_log']
    assert parsers.resolve_alias('ipt_NFLOG', aliases) == ['xt_NFLOG']
    assert parsers.resolve_alias('xt_LOG', aliases) == []


def test_modules_alias_bad_line():
    with pytest.raises(KmodError, match='modules.alias line 2'):
        parsers.parse_modules_alias('alias a b\nnot an alias\n')


def test_wildcard_aliases():
    aliases = [('nf-logger-*', 'x'), ('nf-logger-2-0', 'nf_log_syslog')]
    assert parsers.resolve_alias('nf-logger-2-0', aliases) == ['nf_log_syslog']  # exact beats wildcard
    assert parsers.resolve_alias('nf-logger-9-9', aliases) == ['x']


def test_modules_dep():
    deps = parsers.parse_modules_dep(text(DEBIAN12 / 'modules.dep.netfilter'))
    assert deps['xt_LOG'] == ('kernel/net/netfilter/xt_LOG.ko', ['x_tables'])
    assert deps['nf_log_syslog'][0] == 'kernel/net/netfilter/nf_log_syslog.ko'
    assert deps['nfnetlink_log'][1] == ['nfnetlink']
    assert 'xt_TRACE' in deps and 'xt_NFLOG' in deps


@pytest.mark.parametrize('name, expected', [('ipt-LOG', 'ipt_LOG'), ('xt_LOG', 'xt_LOG')])
def test_module_name(name, expected):
    assert parsers.module_name(name) == expected
