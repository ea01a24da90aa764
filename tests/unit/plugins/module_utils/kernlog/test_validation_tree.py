# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The temporary configuration that rsyslogd -N1 checks: same text, the drop-in directory mirrored."""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog import rsyslog_conf, rsyslogd

from ansible_collections.netdebug.netfilter.tests.unit.plugins.module_utils.kernlog.conftest import DictSource, fixture_text

DROPIN = '/etc/rsyslog.d/30-netdebug-kernlog.conf'


def test_debian12_include_is_pointed_at_the_mirror(tmp_path):
    files = {'/etc/rsyslog.conf': fixture_text('debian12/rsyslog.conf'),
             '/etc/rsyslog.d/10-a.conf': '# a\n', DROPIN: '# old\n', '/etc/rsyslog.d/50-b.conf': '# b\n'}
    source = DictSource(files)
    config = rsyslog_conf.load('/etc/rsyslog.conf', source)
    main, appended = rsyslogd.build_validation_tree(config, DROPIN, '# new\n', source, str(tmp_path))
    assert appended is False
    mirror = tmp_path / 'd'
    text = open(main).read()
    assert '$IncludeConfig %s/*.conf\n' % mirror in text
    assert text.replace('%s/*.conf' % mirror, '/etc/rsyslog.d/*.conf') == files['/etc/rsyslog.conf']
    assert sorted(os.listdir(str(mirror))) == ['10-a.conf', '30-netdebug-kernlog.conf', '50-b.conf']
    assert os.readlink(str(mirror / '10-a.conf')) == '/etc/rsyslog.d/10-a.conf'
    assert (mirror / '30-netdebug-kernlog.conf').read_text() == '# new\n'  # the candidate, not the old file
    assert not os.path.islink(str(mirror / '30-netdebug-kernlog.conf'))


def test_rainerscript_include_rewrites_only_the_file_value(tmp_path):
    main_text = 'module(load="imjournal")\ninclude(file="/etc/rsyslog.d/*.conf" mode="optional")\n'
    source = DictSource({'/etc/rsyslog.conf': main_text})
    config = rsyslog_conf.load('/etc/rsyslog.conf', source)
    main, appended = rsyslogd.build_validation_tree(config, DROPIN, '# new\n', source, str(tmp_path))
    assert appended is False
    assert open(main).read() == main_text.replace('/etc/rsyslog.d/*.conf', '%s/*.conf' % (tmp_path / 'd'))


def test_uncovered_drop_in_is_appended(tmp_path):
    source = DictSource({'/etc/rsyslog.conf': fixture_text('debian12/rsyslog.conf')})
    config = rsyslog_conf.load('/etc/rsyslog.conf', source)
    main, appended = rsyslogd.build_validation_tree(config, '/tmp/x.conf', '# new\n', source, str(tmp_path))
    assert appended is True
    text = open(main).read()
    assert text.startswith(fixture_text('debian12/rsyslog.conf'))
    assert text.endswith('include(file="%s")\n' % (tmp_path / 'd' / 'x.conf'))
