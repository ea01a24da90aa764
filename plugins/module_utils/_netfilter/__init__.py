# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers that drive the netfilter tools (iptables, ip6tables, nft) for the collection's modules.

Not a public API: names may change between releases. Layout: errors (the domain errors), runner (how commands
run), binaries (which executable serves a family and variant), variant (legacy / nf_tables / mixed), model and
the parsers iptables_save / nft_list (pure), hooks (other agents' chains), ruleset (reading snapshots).
"""
