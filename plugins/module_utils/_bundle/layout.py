# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bundle's names: every file and directory name of a host's part of the bundle and of the manifest, in one
place for the node side that writes them (capture_pack, the rules' records) and the report that reads them
(docs/bundle.md describes the layout), and each host's directory name. Stdlib only."""

from __future__ import annotations

import hashlib
import re

MANIFEST = 'manifest.json'
MANIFEST_PREFIX = 'manifest.'  # manifest.<part>.json: one per job slice or --limit run
TRACE_DIR = 'trace'
RULESET_DIR = 'ruleset'
KERNEL_LOG = TRACE_DIR + '/kernel.log'
TRACE_JSON = 'trace.json'  # the trace role's record of the run on this host
CONNTRACK_JSON = 'conntrack.json'
# The kernel's drops of the window (the run's tracefs instance of skb:kfree_skb): written by the trace's stop in the
# run's directory, copied to the host's directory by the collect step.
DROP_REASONS_JSON = 'drop-reasons.json'
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


def host_dir(host):
    """The host's directory name in the bundle: the inventory name with anything but letters, digits, '.', '_' and
    '-' replaced, never starting with a dot; a name that had to change gets a short hash, so that no name leaves
    the incident directory and no two hosts share one."""
    safe = re.sub(r'[^A-Za-z0-9._-]', '_', host)
    safe = re.sub(r'^[.]', '_', safe)
    if safe == host:
        return host
    return '%s-%s' % (safe, hashlib.sha1(host.encode('utf-8')).hexdigest()[:8])
