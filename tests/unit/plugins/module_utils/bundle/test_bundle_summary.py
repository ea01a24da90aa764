# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conntrack playbook's last words, from the bundle it wrote."""

from __future__ import annotations

import json

from ansible_collections.netdebug.netfilter.plugins.filter.conntrack_summary import conntrack_summary
from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.summary import conntrack_summary as summary


def _bundle(root):
    incident = root / 'ct-1'
    for host, listing in (('node1', {'entries': [], 'matched': 0}), ('node2', {'entries': [{}], 'matched': 1}),
                          ('node3', {'entries': [{}] * 2, 'matched': 5000, 'truncated': True})):
        (incident / host).mkdir(parents=True)
        (incident / host / 'conntrack.json').write_text(json.dumps(listing))
    hosts = {'node1': {'status': 'ok', 'dir': 'node1'}, 'node2': {'status': 'ok', 'dir': 'node2'},
             'node3': {'status': 'partial', 'dir': 'node3'},
             'node4': {'status': 'unreachable', 'dir': 'node4', 'reason': 'ssh: connect to host node4: timed out'}}
    (incident / 'manifest.json').write_text(json.dumps({'kind': 'conntrack', 'hosts': hosts}))
    return incident


def test_where_and_what_each_host_gave(tmp_path):
    incident = _bundle(tmp_path)
    assert summary(str(incident)) == (
        'conntrack snapshot of 4 host(s) in %s: node1 ok, 0 entries; node2 ok, 1 entry; node3 partial, 5000 entries '
        '(truncated); node4 unreachable (ssh: connect to host node4: timed out)' % incident)
    assert conntrack_summary(str(incident)) == summary(str(incident))


def test_a_part_reads_its_own_manifest_and_a_missing_one_is_said(tmp_path):
    incident = _bundle(tmp_path)
    (incident / 'manifest.json').rename(incident / 'manifest.slice-1.json')
    assert summary(str(incident), 'slice-1').startswith('conntrack snapshot of 4 host(s) in ')
    assert conntrack_summary(str(incident)).startswith(
        'conntrack snapshot in %s: its manifest.json could not be read (' % incident)
