# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading rsyslog configurations: includes, comments, kernel input and its rate limit, file defaults."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog import facts, rsyslog_conf
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError

from ansible_collections.netdebug.netfilter.tests.unit.plugins.module_utils.kernlog.conftest import DictSource, fixture_text

DROPIN = '/etc/rsyslog.d/30-netdebug-kernlog.conf'


def load(main_name, extra=None):
    files = {'/etc/rsyslog.conf': fixture_text(main_name)}
    files.update(extra or {})
    return rsyslog_conf.load('/etc/rsyslog.conf', DictSource(files))


def test_debian12_default_config():
    """The unmodified /etc/rsyslog.conf of Debian 12's rsyslog 8.2302.0-1+deb12u2."""
    config = load('debian12/rsyslog.conf', {'/etc/rsyslog.d/10-other.conf': 'module(load="immark")\n'})
    assert facts.kernel_input(config) == ('imklog', ['imklog'], {'interval': 0, 'burst': 10000, 'enabled': False})
    assert facts.file_defaults(config) == ('root', 'adm', '0640')
    assert config.files == ['/etc/rsyslog.conf', '/etc/rsyslog.d/10-other.conf']
    assert 'immark' in facts.loaded_modules(config)  # read from the include, in place
    sites = facts.include_sites(config, DROPIN)
    assert [(s.name, s.args) for s in sites] == [('includeconfig', '/etc/rsyslog.d/*.conf')]
    assert facts.actions_before(config, DROPIN) == []
    # The drop-in's include comes before Debian's rules, so exclusive keeps lines out of syslog and kern.log.
    names = [(s.kind, s.name) for s in config.statements]
    assert names.index(('legacy', 'includeconfig')) < names.index(('action', 'selector'))


def test_imjournal_defaults_and_comments():
    config = load('handwritten/imjournal.conf')
    kernel_in, inputs, limit = facts.kernel_input(config)
    assert (kernel_in, inputs) == ('imjournal', ['imjournal'])  # imklog in the /* */ comment does not count
    assert limit == {'interval': 600, 'burst': 20000, 'enabled': True}
    assert facts.include_sites(config, DROPIN)[0].params['mode'] == 'optional'


def test_imjournal_legacy_rate_limit_and_directory_include():
    config = load('handwritten/imjournal-ratelimit-legacy.conf', {'/etc/rsyslog.d/a.conf': '$ModLoad imklog\n'})
    assert facts.kernel_input(config) == ('imklog', ['imklog', 'imjournal'],
                                          {'interval': 0, 'burst': 10000, 'enabled': False})
    assert facts.rate_limit('imjournal', facts.loaded_modules(config)['imjournal']) == \
        {'interval': 30, 'burst': 1000, 'enabled': True}
    assert len(facts.include_sites(config, DROPIN)) == 1  # "$IncludeConfig /etc/rsyslog.d/" covers it


def test_imklog_rate_limit_and_privdrop_defaults():
    config = load('handwritten/privdrop.conf')
    assert facts.kernel_input(config)[2] == {'interval': 5, 'burst': 200, 'enabled': True}
    assert facts.file_defaults(config) == ('syslog', 'adm', '0640')


def test_kernel_rules_before_the_include():
    config = load('handwritten/kern-before-include.conf')
    # kern.* takes kernel messages; *.*;kern.none does not; a property filter is not a selector.
    assert facts.actions_before(config, DROPIN) == ['/etc/rsyslog.conf:3']


def test_keywords_in_strings_and_comments_are_not_statements():
    config = load('handwritten/tricky.conf', {'/etc/rsyslog.d/nested.conf': 'module(load="imkmsg")\n'})
    assert facts.kernel_input(config)[1] == ['imklog', 'imkmsg']
    assert config.files[-1] == '/etc/rsyslog.d/nested.conf'
    assert facts.include_sites(config, DROPIN) == []  # nested.conf is not a pattern that covers the drop-in


def test_no_kernel_input():
    config = rsyslog_conf.load('/etc/rsyslog.conf', DictSource({'/etc/rsyslog.conf': 'module(load="imuxsock")\n'}))
    assert facts.kernel_input(config) == ('none', [], None)


def test_include_loop_and_missing_main():
    source = DictSource({'/etc/rsyslog.conf': '$IncludeConfig /etc/rsyslog.d/*.conf\n',
                         '/etc/rsyslog.d/a.conf': 'include(file="/etc/rsyslog.d/*.conf")\n'})
    config = rsyslog_conf.load('/etc/rsyslog.conf', source)
    assert any('include loop' in problem for problem in config.problems)
    with pytest.raises(KernlogError, match='rsyslog_conf: cannot read'):
        rsyslog_conf.load('/etc/nothing.conf', source)


def test_replace_uses_candidate_text():
    source = DictSource({'/etc/rsyslog.conf': '$IncludeConfig /etc/rsyslog.d/*.conf\n',
                         DROPIN: 'module(load="imklog")\n'})
    config = rsyslog_conf.load('/etc/rsyslog.conf', source, replace={DROPIN: 'module(load="imjournal")\n'})
    assert facts.kernel_input(config)[1] == ['imjournal']


@pytest.mark.parametrize('text, expected', [
    ('a # b\n"#x" # y\n', 'a    \n"#x"    \n'),
    ('/* x\ny */z', '    \n    z'),
    ("'a#b' c", "'a#b' c"),
])
def test_strip_comments_keeps_offsets(text, expected):
    assert rsyslog_conf.strip_comments(text) == expected


@pytest.mark.parametrize('pattern, path, covers', [
    ('/etc/rsyslog.d/*.conf', DROPIN, True),
    ('/etc/rsyslog.d/', DROPIN, True),
    ('/etc/rsyslog.d/*.frag', DROPIN, False),
    ('/etc/*/*.conf', DROPIN, False),
    ('/etc/rsyslog.d/*.conf', '/tmp/x.conf', False),
])
def test_pattern_covers(pattern, path, covers):
    assert rsyslog_conf.pattern_covers(pattern, path) is covers


def test_rate_warning():
    limit = {'interval': 600, 'burst': 20000, 'enabled': True}
    assert facts.rate_warning('imjournal', limit, 30) is None
    warning = facts.rate_warning('imjournal', limit, 100)
    assert 'imjournal accepts at most 20000 messages per 600 s' in warning
    assert facts.rate_warning('imklog', {'interval': 0, 'burst': 10000, 'enabled': False}, 100000) is None
