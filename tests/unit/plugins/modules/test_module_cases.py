# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's main() on the YAML cases of cases/ (see uthelper.py): the commands it runs, in order, answered
with the output recorded on a real node, and what it returns."""

from __future__ import annotations

import importlib

import pytest

from ansible_collections.netdebug.netfilter.tests.unit.plugins.modules import uthelper

MODULES = 'ansible_collections.netdebug.netfilter.plugins.modules.'
CASES = [(name, param) for name in sorted(p.stem for p in uthelper.CASES.glob('*.yml')) for param in uthelper.load(name)]


@pytest.mark.parametrize('name, case', [pytest.param(name, p.values[0], id='%s: %s' % (name, p.id)) for name, p in CASES])
def test_module_case(name, case, tmp_path, monkeypatch):
    uthelper.run_case(importlib.import_module(MODULES + name), case, tmp_path, monkeypatch)
