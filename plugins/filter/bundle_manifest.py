# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_entry and bundle_manifest filters (documentation in host_entry.yml and bundle_manifest.yml); the
decisions live in module_utils/_bundle/manifest."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import manifest


def host_entry(pack, trace=None, host_dir=None, published=None, host=None):
    """capture_pack's result -> this host's manifest entry (None: the entry of a collect step not finished yet);
    failed when bundle_publish's result (published) says the host's archive was not published."""
    if pack is None:
        return manifest.unfinished(host_dir)
    failed = manifest.publish_failed(published, host, host_dir) if published is not None else None
    return failed or manifest.host_entry(trace, pack, host_dir)


def bundle_manifest(hosts, incident_id, kind='capture', match=None, duration=None, backend='auto', ran_by=None):
    """{host: {collect, trace, phase}} -> the run's manifest."""
    return manifest.manifest(hosts, incident_id, kind=kind, match=match, duration=duration, backend=backend,
                             ran_by=ran_by)


class FilterModule:
    def filters(self):
        return {'host_entry': host_entry, 'bundle_manifest': bundle_manifest}
