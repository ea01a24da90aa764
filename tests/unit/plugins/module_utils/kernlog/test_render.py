# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering of the rsyslog drop-in and the logrotate file, one case per option set."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog import render
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError

BASE = {'path': '/var/log/firewall', 'severity': 'debug', 'prefixes': [], 'exclusive': False, 'template': None,
        'mode': '0640', 'owner': 'root', 'group': 'adm'}
TRACE_COND = "re_match($msg, '^ *([[] *[0-9]+[.][0-9]+[]] *)?TRACE: ')"


def spec(**changes):
    out = dict(BASE)
    out.update(changes)
    return out


def body(text):
    """The drop-in without its comment lines."""
    return '\n'.join(line for line in text.splitlines() if not line.startswith('#')) + '\n'


CASES = [
    ('defaults', spec(),
     "if $syslogfacility-text == 'kern' and (\n"
     "    " + TRACE_COND + "\n"
     "    or $syslogseverity == 7\n"
     ") then {\n"
     '    action(type="omfile" file="/var/log/firewall" fileCreateMode="0640" fileOwner="root" fileGroup="adm")\n'
     "}\n"),
    ('exclusive', spec(exclusive=True),
     "if $syslogfacility-text == 'kern' and (\n"
     "    " + TRACE_COND + "\n"
     "    or $syslogseverity == 7\n"
     ") then {\n"
     '    action(type="omfile" file="/var/log/firewall" fileCreateMode="0640" fileOwner="root" fileGroup="adm")\n'
     "    stop\n"
     "}\n"),
    ('warning severity, prefixes, template, ownership', spec(
        severity='warning', prefixes=['netdebug:', 'a.b[1]'], template='RSYSLOG_TraditionalFileFormat',
        mode='0600', owner='syslog', group='adm', path='/srv/log/fw.log'),
     "if $syslogfacility-text == 'kern' and (\n"
     "    " + TRACE_COND + "\n"
     "    or $syslogseverity == 4\n"
     "    or re_match($msg, '^ *([[] *[0-9]+[.][0-9]+[]] *)?(netdebug:|a\\\\.b\\\\[1\\\\])')\n"
     ") then {\n"
     '    action(type="omfile" file="/srv/log/fw.log" fileCreateMode="0600" fileOwner="syslog" fileGroup="adm" '
     'template="RSYSLOG_TraditionalFileFormat")\n'
     "}\n"),
    ('trace only', spec(severity='none'),
     "if $syslogfacility-text == 'kern' and (\n"
     "    " + TRACE_COND + "\n"
     ") then {\n"
     '    action(type="omfile" file="/var/log/firewall" fileCreateMode="0640" fileOwner="root" fileGroup="adm")\n'
     "}\n"),
]


@pytest.mark.parametrize('name, options, expected', CASES, ids=[c[0] for c in CASES])
def test_render_dropin(name, options, expected):
    text = render.render_dropin(options)
    assert text.startswith(render.HEADER), name
    assert body(text) == expected


def test_comments_say_what_is_captured():
    text = render.render_dropin(spec(exclusive=True, prefixes=['netdebug:']))
    assert '# - TRACE lines (the kernel logs them at severity warning' in text
    assert '# - kernel messages at severity debug (iptables LOG --log-level 7)' in text
    assert '# - kernel messages starting with one of: netdebug:' in text
    assert '# exclusive:' in text


@pytest.mark.parametrize('prefix, line, matches', [
    ('netdebug:', ' netdebug:r1 IN=lo', True),
    ('netdebug:', 'xnetdebug:r1 IN=lo', False),
    ('a.b', 'a.b IN=', True),
    ('a.b', 'aXb IN=', False),
    ('[x]+', '[x]+ IN=', True),
    ('[x]+', 'xx IN=', False),
    ('p|q', 'q IN=', False),
])
def test_prefix_regex_is_literal(prefix, line, matches):
    """What rsyslog's ERE sees (after RainerScript unescapes '\\\\' to '\\'), checked with Python's re."""
    regex = render.ere_literal(prefix).replace('\\\\', '\\')
    assert bool(re.match('^ *(' + regex + ')', line)) is matches


@pytest.mark.parametrize('bad', ['', 'with"quote', "it's", 'back\\slash', 'tab\there', 'ümlaut'])
def test_bad_prefixes_are_refused(bad):
    with pytest.raises(KernlogError, match='^prefixes: '):
        render.check_prefix(bad)


@pytest.mark.parametrize('value, expected', [('640', '0640'), ('0640', '0640'), ('600', '0600')])
def test_mode(value, expected):
    assert render.check_mode(value) == expected


@pytest.mark.parametrize('value', ['0999', 'rw-r-----', '12345', '0o640'])
def test_bad_mode(value):
    with pytest.raises(KernlogError, match='^mode: '):
        render.check_mode(value)


@pytest.mark.parametrize('param, value', [('path', 'relative/file'), ('path', '/var/log/"x'), ('conf_path', '/etc/x/'),
                                          ('path', '/var/log/a\nb')])
def test_bad_paths(param, value):
    with pytest.raises(KernlogError, match='^%s: ' % param):
        render.check_path(param, value)


def test_render_logrotate():
    text = render.render_logrotate(dict(BASE, logrotate_size='50M', logrotate_rotate=3,
                                        postrotate='/usr/lib/rsyslog/rsyslog-rotate'))
    assert text == (render.HEADER +
                    '/var/log/firewall {\n'
                    '    size 50M\n'
                    '    rotate 3\n'
                    '    missingok\n'
                    '    notifempty\n'
                    '    compress\n'
                    '    delaycompress\n'
                    '    create 0640 root adm\n'
                    '    postrotate\n'
                    '        /usr/lib/rsyslog/rsyslog-rotate\n'
                    '    endscript\n'
                    '}\n')


@pytest.mark.parametrize('size', ['100M', '500k', '1G', '4096'])
def test_sizes(size):
    assert render.check_size(size) == size


@pytest.mark.parametrize('size', ['100MB', '-1', '0', 'big'])
def test_bad_sizes(size):
    with pytest.raises(KernlogError, match='^logrotate_size: '):
        render.check_size(size)


RSYSLOGD = shutil.which('rsyslogd') or (shutil.which('rsyslogd', path='/usr/sbin:/sbin'))


@pytest.mark.skipif(not RSYSLOGD, reason='rsyslogd is not installed on this machine')
@pytest.mark.parametrize('name, options, _expected', CASES, ids=[c[0] for c in CASES])
def test_rsyslogd_accepts_every_rendering(tmp_path, name, options, _expected):
    """The rendered RainerScript is what rsyslogd -N1 (8.2302 on Debian 12 here) validates."""
    options = dict(options, owner='root', group='root', template=None, path=str(tmp_path / 'fw.log'))
    dropin = tmp_path / 'dropin.conf'
    dropin.write_text(render.render_dropin(options))
    main = tmp_path / 'main.conf'
    main.write_text('include(file="%s")\n' % dropin)
    proc = subprocess.run([RSYSLOGD, '-N1', '-f', str(main)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (name, proc.stderr)
