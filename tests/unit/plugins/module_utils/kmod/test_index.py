# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module states (built_in, loaded, loadable, missing) from recorded node tables."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod import index
from ansible_collections.netdebug.netfilter.tests.unit.plugins.module_utils.kmod.conftest import (
    DEBIAN12_RELEASE, debian12_root, host_root)


def test_debian12_at_boot(tmp_path):
    idx = index.read_index(DEBIAN12_RELEASE, debian12_root(tmp_path))
    assert idx.can_load
    assert idx.state('xt_LOG') == ('loadable', 'modules.dep of 6.1.0-50-amd64 has kernel/net/netfilter/xt_LOG.ko')
    assert idx.state('ipt_LOG')[0] == 'loadable' and idx.canonical('ipt_LOG') == 'xt_LOG'
    assert idx.canonical('nf_log_ipv4') == 'nf_log_syslog'
    assert idx.state('x_tables')[0] == 'loaded'
    assert idx.state('xt_NOSUCH') == ('missing', 'xt_NOSUCH is neither built in, loaded nor in modules.dep of '
                                                 '6.1.0-50-amd64')


def test_debian12_loaded(tmp_path):
    idx = index.read_index(DEBIAN12_RELEASE, debian12_root(tmp_path, 'loaded'))
    for name in ('xt_LOG', 'ipt_LOG', 'nf_log_syslog', 'nf_log_ipv4', 'xt_TRACE', 'nfnetlink_log', 'xt_NFLOG'):
        assert idx.state(name)[0] == 'loaded', name
    # Registered and loaded: loaded wins (it can be unloaded again).
    assert idx.state('xt_LOG', registered='/proc/net/ip_tables_targets lists the LOG target')[0] == 'loaded'


def test_modules_disabled(tmp_path):
    root = debian12_root(tmp_path)
    (tmp_path / 'proc' / 'sys' / 'kernel' / 'modules_disabled').write_text('1\n')
    idx = index.read_index(DEBIAN12_RELEASE, root)
    assert not idx.can_load
    assert idx.state('xt_LOG') == ('missing', 'module loading is disabled (kernel.modules_disabled=1) and xt_LOG '
                                              'is not loaded')


def test_kernel_without_module_support(tmp_path):
    """This machine's kernel: no /proc/modules, no /lib/modules; built in only with proof."""
    idx = index.read_index('6.18.44-fc-v669', host_root(tmp_path))
    assert idx.loaded is None and not idx.can_load
    proof = '/proc/net/ip_tables_targets lists the LOG target'
    assert idx.state('xt_LOG', registered=proof) == (
        'built_in', proof + ' (and the kernel has no module support)')
    assert idx.state('xt_LOG') == ('missing', 'the kernel has no module support (no /proc/modules) and nothing '
                                              'shows xt_LOG built in')


def test_built_in_from_modules_builtin(tmp_path):
    root = debian12_root(tmp_path)
    builtin = tmp_path / 'lib' / 'modules' / DEBIAN12_RELEASE / 'modules.builtin'
    builtin.write_text(builtin.read_text() + 'kernel/net/netfilter/xt_LOG.ko\n')
    idx = index.read_index(DEBIAN12_RELEASE, root)
    assert idx.state('ipt_LOG')[0] == 'built_in'  # the alias still resolves through modules.alias


def test_registered_but_not_a_loaded_module_is_built_in(tmp_path):
    idx = index.read_index(DEBIAN12_RELEASE, debian12_root(tmp_path))
    state, why = idx.state('xt_TRACE', registered='/proc/net/ip_tables_targets lists the TRACE target')
    assert state == 'built_in' and why.endswith('(and not a loaded module)')
