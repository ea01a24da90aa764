# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which iptables variant a node uses: legacy, nf_tables, or mixed when both backends hold rules.

``iptables -V`` says which variant the plain ``iptables`` command edits; agents that ship their own iptables
(kube-proxy, Calico, Docker) may still write to the other backend. So the rules decide: the variant is the backend
that holds rules, ``mixed`` when both do, and the one ``iptables -V`` names only when neither does.
parse_version and decide_variant are pure; detect does the reading.
"""

from __future__ import annotations

import re
from collections import namedtuple

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParseError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import (
    FAMILIES, IPTABLES_PACKAGE, LEGACY, MIXED, NF_TABLES, VARIANTS, find_xtables, tool_name,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import has_content, parse_save

# "iptables v1.8.9 (nf_tables)", "ip6tables v1.8.7 (legacy)", "iptables v1.6.1" (before 1.8: always legacy)
_VERSION_RE = re.compile(r'^(?P<tool>ip6?tables)\S* v(?P<version>\d+(?:\.\d+)*)(?: \((?P<mode>[^)]*)\))?\s*$')
_MODES = {None: LEGACY, 'legacy': LEGACY, 'nf_tables': NF_TABLES}


class VersionInfo(namedtuple('VersionInfo', ['tool', 'version', 'version_string', 'variant'])):
    """Parsed ``-V`` output: tool (iptables/ip6tables), version tuple, version text and variant."""

    __slots__ = ()


class Detection(namedtuple('Detection', ['variant', 'reason', 'version', 'holds', 'saves', 'warnings'])):
    """What detect found.

    variant: legacy, nf_tables, mixed, or None without any iptables; reason: why, in a sentence;
    version: VersionInfo of the plain iptables command, or None; holds: {variant: bool};
    saves: {(variant, family): save output text} for every backend that could be read; warnings: list of str.
    """

    __slots__ = ()


def parse_version(text, source='iptables -V'):
    """VersionInfo from ``iptables -V`` / ``ip6tables -V`` output; ParseError when it is not one."""
    for line in (text or '').splitlines():
        match = _VERSION_RE.match(line.strip())
        if match is None:
            continue
        mode = match.group('mode')
        if mode not in _MODES:
            raise ParseError(source, 'unknown iptables variant %r' % mode, line=line)
        version = match.group('version')
        return VersionInfo(match.group('tool'), tuple(int(part) for part in version.split('.')), version, _MODES[mode])
    raise ParseError(source, 'no "iptables vX.Y.Z" version line', line=(text or '').strip())


def decide_variant(default_variant, legacy_holds, nft_holds):
    """(variant, reason) from the variant ``iptables -V`` names and which backends hold rules."""
    if legacy_holds and nft_holds:
        return MIXED, 'both the legacy and the nf_tables backend hold rules'
    if legacy_holds:
        return LEGACY, 'only the legacy backend holds rules'
    if nft_holds:
        return NF_TABLES, 'only the nf_tables backend holds rules'
    if default_variant is None:
        return None, 'no iptables command on the node and no rules in either backend'
    return default_variant, 'no backend holds rules; iptables -V names %s' % default_variant


def disagreement(default_variant, variant):
    """A warning when the plain iptables command edits a backend other than the one holding the rules."""
    if default_variant is None or variant in (None, MIXED) or variant == default_variant:
        return None
    return ('iptables on this node edits the %s backend but the rules are in the %s backend: use %s to see '
            'them' % (default_variant, variant, tool_name('ipv4', variant)))


def read_version(runner, families=FAMILIES):
    """VersionInfo of the plain iptables (or, without it, ip6tables) command, or None when neither exists."""
    for family in families:
        path = runner.find(tool_name(family))
        if path is not None:
            return parse_version(runner.run([path, '-V']).stdout, source='%s -V' % path)
    return None


def detect(runner, families=FAMILIES):
    """Detection for the node, reading ``-V`` and each backend's save output for families."""
    version = read_version(runner, families)
    default_variant = version.variant if version else None
    holds = dict((variant, False) for variant in VARIANTS)
    saves = {}
    warnings = []
    for variant in VARIANTS:
        for family in families:
            path = find_xtables(runner, family, variant, 'save', default_variant)
            if path is None:
                continue
            text = runner.run_xtables([path]).stdout
            saves[(variant, family)] = text
            if has_content(parse_save(text, family, source=path)):
                holds[variant] = True
    if not saves:
        warnings.append('no iptables save command found on the node; install the %s package to see '
                        'iptables rules' % IPTABLES_PACKAGE)
    variant, reason = decide_variant(default_variant, holds[LEGACY], holds[NF_TABLES])
    warning = disagreement(default_variant, variant)
    if warning:
        warnings.append(warning)
    return Detection(variant, reason, version, holds, saves, warnings)
