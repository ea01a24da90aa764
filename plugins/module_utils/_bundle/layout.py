# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bundle's names: every file and directory name of a host's part of the bundle and of the manifest, in one
place for the node side that writes them (capture_pack, the rules' records) and the report that reads them
(docs/bundle.md describes the layout). Stdlib only."""

from __future__ import annotations

MANIFEST = 'manifest.json'
MANIFEST_PREFIX = 'manifest.'  # manifest.<part>.json: one per job slice or --limit run
TRACE_DIR = 'trace'
RULESET_DIR = 'ruleset'
KERNEL_LOG = TRACE_DIR + '/kernel.log'
CONNTRACK_JSON = 'conntrack.json'
CONNTRACK_TEXT = 'conntrack.txt'
CONNTRACK_STATS_JSON = 'conntrack-stats.json'
LOGGERS_JSON = 'loggers.json'
FACTS_JSON = 'facts.json'
# /proc/net/ip*_tables_names copied as these files (the legacy tables loaded in the namespace).
LEGACY_NAMES_FILES = {'ipv4': 'ip_tables_names', 'ipv6': 'ip6_tables_names'}
# The ruleset listings a host's ruleset directory may hold.
SAVE_FILES = ('iptables-legacy.save', 'ip6tables-legacy.save', 'iptables-nft.save', 'ip6tables-nft.save',
              'iptables.save', 'ip6tables.save', 'nft.ruleset')
RULESET_FILES = SAVE_FILES + tuple(sorted(LEGACY_NAMES_FILES.values()))
