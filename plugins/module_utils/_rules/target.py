# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rule does: TRACE (nftrace), or LOG / NFLOG with an optional rate limit. Pure."""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError

LOG_PREFIX_MAX = 29  # xt_LOG keeps 30 bytes including the terminating NUL
NFLOG_PREFIX_MAX = 63  # xt_NFLOG keeps 64
LOG_LEVELS = {'emerg': 0, 'alert': 1, 'crit': 2, 'error': 3, 'err': 3, 'warning': 4, 'warn': 4,
              'notice': 5, 'info': 6, 'debug': 7}
NFT_LEVELS = ('emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug')
LIMIT_UNITS = {'s': 'second', 'sec': 'second', 'second': 'second', 'm': 'minute', 'min': 'minute',
               'minute': 'minute', 'h': 'hour', 'hour': 'hour', 'd': 'day', 'day': 'day'}
LIMIT_BURST_MAX = 10000
NFLOG_GROUP_MAX = 65535
_LIMIT_RE = re.compile(r'^([0-9]{1,6})/([a-z]+)$')


class Target:
    """iptables argv (limit options, then the jump) and nft words of the statement."""

    def __init__(self, kind, jump, pre_args=None, nft_words=None, nft_pre=None):
        self.kind = kind  # 'trace' or 'log'
        self.jump = jump  # TRACE, LOG or NFLOG
        self.pre_args = pre_args or []
        self.args = []
        self.nft = nft_words or []
        self.nft_pre = nft_pre or []
        self.counted = False  # TRACE with a rate limit: the packets the limit holds back are counted
        self.prefix = ''  # LOG/NFLOG: what each line starts with


def trace_target(limit=None, limit_burst=None):
    """TRACE (nftrace); limit None means every matching packet is traced."""
    target = Target('trace', 'TRACE', nft_words=['meta', 'nftrace', 'set', '1'])
    target.args = ['-j', 'TRACE']
    _rate_limit(target, limit, limit_burst)
    if limit is not None:
        # nftables: one counter before the limit (every matching packet), one after it (the traced ones); iptables
        # gets a count rule beside the TRACE rule instead (desired.build), as its counter follows every match.
        target.nft_pre = ['counter'] + target.nft_pre + ['counter']
        target.counted = True
    return target


def _rate_limit(target, limit, burst):
    # One limit per rule, in front of the target: packets over it pass the rule untouched (not traced/logged).
    if limit is not None:
        count, unit, burst = parse_limit(limit, burst)
        target.pre_args = ['-m', 'limit', '--limit', '%d/%s' % (count, unit), '--limit-burst', str(burst)]
        target.nft_pre = ['limit', 'rate', '%d/%s' % (count, unit), 'burst', str(burst), 'packets']


def check_prefix(prefix, jump):
    limit = LOG_PREFIX_MAX if jump == 'LOG' else NFLOG_PREFIX_MAX
    if len(prefix) > limit:
        raise ParamError('log_prefix', 'is %d characters long; the kernel keeps at most %d characters for a %s prefix '
                                       '(shorten it to %d characters or fewer)' % (len(prefix), limit, jump, limit))
    bad = [ch for ch in prefix if not ' ' <= ch <= '~' or ch in '"\'\\']
    if bad:
        raise ParamError('log_prefix', 'must be printable ASCII without quotes or backslashes (found %r)' % bad[0])
    return prefix


def check_level(level):
    if isinstance(level, bool):
        level = None
    text = str(level).strip().lower() if level is not None else ''
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in LOG_LEVELS:
        return LOG_LEVELS[text]
    raise ParamError('log_level', '%r is not a syslog level: use 0-7 or one of %s' % (level, ', '.join(LOG_LEVELS)))


def parse_limit(limit, burst):
    """('N/unit', burst) validated; returns (count, unit, burst)."""
    match = _LIMIT_RE.match(str(limit).strip().lower())
    if not match or match.group(2) not in LIMIT_UNITS or int(match.group(1)) < 1:
        raise ParamError('limit', '%r is not a rate such as 5/second (units: second, minute, hour, day)' % limit)
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= LIMIT_BURST_MAX:
        raise ParamError('limit_burst', '%r is out of range: use 1 to %d packets' % (burst, LIMIT_BURST_MAX))
    return int(match.group(1)), LIMIT_UNITS[match.group(2)], burst


def log_target(jump='LOG', prefix='', level=7, tcp_sequence=False, tcp_options=False, ip_options=False, uid=False,
               nflog_group=None, limit=None, limit_burst=None):
    """LOG or NFLOG; limit None means unlimited (the module decides the default)."""
    if jump not in ('LOG', 'NFLOG'):
        raise ParamError('target', '%r is not LOG or NFLOG' % jump)
    check_prefix(prefix, jump)
    target = Target('log', jump)
    target.prefix = prefix
    _rate_limit(target, limit, limit_burst)
    nft_prefix = ['prefix', '"%s"' % prefix] if prefix else []
    if jump == 'LOG':
        if nflog_group is not None:
            raise ParamError('nflog_group', 'applies to target NFLOG only')
        level = check_level(level)
        flags = [(tcp_sequence, '--log-tcp-sequence'), (tcp_options, '--log-tcp-options'),
                 (ip_options, '--log-ip-options'), (uid, '--log-uid')]
        target.args = ['-j', 'LOG'] + (['--log-prefix', prefix] if prefix else []) + ['--log-level', str(level)]
        target.args += [opt for on, opt in flags if on]
        target.nft = ['log'] + nft_prefix + ['level', NFT_LEVELS[level]]
        tcp_flags = [name for on, name in ((tcp_sequence, 'sequence'), (tcp_options, 'options')) if on]
        if tcp_flags:
            target.nft += ['flags', 'tcp', ','.join(tcp_flags)]
        if ip_options:
            target.nft += ['flags', 'ip', 'options']
        if uid:
            target.nft += ['flags', 'skuid']
        return target
    if any((tcp_sequence, tcp_options, ip_options, uid)):
        raise ParamError('target', 'log_tcp_sequence, log_tcp_options, log_ip_options and log_uid apply to target LOG '
                                   'only, not NFLOG')
    group = 0 if nflog_group is None else nflog_group
    if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group <= NFLOG_GROUP_MAX:
        raise ParamError('nflog_group', '%r is out of range: use 0 to %d' % (nflog_group, NFLOG_GROUP_MAX))
    target.args = ['-j', 'NFLOG', '--nflog-group', str(group)] + (['--nflog-prefix', prefix] if prefix else [])
    target.nft = ['log'] + nft_prefix + ['group', str(group)]
    return target
