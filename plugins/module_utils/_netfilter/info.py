# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the netfilter_info module reports, gathered read-only from the node."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.base_chains import (
    iptables_base_chains, is_xtables_table, nft_base_chains,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import (
    LEGACY, NFT_PACKAGE, VARIANTS,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.hooks import agents, foreign_hooks
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import parse_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.model import Ruleset
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import parse_nft
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.ruleset import read_nft, snapshot
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.variant import detect


def native_tables(ruleset):
    """The nftables tables that are not iptables-nft's (those are reported with the nf_tables backend).

    An ip/ip6 table named like an iptables table is taken to be iptables-nft's: nft cannot tell them apart.
    """
    return Ruleset([table for table in ruleset.tables if not is_xtables_table(table.family, table.name)])


def gather(runner, families, want_snapshot=False, include_nft=False):
    """(result dict, warnings list) for netfilter_info."""
    if include_nft and runner.find('nft') is None:
        raise ParameterError('include_nft', 'the nft command is not on the node; install the %s package or set '
                                            'include_nft to false' % NFT_PACKAGE)
    detection = detect(runner, families)
    version = detection.version
    result = {
        'variant': detection.variant,
        'variant_reason': detection.reason,
        'iptables_version': version.version_string if version else None,
        'iptables_variant': version.variant if version else None,
        'backends_with_rules': [variant for variant in VARIANTS if detection.holds[variant]],
    }
    hooks = []
    chains = []
    for variant in VARIANTS:
        for family in families:
            text = detection.saves.get((variant, family))
            if text is not None:
                parsed = parse_save(text, family, source=variant)
                hooks.extend(foreign_hooks(parsed, variant))
                if variant == LEGACY or not include_nft:
                    chains.extend(iptables_base_chains(parsed, family, variant))
    nft_text = None
    if include_nft:
        nft_text = read_nft(runner, handles=True)
        listed = parse_nft(nft_text)
        native = native_tables(listed)
        hooks.extend(foreign_hooks(native, 'nftables'))
        result['nftables_tables'] = ['%s %s' % (table.family, table.name) for table in native.tables]
        chains.extend(nft_base_chains(listed))
    result['base_chains'] = chains
    result['foreign_hooks'] = hooks
    result['foreign_agents'] = agents(hooks)
    if want_snapshot:
        result['snapshot'] = snapshot(runner, families, include_nft, version.variant if version else None,
                                      saves=detection.saves, nft_text=nft_text)
    result['binaries'] = runner.found()
    return result, list(detection.warnings)
