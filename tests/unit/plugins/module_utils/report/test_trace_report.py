# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three reports from bundles made of the recorded captures; bundle reading and its failure modes."""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.reader import BundleError
from ansible_collections.netdebug.netfilter.plugins.module_utils._report.report_write import run_report


def _run(incident, **kwargs):
    return run_report(str(incident.parent), incident.name, **kwargs)


@pytest.mark.parametrize('kind', ['legacy', 'nft', 'nftables'])
def test_report_json_answers(bundle, kind):
    incident = bundle(kind)
    result = _run(incident)
    assert result['changed'] and result['written'] == ['json', 'md', 'html']
    report = json.loads((incident / 'report.json').read_text())
    assert report['incident_id'] == 'inc1'
    assert set(report['hosts']) == {'node1', 'node2'}
    assert report['hosts']['node2']['status'] == 'ok' and report['hosts']['node2']['errors'] == []
    for packet in report['packets']:
        assert {'host', 'trace_id', 'first_seen', 'summary', 'path_id', 'verdict', 'verdict_rule'} <= set(packet)
        assert 'path' not in packet  # its path is paths[path_id], written once
        path = report['paths'][packet['path_id']]
        assert path['host'] == packet['host'] and path['verdict'] == packet['verdict']
        for step in path['steps']:
            assert {'table', 'chain', 'kind', 'rulenum', 'handle', 'rule', 'target'} <= set(step)
        if packet['verdict_rule']:  # the rule that decided is the path's deciding step
            deciding = path['steps'][path['deciding_step']]
            assert {k: deciding[k] for k in packet['verdict_rule']} == packet['verdict_rule']
    drops = {(d['host'], d['chain'], d['verdict']): d['packets'] for d in report['drops']}
    assert drops[('node2', 'app-deep', 'drop')] == 2
    deep = next(p for p in report['packets'] if p['host'] == 'node2' and p['verdict'] == 'drop'
                and p['verdict_rule']['chain'] == 'app-deep')
    assert deep['summary']['proto'] == 'icmp' and deep['summary']['src'] == '198.18.200.1'
    assert any(line.startswith('node2 drops ') and ' at ' in line and 'app-deep' in line
               for line in result['verdicts'])
    node1 = result['hosts']['node1']['verdicts']
    if kind == 'nftables':
        # node 1's only chain is at prerouting: what came back (a RST, an ICMP error) was last seen there, before
        # the routing decision, so whether it was delivered is not known
        assert node1 == {'accept': report['hosts']['node1']['packets'] - 2, 'unknown': 2}
        assert all(p['verdict_reason'].startswith('last seen at ndtrace/pre (prerouting)')
                   for p in report['packets'] if p['host'] == 'node1' and p['verdict'] == 'unknown')
    else:
        assert node1 == {'accept': report['hosts']['node1']['packets']}


def test_verdict_line_format(bundle):
    result = _run(bundle('legacy'))
    assert 'node2 drops ICMP 198.18.200.1 -> 198.18.200.2 at filter/app-deep rule 1: ' \
           '-A app-deep -m length --length 200:65535 -j DROP (2 packets)' in result['verdicts']
    assert 'node2 drops TCP 198.18.200.1 -> 198.18.200.2:9999 at filter/INPUT policy: -P INPUT DROP (2 packets)' \
        in result['verdicts']


def test_markdown_and_html_hold_the_same_answers(bundle):
    incident = bundle('legacy')
    result = _run(incident)
    md = (incident / 'report.md').read_text()
    html = (incident / 'report.html').read_text()
    for line in result['verdicts']:
        assert line in md
        assert line.replace('->', '-&gt;').replace('"', '&quot;') in html
    assert '## node2 (ok)' in md and 'id="host-node2"' in html
    assert html.count('<svg ') == len(json.loads((incident / 'report.json').read_text())['paths'])
    assert 'class="decider"' in html


def test_html_is_self_contained(bundle):
    incident = bundle('nftables')
    _run(incident)
    html = (incident / 'report.html').read_text()
    # one inline script (the filter box and links into folded sections), nothing loaded from anywhere
    assert html.count('<script') == 1 and '<script>' in html and 'fetch(' not in html and 'XMLHttpRequest' not in html
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html) + re.findall(r'url\(([^)]*)\)', html)
    assert refs and all(ref.startswith('#') for ref in refs), refs
    assert '@import' not in html


def test_second_run_unchanged_and_check_mode_writes_nothing(bundle):
    incident = bundle('nft')
    first = _run(incident, check_mode=True)
    assert first['changed'] and not any((incident / ('report.' + f)).exists() for f in ('json', 'md', 'html'))
    assert _run(incident)['changed']
    stamps = {f: os.stat(incident / ('report.' + f)).st_mtime_ns for f in ('json', 'md', 'html')}
    again = _run(incident)
    assert not again['changed'] and again['written'] == []
    assert stamps == {f: os.stat(incident / ('report.' + f)).st_mtime_ns for f in ('json', 'md', 'html')}
    assert not _run(incident, check_mode=True)['changed']
    assert not [name for name in os.listdir(incident) if name.endswith('.tmp')]


def test_formats_and_output_dir(bundle, tmp_path):
    incident = bundle('legacy')
    out = tmp_path / 'out'
    out.mkdir()
    result = _run(incident, formats=['md'], output_dir=str(out))
    assert os.listdir(out) == ['report.md'] and result['reports'] == {'md': str(out / 'report.md')}
    assert not (incident / 'report.md').exists()


def test_checksum_mismatch_skips_the_file_and_says_so(bundle):
    incident = bundle('legacy')
    with open(incident / 'node2' / 'trace' / 'dmesg.log', 'a') as fh:
        fh.write('tampered\n')
    report = json.loads((_run(incident), (incident / 'report.json').read_text())[1])
    assert report['hosts']['node2']['errors'] == ['checksum mismatch for trace/dmesg.log; the file is ignored']
    assert report['hosts']['node2']['packets'] == 0 and report['hosts']['node1']['packets'] > 0


def test_unreachable_and_unsafe_hosts(bundle):
    incident = bundle('legacy')
    manifest = json.loads((incident / 'manifest.json').read_text())
    manifest['hosts']['node3'] = {'status': 'unreachable', 'reason': 'ssh: connect to host node3 port 22: timeout'}
    manifest['hosts']['../evil'] = {'status': 'ok'}
    manifest['hosts']['node4'] = {'status': 'ok', 'dir': '../node1'}
    manifest['hosts']['node1']['files'].append({'path': '../../etc/passwd', 'sha256': '0' * 64})
    (incident / 'manifest.json').write_text(json.dumps(manifest))
    result = _run(incident)
    hosts = result['hosts']
    assert hosts['node3']['status'] == 'unreachable' and hosts['node3']['packets'] == 0
    assert hosts['node3']['reason'].startswith('ssh:') and hosts['node3']['errors'] == []
    assert 'unsafe or missing directory name' in hosts['../evil']['errors'][0]
    assert 'unsafe or missing directory name' in hosts['node4']['errors'][0]
    assert "unsafe file path '../../etc/passwd' in the manifest" in hosts['node1']['errors']
    assert hosts['node2']['packets'] == 12
    md = (incident / 'report.md').read_text()
    assert '| node3 | unreachable | ssh: connect to host node3 port 22: timeout |' in md


@pytest.mark.parametrize('given, shown', [(46800, 46800), (0, 0), (None, None), ('46800', None), (True, None)])
def test_untraced_packets_of_the_manifest_are_in_the_hosts_tables(bundle, given, shown):
    """The manifest entry's untraced_packets (the TRACE rules' counters at the stop) in report.json and both
    tables; a value that is not a count is left out rather than shown."""
    incident = bundle('legacy')
    manifest = json.loads((incident / 'manifest.json').read_text())
    manifest['hosts']['node2']['untraced_packets'] = given
    (incident / 'manifest.json').write_text(json.dumps(manifest))
    _run(incident)
    hosts = json.loads((incident / 'report.json').read_text())['hosts']
    assert hosts['node2']['untraced'] == shown and hosts['node1']['untraced'] is None
    cell = '' if shown is None else str(shown)
    md = (incident / 'report.md').read_text()
    assert '| node2 | ok |  | %d | 12 | %s | ' % (hosts['node2']['events'], cell) in md
    html = (incident / 'report.html').read_text()
    assert '<th>untraced</th>' in html and '<td>12</td><td>%s</td>' % cell in html


def test_sliced_manifests_are_merged(bundle):
    """Job slices write manifest.<part>.json; the report holds every slice's hosts."""
    incident = bundle('nftables')
    manifest = json.loads((incident / 'manifest.json').read_text())
    (incident / 'manifest.json').unlink()
    for part, host in (('slice1', 'node1'), ('slice2', 'node2')):
        data = {'incident_id': 'inc1', 'hosts': {host: manifest['hosts'][host]}}
        (incident / ('manifest.%s.json' % part)).write_text(json.dumps(data))
    result = _run(incident)
    # 9 IPv4 packets and the 2 IPv6 pings (by ICMPv6 id and sequence) seen on both nodes
    assert sorted(result['hosts']) == ['node1', 'node2'] and result['journeys'] == 11


def test_gzip_trace_files(bundle):
    import gzip
    incident = bundle('legacy', checksums=False)
    trace = incident / 'node2' / 'trace' / 'dmesg.log'
    with gzip.open(str(trace) + '.gz', 'wb') as fh:
        fh.write(trace.read_bytes())
    trace.unlink()
    assert _run(incident)['hosts']['node2']['packets'] == 12


@pytest.mark.parametrize('setup, message', [
    (lambda incident: (incident / 'manifest.json').unlink(), 'no manifest.json in'),
    (lambda incident: (incident / 'manifest.json').write_text('{"hosts": ['), 'cannot read'),
    (lambda incident: (incident / 'manifest.json').write_text('{"hosts": []}'), 'expected an object'),
])
def test_bad_bundles(bundle, setup, message):
    incident = bundle('legacy')
    setup(incident)
    with pytest.raises(BundleError, match=message):
        _run(incident)


def test_bad_incident_id_and_output_dir(bundle, tmp_path):
    incident = bundle('legacy')
    with pytest.raises(BundleError, match='not a single directory name'):
        run_report(str(incident.parent), '../x')
    with pytest.raises(BundleError, match='does not exist: bundle_dir must hold'):
        run_report(str(incident.parent), 'nope')
    with pytest.raises(BundleError, match='output_dir'):
        run_report(str(incident.parent), incident.name, output_dir=str(tmp_path / 'missing'))
