# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import target
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError


def test_trace():
    trace = target.trace_target()
    assert (trace.kind, trace.args, trace.pre_args) == ('trace', ['-j', 'TRACE'], [])
    assert trace.nft == ['meta', 'nftrace', 'set', '1']


def test_trace_rate_limited():
    trace = target.trace_target('100/sec', 200)
    assert trace.pre_args + trace.args == ['-m', 'limit', '--limit', '100/second', '--limit-burst', '200', '-j', 'TRACE']
    assert trace.nft_pre + trace.nft == ['counter', 'limit', 'rate', '100/second', 'burst', '200', 'packets',
                                         'counter', 'meta', 'nftrace', 'set', '1']
    assert trace.counted


def test_unlimited_trace_counts_nothing():
    trace = target.trace_target()
    assert (trace.pre_args, trace.nft_pre, trace.counted) == ([], [], False)


@pytest.mark.parametrize('limit, burst, param', [('0/second', 5, 'limit'), ('fast', 5, 'limit'), ('5/s', 0, 'limit_burst')])
def test_trace_bad_limit(limit, burst, param):
    with pytest.raises(ParamError) as err:
        target.trace_target(limit, burst)
    assert err.value.param == param


# (kwargs, iptables pre_args + args, nft words)
LOG_CASES = [
    (dict(prefix='nd:x ', level=7), ['-j', 'LOG', '--log-prefix', 'nd:x ', '--log-level', '7'],
     ['log', 'prefix', '"nd:x "', 'level', 'debug']),
    (dict(prefix='', level='warning'), ['-j', 'LOG', '--log-level', '4'], ['log', 'level', 'warn']),
    (dict(prefix='p', level='err', tcp_sequence=True, tcp_options=True, ip_options=True, uid=True),
     ['-j', 'LOG', '--log-prefix', 'p', '--log-level', '3', '--log-tcp-sequence', '--log-tcp-options',
      '--log-ip-options', '--log-uid'],
     ['log', 'prefix', '"p"', 'level', 'err', 'flags', 'tcp', 'sequence,options', 'flags', 'ip', 'options', 'flags',
      'skuid']),
    (dict(prefix='p', limit='5/second', limit_burst=10),
     ['-m', 'limit', '--limit', '5/second', '--limit-burst', '10', '-j', 'LOG', '--log-prefix', 'p', '--log-level', '7'],
     ['limit', 'rate', '5/second', 'burst', '10', 'packets', 'log', 'prefix', '"p"', 'level', 'debug']),
    (dict(prefix='p', limit='100/min', limit_burst=1),
     ['-m', 'limit', '--limit', '100/minute', '--limit-burst', '1', '-j', 'LOG', '--log-prefix', 'p', '--log-level',
      '7'],
     ['limit', 'rate', '100/minute', 'burst', '1', 'packets', 'log', 'prefix', '"p"', 'level', 'debug']),
    (dict(jump='NFLOG', prefix='nd x', nflog_group=5), ['-j', 'NFLOG', '--nflog-group', '5', '--nflog-prefix', 'nd x'],
     ['log', 'prefix', '"nd x"', 'group', '5']),
    (dict(jump='NFLOG'), ['-j', 'NFLOG', '--nflog-group', '0'], ['log', 'group', '0']),
]


@pytest.mark.parametrize('kwargs, ipt, nft', LOG_CASES)
def test_log_targets(kwargs, ipt, nft):
    log = target.log_target(**kwargs)
    assert log.pre_args + log.args == ipt
    assert log.nft_pre + log.nft == nft


def test_prefix_of_29_characters_is_accepted():
    assert target.log_target(prefix='x' * 29).args[3] == 'x' * 29


def test_prefix_of_30_characters_names_the_29_character_limit():
    with pytest.raises(ParamError) as err:
        target.log_target(prefix='x' * 30)
    assert err.value.param == 'log_prefix'
    assert 'at most 29 characters' in err.value.msg and 'is 30 characters' in err.value.msg


def test_nflog_prefix_limit_is_63():
    target.log_target(jump='NFLOG', prefix='x' * 63)
    with pytest.raises(ParamError, match='at most 63'):
        target.log_target(jump='NFLOG', prefix='x' * 64)


@pytest.mark.parametrize('kwargs, param, text', [
    (dict(prefix='say "hi"'), 'log_prefix', 'without quotes'),
    (dict(prefix="it's"), 'log_prefix', 'without quotes'),
    (dict(prefix='back\\slash'), 'log_prefix', 'backslashes'),
    (dict(prefix='tab\there'), 'log_prefix', 'printable'),
    (dict(prefix='é'), 'log_prefix', 'printable'),
    (dict(level=8), 'log_level', 'syslog level'),
    (dict(level='loud'), 'log_level', 'syslog level'),
    (dict(level=True), 'log_level', 'syslog level'),
    (dict(limit='fast', limit_burst=5), 'limit', 'rate such as'),
    (dict(limit='5/week', limit_burst=5), 'limit', 'rate such as'),
    (dict(limit='0/second', limit_burst=5), 'limit', 'rate such as'),
    (dict(limit='5/second', limit_burst=0), 'limit_burst', '1 to 10000'),
    (dict(limit='5/second', limit_burst=10001), 'limit_burst', '1 to 10000'),
    (dict(jump='LOG', nflog_group=1), 'nflog_group', 'NFLOG only'),
    (dict(jump='NFLOG', nflog_group=70000), 'nflog_group', '0 to 65535'),
    (dict(jump='NFLOG', uid=True), 'target', 'LOG only'),
    (dict(jump='ULOG'), 'target', 'not LOG or NFLOG'),
])
def test_log_errors(kwargs, param, text):
    with pytest.raises(ParamError) as err:
        target.log_target(**kwargs)
    assert err.value.param == param and text in err.value.msg
