# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Match parameters (named as in ansible.builtin.iptables) -> validated Match -> iptables argv or nft words.

Pure: no command runs here. Every problem is a ParamError naming the parameter, raised before the node changes.
"""

from __future__ import annotations

import ipaddress
import re
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.icmp import icmp_type_code

MATCH_PARAMS = ('protocol', 'source', 'destination', 'source_port', 'destination_port', 'in_interface',
                'out_interface', 'icmp_type', 'ctstate', 'mark', 'uid_owner', 'match_extra')
IP_VERSIONS = ('ipv4', 'ipv6', 'both')
PORT_PROTOCOLS = ('tcp', 'udp', 'sctp')
PROTOCOLS = ('tcp', 'udp', 'udplite', 'sctp', 'dccp', 'icmp', 'ipv6-icmp', 'esp', 'ah', 'gre')
PROTOCOL_ALIASES = {'icmpv6': 'ipv6-icmp', 'icmp6': 'ipv6-icmp'}
CTSTATES = ('INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT')
MULTIPORT_MAX = 15  # the multiport match's limit; a range counts twice
MARK_MAX = 0xFFFFFFFF
# hooks where the packet has an input / output interface / a local socket owner
HOOKS = ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING')
IN_HOOKS = ('PREROUTING', 'INPUT', 'FORWARD')
OUT_HOOKS = ('FORWARD', 'OUTPUT', 'POSTROUTING')
OWNER_HOOKS = ('OUTPUT', 'POSTROUTING')
# match_extra must only add matches. iptables reads its argv with getopt_long, so a token can hide an option in a
# short-option cluster ("-mcomment", "-vjACCEPT"), after "=" ("--comment=x") or as an abbreviation ("--jum"):
# the check below reads the tokens the way getopt does (see _iptables_options).
# Short options of iptables that take an argument (attached or the next token) / whose argument must be attached.
_SHORT_WITH_ARG = 'ACDEINPRcdgijmopst'
_SHORT_OPTIONAL_ARG = 'FLSWXZhw'
# The only short options a match may use: match module, protocol, addresses, interfaces, fragment.
SHORT_ALLOWED = 'mpsdiof'
# Long options of iptables itself (and of the comment match) that set the target, the chain, the table, a
# command or the comment; any abbreviation of one is refused too, as getopt_long would expand it.
LONG_FORBIDDEN = ('append', 'check', 'delete', 'insert', 'replace', 'list', 'list-rules', 'flush', 'zero',
                  'new-chain', 'delete-chain', 'rename-chain', 'policy', 'jump', 'goto', 'table', 'wait',
                  'wait-interval', 'set-counters', 'verbose', 'numeric', 'exact', 'line-numbers', 'modprobe',
                  'help', 'version', 'comment', 'ipv4', 'ipv6')
# Match modules that would add a comment or change state rather than only match.
MODULES_FORBIDDEN = ('comment',)
NFT_FORBIDDEN = ('accept', 'drop', 'reject', 'queue', 'jump', 'goto', 'return', 'continue', 'comment',
                 'counter', 'log', 'nftrace', 'notrack', 'dup', 'fwd', 'snat', 'dnat', 'masquerade',
                 'redirect', 'tproxy', 'synproxy', 'set', 'limit', 'quota', 'meter', 'update', 'add', 'delete',
                 'reset', 'flow', 'offload')
_NFT_WORD_SPLIT = re.compile(r'[\s{},"\']+')
_IFNAME_BAD = re.compile(r'[\s/:\'"\\]')
_PORT_RE = re.compile(r'^([0-9]{1,5})(?:[:-]([0-9]{1,5}))?$')
_USER_RE = re.compile(r'^(?:[0-9]{1,10}(?:-[0-9]{1,10})?|[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?)$')
_NUM_RE = re.compile(r'^(?:0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})$')


def split_negation(value):
    """'! x' or '!x' -> ('x', True); 'x' -> ('x', False)."""
    text = str(value).strip()
    if text.startswith('!'):
        return text[1:].strip(), True
    return text, False


def families(ip_version):
    if ip_version not in IP_VERSIONS:
        raise ParamError('ip_version', '%r is not one of %s' % (ip_version, ', '.join(IP_VERSIONS)))
    return ('ipv4', 'ipv6') if ip_version == 'both' else (ip_version,)


class Ports:
    """One port parameter: single port, range (lo, hi) or a list of those (multiport)."""

    def __init__(self, items, negated):
        self.items = items  # list of (lo, hi)
        self.negated = negated

    @property
    def multi(self):
        return len(self.items) > 1

    def iptables_text(self):
        return ','.join(str(lo) if lo == hi else '%d:%d' % (lo, hi) for lo, hi in self.items)

    def nft_text(self):
        parts = [str(lo) if lo == hi else '%d-%d' % (lo, hi) for lo, hi in self.items]
        return '{ %s }' % ', '.join(parts) if self.multi else parts[0]


def parse_ports(param, value):
    text, negated = split_negation(value)
    items = []
    for part in text.split(','):
        match = _PORT_RE.match(part.strip())
        if not match:
            raise ParamError(param, '%r is not a port, a range LO:HI or a comma-separated list of those' % value)
        low = int(match.group(1))
        high = low if match.group(2) is None else int(match.group(2))
        if high > 65535 or low > high:
            raise ParamError(param, '%r: ports are 0-65535 and a range goes from low to high' % value)
        items.append((low, high))
    if sum(1 if lo == hi else 2 for lo, hi in items) > MULTIPORT_MAX:
        raise ParamError(param, '%r lists too many ports: at most %d (a range counts as two)' % (value, MULTIPORT_MAX))
    return Ports(items, negated)


def _parse_address(param, value, ip_version):
    text, negated = split_negation(value)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ParamError(param, '%r is not an IP address or network (host names are not resolved on purpose)'
                         % value) from None
    family = 'ipv4' if network.version == 4 else 'ipv6'
    if ip_version != family:
        raise ParamError(param, '%s is an %s address but ip_version is %s: set ip_version: %s'
                         % (text, family.replace('ip', 'IP'), ip_version, family))
    return str(network), negated


def _parse_interface(param, value):
    name, negated = split_negation(value)
    if not name or len(name) > 15 or _IFNAME_BAD.search(name) or name in ('.', '..') or '+' in name[:-1]:
        raise ParamError(param, '%r is not an interface name: at most 15 characters, no blanks, quotes, "/" or ":",'
                                ' and "+" only at the end as a wildcard' % value)
    return name, negated


def _parse_protocol(value, ip_version):
    text, negated = split_negation(value)
    name = text.lower()
    name = PROTOCOL_ALIASES.get(name, name)
    if name in ('all', ''):
        return None, False
    if name not in PROTOCOLS:
        if not name.isdigit() or int(name) > 255:
            raise ParamError('protocol', '%r is not known: use one of %s, or a number 0-255'
                             % (value, ', '.join(PROTOCOLS)))
        name = str(int(name))
    wanted = {'icmp': 'ipv4', 'ipv6-icmp': 'ipv6'}.get(name)
    if wanted and ip_version != wanted:
        other = 'ipv6-icmp' if name == 'icmp' else 'icmp'
        raise ParamError('protocol', '%s exists only for %s but ip_version is %s: set ip_version: %s, or use '
                                     'protocol: %s for %s' % (name, wanted, ip_version, wanted, other,
                                                              'ipv6' if wanted == 'ipv4' else 'ipv4'))
    return name, negated


def _parse_mark(value):
    text, negated = split_negation(value)
    parts = text.split('/')
    if len(parts) > 2 or not all(_NUM_RE.match(p) for p in parts) or any(int(p, 0) > MARK_MAX for p in parts):
        raise ParamError('mark', '%r is not VALUE or VALUE/MASK (decimal or 0x hex, 32 bits)' % value)
    mark = int(parts[0], 0)
    mask = int(parts[1], 0) if len(parts) == 2 else None
    return mark, mask, negated


def _parse_ctstate(value):
    items = value if isinstance(value, (list, tuple)) else str(value).split(',')
    states = []
    for item in items:
        state = str(item).strip().upper()
        if state not in CTSTATES:
            raise ParamError('ctstate', '%r is not a conntrack state: use %s' % (item, ', '.join(CTSTATES)))
        if state not in states:
            states.append(state)
    if not states:
        raise ParamError('ctstate', 'is empty: list at least one of %s, or leave it out' % ', '.join(CTSTATES))
    return states


def _parse_uid_owner(value):
    text, negated = split_negation(value)
    if not _USER_RE.match(text):
        raise ParamError('uid_owner', '%r is not a user name, a uid or a uid range LOW-HIGH' % value)
    return text, negated


def _parse_match_extra(value):
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ParamError('match_extra', 'must be a list of argv tokens, e.g. ["-m", "length", "--length", "0:100"]')
    tokens = []
    for token in value:
        token = str(token)
        if not token or any(ch in token for ch in '\n\r\0;#'):
            raise ParamError('match_extra', '%r: tokens must be non-empty, single-line, without ";" or "#"' % token)
        tokens.append(token)
    return tokens


class Match:
    """Validated match parameters; builds the argv of iptables / words of nft for one family."""

    def __init__(self, ip_version):
        self.ip_version = ip_version
        self.protocol = None
        self.protocol_neg = False
        self.source = self.destination = None
        self.source_neg = self.destination_neg = False
        self.sport = self.dport = None
        self.in_interface = self.out_interface = None
        self.in_neg = self.out_neg = False
        self.icmp = None  # (type, code, negated)
        self.ctstate = None
        self.mark = None  # (mark, mask, negated)
        self.uid_owner = None  # (text, negated)
        self.extra = []
        self.window = None  # (start, end): epoch seconds of the node's clock, the rule matches in [start, end)

    # -- placement checks -------------------------------------------------------------------------
    def check_hook(self, hook, chain_param='chain'):
        """Errors for parameters that never match in this built-in hook (hook None: user chain, unknown)."""
        if hook is None:
            return
        if self.in_interface and hook not in IN_HOOKS:
            raise ParamError('in_interface', 'packets in %s have no input interface: remove in_interface or use '
                                             'a %s in %s' % (hook, chain_param, ', '.join(IN_HOOKS)))
        if self.out_interface and hook not in OUT_HOOKS:
            raise ParamError('out_interface', 'packets in %s have no output interface yet: remove out_interface or '
                                              'use a %s in %s' % (hook, chain_param, ', '.join(OUT_HOOKS)))
        if self.uid_owner and hook not in OWNER_HOOKS:
            raise ParamError('uid_owner', 'the socket owner is known only in %s, not in %s: remove uid_owner or '
                                          'use a %s in %s' % (', '.join(OWNER_HOOKS), hook, chain_param,
                                                              ', '.join(OWNER_HOOKS)))

    def preferred_hooks(self, offered):
        """The subset of offered hooks where every given parameter can match (for a defaulted hooks list)."""
        usable = []
        for hook in offered:
            try:
                self.check_hook(hook)
            except ParamError:
                continue
            usable.append(hook)
        return usable

    def warnings(self, table):
        if self.ctstate and table == 'raw':
            return ['ctstate is evaluated in the raw table, before connection tracking has looked at the packet: '
                    'there every packet is seen without its conntrack state (INVALID/UNTRACKED)']
        return []

    # -- iptables ---------------------------------------------------------------------------------
    def iptables_args(self, family):
        """argv tokens of the match for iptables (family 'ipv4') or ip6tables ('ipv6')."""
        args = []
        if self.protocol:
            args += _neg(self.protocol_neg) + ['-p', self.protocol]
        if self.source:
            args += _neg(self.source_neg) + ['-s', self.source]
        if self.destination:
            args += _neg(self.destination_neg) + ['-d', self.destination]
        if self.in_interface:
            args += _neg(self.in_neg) + ['-i', self.in_interface]
        if self.out_interface:
            args += _neg(self.out_neg) + ['-o', self.out_interface]
        args += self._iptables_ports()
        if self.icmp:
            icmp_type, code, negated = self.icmp
            text = str(icmp_type) if code is None else '%d/%d' % (icmp_type, code)
            if family == 'ipv4':
                args += ['-m', 'icmp'] + _neg(negated) + ['--icmp-type', text]
            else:
                args += ['-m', 'icmp6'] + _neg(negated) + ['--icmpv6-type', text]
        if self.ctstate:
            args += ['-m', 'conntrack', '--ctstate', ','.join(self.ctstate)]
        if self.mark:
            mark, mask, negated = self.mark
            text = '0x%x' % mark if mask is None else '0x%x/0x%x' % (mark, mask)
            args += ['-m', 'mark'] + _neg(negated) + ['--mark', text]
        if self.uid_owner:
            args += ['-m', 'owner'] + _neg(self.uid_owner[1]) + ['--uid-owner', self.uid_owner[0]]
        if self.window:
            # xt_time compares whole seconds in UTC, both ends included: the last second is end - 1.
            start, end = self.window[0], self.window[1]
            args += ['-m', 'time', '--datestart', _utc(start), '--datestop', _utc(end - 1)]
        return args + list(self.extra)

    def _iptables_ports(self):
        # An explicit protocol match before the port options: with multiport loaded as well, a bare --sport
        # would otherwise be taken as the multiport option.
        args = []
        single = [(opt, p) for opt, p in (('--sport', self.sport), ('--dport', self.dport)) if p and not p.multi]
        if single:
            args += ['-m', self.protocol]
            for opt, ports in single:
                args += _neg(ports.negated) + [opt, ports.iptables_text()]
        for opt, ports in (('--sports', self.sport), ('--dports', self.dport)):
            if ports and ports.multi:
                args += ['-m', 'multiport'] + _neg(ports.negated) + [opt, ports.iptables_text()]
        return args

    # -- nftables ---------------------------------------------------------------------------------
    def nft_words(self):
        """nft expression text of the match, for a rule in an inet table."""
        words = []
        if self.ip_version != 'both':
            words += ['meta', 'nfproto', self.ip_version]
        if self.protocol:
            words += ['meta', 'l4proto'] + _nneg(self.protocol_neg) + [_nft_proto(self.protocol)]
        ipkw = 'ip' if self.ip_version == 'ipv4' else 'ip6'
        if self.source:
            words += [ipkw, 'saddr'] + _nneg(self.source_neg) + [self.source]
        if self.destination:
            words += [ipkw, 'daddr'] + _nneg(self.destination_neg) + [self.destination]
        if self.in_interface:
            words += ['iifname'] + _nneg(self.in_neg) + [_nft_ifname(self.in_interface)]
        if self.out_interface:
            words += ['oifname'] + _nneg(self.out_neg) + [_nft_ifname(self.out_interface)]
        for field, ports in (('sport', self.sport), ('dport', self.dport)):
            if ports:
                words += [self.protocol, field] + _nneg(ports.negated) + [ports.nft_text()]
        if self.icmp:
            icmp_type, code, negated = self.icmp
            kw = 'icmp' if self.ip_version == 'ipv4' else 'icmpv6'
            words += [kw, 'type'] + _nneg(negated) + [str(icmp_type)]
            if code is not None:
                words += [kw, 'code'] + _nneg(negated) + [str(code)]
        if self.ctstate:
            words += ['ct', 'state', '{ %s }' % ', '.join(s.lower() for s in self.ctstate)]
        if self.mark:
            mark, mask, negated = self.mark
            if mask is None:
                words += ['meta', 'mark'] + _nneg(negated) + ['0x%x' % mark]
            else:
                words += ['meta', 'mark', 'and', '0x%x' % mask, '!=' if negated else '==', '0x%x' % mark]
        if self.uid_owner:
            words += ['meta', 'skuid'] + _nneg(self.uid_owner[1]) + [self.uid_owner[0]]
        if self.window:
            # epoch seconds, not a date: nft would read a date in its own time zone
            words += ['meta', 'time', '>=', str(self.window[0]), 'meta', 'time', '<', str(self.window[1])]
        return words + list(self.extra)


def _utc(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch))


def _neg(negated):
    return ['!'] if negated else []


def _nneg(negated):
    return ['!='] if negated else []


def _nft_proto(name):
    return {'ipv6-icmp': 'ipv6-icmp'}.get(name, name)


def _nft_ifname(name):
    return '"%s"' % (name[:-1] + '*' if name.endswith('+') else name)


def build_match(params, ip_version, backend=None):
    """Validate the match parameters (a dict with MATCH_PARAMS keys, missing or None = not used)."""
    families(ip_version)
    match = Match(ip_version)
    get = params.get
    if get('protocol') not in (None, ''):
        match.protocol, match.protocol_neg = _parse_protocol(get('protocol'), ip_version)
    for param in ('source', 'destination'):
        if get(param) not in (None, ''):
            if ip_version == 'both':
                raise ParamError(param, 'an address belongs to one family but ip_version is both: set ip_version to '
                                        'ipv4 or ipv6')
            address, negated = _parse_address(param, get(param), ip_version)
            setattr(match, param, address)
            setattr(match, param + '_neg', negated)
    for param, attr in (('source_port', 'sport'), ('destination_port', 'dport')):
        if get(param) not in (None, ''):
            if match.protocol not in PORT_PROTOCOLS or match.protocol_neg:
                raise ParamError(param, 'ports need protocol tcp, udp or sctp (got protocol %r)' % get('protocol'))
            setattr(match, attr, parse_ports(param, get(param)))
    for param, attr in (('in_interface', 'in'), ('out_interface', 'out')):
        if get(param) not in (None, ''):
            name, negated = _parse_interface(param, get(param))
            setattr(match, attr + '_interface', name)
            setattr(match, attr + '_neg', negated)
    if get('icmp_type') not in (None, ''):
        if match.protocol not in ('icmp', 'ipv6-icmp') or match.protocol_neg:
            raise ParamError('icmp_type', 'needs protocol icmp (ipv4) or ipv6-icmp (ipv6), got protocol %r'
                             % get('protocol'))
        text, negated = split_negation(get('icmp_type'))
        icmp_type, code = icmp_type_code(text, 'ipv4' if match.protocol == 'icmp' else 'ipv6')
        match.icmp = (icmp_type, code, negated)
    if get('ctstate') not in (None, '', []):
        match.ctstate = _parse_ctstate(get('ctstate'))
        if backend == 'nftables' and set(match.ctstate) & {'SNAT', 'DNAT'}:
            raise ParamError('ctstate', 'SNAT and DNAT are conntrack statuses, not states, in nftables: leave them '
                                        'out with backend nftables')
    if get('mark') not in (None, ''):
        match.mark = _parse_mark(get('mark'))
    if get('uid_owner') not in (None, ''):
        match.uid_owner = _parse_uid_owner(get('uid_owner'))
    if get('match_extra'):
        match.extra = _parse_match_extra(get('match_extra'))
        check_extra(match.extra, backend)
    return match


def check_extra(tokens, backend):
    """match_extra may only add matches; anything that sets a target, a chain, a table or a comment is refused."""
    if backend == 'nftables':
        for token in tokens:
            for word in _NFT_WORD_SPLIT.split(token.lower()):
                if word in NFT_FORBIDDEN:
                    _refuse(token, 'the nft word %r' % word)
        return
    expect_module = False
    for token in tokens:
        if expect_module:
            _check_module(token, token)
            expect_module = False
            continue
        for option, value in _iptables_options(token):
            if option in ('m', 'match'):
                if value is None:
                    expect_module = True
                else:
                    _check_module(token, value)


def _refuse(token, what):
    raise ParamError('match_extra', '%r is not allowed (%s): match_extra only adds matches; the target, the chain, '
                                    'the table and the comment are set by the module. Spell options out in full, '
                                    'one per token, e.g. ["-m", "length", "--length", "0:100"]' % (token, what))


def _check_module(token, name):
    if name.strip().lower() in MODULES_FORBIDDEN:
        _refuse(token, 'the match module %r' % name)


def _iptables_options(token):
    """(option, attached value or None) that getopt_long would read from this token; [] for a plain value."""
    if token.startswith('--') and len(token) > 2:
        name, _sep, value = token[2:].partition('=')
        name = name.lower()
        if name in LONG_FORBIDDEN or any(full.startswith(name) for full in LONG_FORBIDDEN):
            _refuse(token, 'the option --%s' % name)
        if 'match'.startswith(name) and len(name) >= 2:
            name = 'match'  # getopt_long expands an abbreviation of --match
        return [(name, value if _sep else None)]
    if token.startswith('-') and len(token) > 1 and token != '-':
        found = []
        for index, letter in enumerate(token[1:], start=1):
            if letter not in SHORT_ALLOWED:
                _refuse(token, 'the option -%s' % letter)
            if letter in _SHORT_WITH_ARG or letter in _SHORT_OPTIONAL_ARG:
                found.append((letter, token[index + 1:] or None))
                break
            found.append((letter, None))
        return found
    return []
