# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ruleset model and its parsers, one per format: iptables-save (iptables_save), nft list ruleset
(nft_list), the executables and variants (binaries, variant), base chains and other agents' hooks (base_chains,
hooks), normalised snapshots (ruleset) and what netfilter_info reports (info).
"""
