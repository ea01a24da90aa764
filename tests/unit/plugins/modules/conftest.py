# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helper of the module-level unit tests."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def main_without_commands(capsys, monkeypatch):
    """main_without_commands(module, args) -> the module's JSON answer. Tools are found but never run: any command
    on the node fails the test (bad input must be refused before one runs)."""
    def run(module, args):
        ran = []
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                            lambda _self, arg, required=False, opt_dirs=None: '/usr/sbin/' + arg)
        monkeypatch.setattr(basic.AnsibleModule, 'run_command',
                            lambda _self, argv, **kw: ran.append(argv) or (1, '', ''))
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        assert ran == [], 'a command ran before the input was refused: %r' % ran
        return json.loads(capsys.readouterr().out)
    return run
