# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nf_log's and rsyslog_kernlog's main(): bad input is refused naming the option, before any command runs and
before anything changes on the node."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.modules import nf_log, rsyslog_kernlog


@pytest.mark.parametrize('args, message', [
    ({'run_id': 'a/b'}, 'run_id: '),
    ({'run_id': '..'}, 'run_id: '),
    ({'run_id': 'x', 'ttl': 0}, 'ttl: 0 is out of range'),
    ({'run_id': 'x', 'state': 'absent', 'ttl': 60}, 'ttl: applies to state=present only'),
    ({}, 'state is present but all of the following are missing: run_id'),
])
def test_nf_log_refuses_bad_input(args, message, main_without_commands, tmp_path):
    result = main_without_commands(nf_log, dict(args, state_dir=str(tmp_path / 'state')))
    assert result['failed'] is True and result['msg'].startswith(message), result['msg']
    assert not (tmp_path / 'state').exists()


@pytest.mark.parametrize('args, message', [
    ({'path': 'relative/file'}, "path: 'relative/file' must be an absolute file path"),
    ({'ttl': 0}, 'ttl: 0 is out of range'),
    ({'state': 'absent', 'ttl': 5}, 'ttl: only with state=present'),
    ({'conf_path': 'FOREIGN'}, 'conf_path: '),
])
def test_rsyslog_kernlog_refuses_bad_input(args, message, main_without_commands, tmp_path):
    foreign = tmp_path / 'etc' / '30-theirs.conf'
    foreign.parent.mkdir()
    foreign.write_text('*.* /var/log/theirs\n')
    rsyslog_conf = tmp_path / 'etc' / 'rsyslog.conf'
    rsyslog_conf.write_text('module(load="imklog")\n$IncludeConfig %s/*.conf\n' % foreign.parent)
    args = dict({'rsyslog_conf': str(rsyslog_conf), 'conf_path': str(tmp_path / 'etc' / '30-netdebug.conf'),
                 'logrotate_path': str(tmp_path / 'logrotate'), 'state_dir': str(tmp_path / 'state')}, **args)
    if args['conf_path'] == 'FOREIGN':
        args['conf_path'] = str(foreign)
    before = sorted(p.name for p in tmp_path.rglob('*'))
    result = main_without_commands(rsyslog_kernlog, args)
    assert result['failed'] is True and result['msg'].startswith(message), result['msg']
    assert sorted(p.name for p in tmp_path.rglob('*')) == before
    assert foreign.read_text() == '*.* /var/log/theirs\n'
