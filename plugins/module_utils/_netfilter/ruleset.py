# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading rulesets from a node (read only) and snapshots normalised for comparison.

A snapshot is {'legacy': {'ipv4': text, 'ipv6': text}, 'nf_tables': {...}, 'nftables': text}: the normalised
save output of each iptables backend whose save command exists, and with include_nft the normalised
``nft list ruleset``. Two snapshots compare equal when only counters changed.
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import (
    FAMILIES,
    NFT_PACKAGE,
    VARIANTS,
    find_xtables,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import normalise_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import normalise_nft


def read_save(runner, path, counters=False):
    """Raw output of a save command (path from find_xtables); counters adds -c."""
    return runner.run_xtables([path] + (['-c'] if counters else [])).stdout


def read_nft(runner, handles=False):
    """Raw ``nft list ruleset`` output; handles adds -a. The nft command is required."""
    nft = runner.find('nft', required=True, package=NFT_PACKAGE)
    return runner.run([nft] + (['-a'] if handles else []) + ['list', 'ruleset']).stdout


def snapshot(runner, families=FAMILIES, include_nft=False, default_variant=None, saves=None, nft_text=None):
    """A normalised snapshot (see the module docstring).

    saves ({(variant, family): text}) and nft_text are outputs already read, reused instead of reading again.
    default_variant is what ``iptables -V`` names (see binaries.find_xtables).
    """
    saves = saves or {}
    result = {}
    for variant in VARIANTS:
        for family in families:
            text = saves.get((variant, family))
            path = None
            if text is None:
                path = find_xtables(runner, family, variant, 'save', default_variant)
                if path is None:
                    continue
                text = read_save(runner, path)
            result.setdefault(variant, {})[family] = normalise_save(text, family, source=path or variant)
    if include_nft:
        if nft_text is None:
            nft_text = read_nft(runner)
        result['nftables'] = normalise_nft(nft_text)
    return result
