# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of the netfilter executables per address family and iptables variant, the xtables tables, and finding
the executables on a node. Stdlib only (the rules reaper ships it)."""

from __future__ import annotations

IPV4 = 'ipv4'
IPV6 = 'ipv6'
FAMILIES = (IPV4, IPV6)

LEGACY = 'legacy'
NF_TABLES = 'nf_tables'
MIXED = 'mixed'
VARIANTS = (LEGACY, NF_TABLES)
# The same two variants as the rules modules' option backend names them (like the executables' suffixes).
BACKEND_VARIANTS = {'legacy': LEGACY, 'nft': NF_TABLES}
NFTABLES = 'nftables'  # native nftables tables: not an iptables variant, but a backend that can hold base chains
NFT_FAMILIES = {IPV4: 'ip', IPV6: 'ip6'}  # the nft family names of the iptables families
# The xtables tables, in the order iptables-save prints them (legacy lists them in the order they were loaded).
XTABLES_TABLES = ('raw', 'mangle', 'nat', 'filter', 'security')

# The Debian/Ubuntu/Fedora package names, for "install X" messages.
IPTABLES_PACKAGE = 'iptables'
NFT_PACKAGE = 'nftables'

_BASE = {IPV4: 'iptables', IPV6: 'ip6tables'}
_SUFFIX = {LEGACY: '-legacy', NF_TABLES: '-nft'}


def tool_name(family, variant=None, kind=''):
    """The executable for family (ipv4/ipv6), variant (None: the distribution's default) and kind.

    kind is '' (the rule editor), 'save' or 'restore': tool_name('ipv6', 'nf_tables', 'save') is
    'ip6tables-nft-save'.
    """
    name = _BASE[family]
    if variant is not None:
        name += _SUFFIX[variant]
    if kind:
        name += '-' + kind
    return name


def find_xtables(runner, family, variant, kind='', default_variant=None):
    """Path of the variant's executable, or None.

    iptables before 1.8 has no -legacy/-nft names; its plain command serves the variant that ``-V`` reports
    (default_variant), so that one is used when the suffixed name is missing.
    """
    path = runner.find(tool_name(family, variant, kind))
    if path is None and variant == default_variant:
        path = runner.find(tool_name(family, None, kind))
    return path
