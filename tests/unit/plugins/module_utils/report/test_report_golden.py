# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three reports of every recorded bundle, byte for byte as recorded in fixtures/report-golden/.

A change that moves code must leave these files as they are. A change that means to alter a report regenerates
them (NETDEBUG_REGEN_GOLDEN=1) and commits the difference, so the review sees what readers will see."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_write import run_report

from conftest import FIXTURES, make_bundle

GOLDEN = FIXTURES.parent / 'report-golden'
# name: (fixture kind, hosts); None: a recorded bundle with its own manifest
BUNDLES = {
    'nft': ('nft', ('node1', 'node2')),
    'legacy': ('legacy', ('node1', 'node2')),
    'nftables': ('nftables', ('node1', 'node2')),
    'mixed-legacy-nft': ('mixed/legacy-nft', ('node2',)),
    'mixed-nft-native': ('mixed/nft-native', None),
    'mixed-legacy-native': ('mixed/legacy-native', None),
    'kernel-drops': ('kernel-drops/kdrops-1', None),
}


def _incident(root, kind, hosts):
    if hosts is None:
        hosts = tuple(sorted(p.name for p in (FIXTURES / kind).iterdir() if p.is_dir()))
        if (FIXTURES / kind / 'manifest.json').exists():
            incident = root / 'golden'
            shutil.copytree(FIXTURES / kind, incident)
            return incident
    return make_bundle(root, kind, incident='golden', hosts=hosts)


@pytest.mark.parametrize('name', sorted(BUNDLES))
def test_reports_are_as_recorded(name, tmp_path):
    kind, hosts = BUNDLES[name]
    incident = _incident(tmp_path, kind, hosts)
    run_report(str(incident.parent), incident.name)
    expected_dir = GOLDEN / name
    if os.environ.get('NETDEBUG_REGEN_GOLDEN') == '1':
        expected_dir.mkdir(parents=True, exist_ok=True)
        for fmt in ('json', 'md', 'html'):
            shutil.copyfile(incident / ('report.' + fmt), expected_dir / ('report.' + fmt))
    for fmt in ('json', 'md', 'html'):
        got = (incident / ('report.' + fmt)).read_bytes()
        want = (expected_dir / ('report.' + fmt)).read_bytes()
        assert got == want, '%s/report.%s differs from the recorded one' % (name, fmt)
