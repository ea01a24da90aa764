# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a finished bundle holds, in a line for the playbook's last words."""

from __future__ import annotations

import json
import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import layout


def conntrack_summary(incident_dir, part=''):
    """The conntrack playbook's last words: where its bundle is and, per host, its status and how many entries
    matched ('node2 ok, 3 entries'); reads the run's manifest (manifest.<part>.json for a part) and each host's
    conntrack.json. A manifest that cannot be read is said so, in the line."""
    name = '%s%s.json' % (layout.MANIFEST_PREFIX, part) if part else layout.MANIFEST
    try:
        with open(os.path.join(incident_dir, name), encoding='utf-8') as handle:
            hosts = json.load(handle).get('hosts') or {}
    except (OSError, ValueError, AttributeError) as exc:
        return 'conntrack snapshot in %s: its %s could not be read (%s)' % (incident_dir, name, exc)
    words = []
    for host in sorted(hosts):
        entry = hosts[host] or {}
        text = '%s %s' % (host, entry.get('status') or 'unknown')
        try:
            with open(os.path.join(incident_dir, entry.get('dir') or host, layout.CONNTRACK_JSON),
                      encoding='utf-8') as handle:
                listing = json.load(handle)
        except (OSError, ValueError):
            listing = None
        if isinstance(listing, dict) and isinstance(listing.get('matched'), int):
            text += ', %d entr%s%s' % (listing['matched'], 'y' if listing['matched'] == 1 else 'ies',
                                       ' (truncated)' if listing.get('truncated') else '')
        elif entry.get('reason'):
            text += ' (%s)' % entry['reason']
        words.append(text)
    return 'conntrack snapshot of %d host(s) in %s: %s' % (len(hosts), incident_dir, '; '.join(words) or 'no host')
