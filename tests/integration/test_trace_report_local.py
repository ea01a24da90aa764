# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""trace_report end to end on a fresh capture: the fixtures' recording script runs again (two throwaway network
namespaces, real legacy TRACE in the kernel log, real `nft monitor trace`), its output becomes a bundle, and
`ansible localhost -m netdebug.netfilter.trace_report` runs in four steps (check, apply, check, apply).

Needs root (namespaces, iptables); the host's ruleset is not touched, and net.netfilter.nf_log_all_netns is put
back by the script."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from ansible_collections.netdebug.netfilter.tests.integration.conftest import AnsibleRun

HERE = pathlib.Path(__file__).resolve().parent
RECORD = HERE.parent / 'unit' / 'fixtures' / 'trace' / 'record.sh'

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('iptables-legacy') or not shutil.which('nft'),
                                reason='needs root, iptables-legacy and nft')


@pytest.fixture(scope='module')
def capture(tmp_path_factory):
    out = tmp_path_factory.mktemp('capture')
    proc = subprocess.run(['bash', str(RECORD), str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def _bundle(root, capture, kind, incident):
    incident_dir = root / incident
    hosts = {}
    for host in ('node1', 'node2'):
        shutil.copytree(capture / kind / host, incident_dir / host)
        files = [{'path': str(p.relative_to(incident_dir / host)), 'sha256': hashlib.sha256(p.read_bytes()).hexdigest()}
                 for p in sorted((incident_dir / host).rglob('*')) if p.is_file()]
        hosts[host] = {'status': 'ok', 'reason': None, 'dir': host, 'files': files}
    (incident_dir / 'manifest.json').write_text(json.dumps({'incident_id': incident, 'hosts': hosts}))
    return incident_dir


@pytest.fixture(scope='module')
def local(tmp_path_factory):
    inventory = tmp_path_factory.mktemp('inv') / 'hosts'
    python = shutil.which('python3') or '/usr/bin/python3'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % python)
    return AnsibleRun(inventory)


# One verdict line for the same iptables rule on both variants (iptables-nft through xtables-monitor, legacy through
# the kernel log).
IPTABLES_DEEP_DROP = (r'^node2 drops ICMP 198\.18\.200\.1 -> 198\.18\.200\.2 at filter/app-deep rule 1: '
                      r'-A app-deep -m length --length 200:65535 -j DROP \(2 packets\)$')


@pytest.mark.parametrize('kind, deep_drop', [
    ('legacy', IPTABLES_DEEP_DROP),
    ('nft', IPTABLES_DEEP_DROP),
    ('nftables', r'^node2 drops ICMP 198\.18\.200\.1 -> 198\.18\.200\.2 at inet ndtrace/app-deep rule 1 \(handle \d+\): '
                 r'ip length >= 200 drop \(2 packets\)$'),
])
def test_trace_report_four_steps_on_a_fresh_capture(capture, local, tmp_path, kind, deep_drop):
    bundles = tmp_path / 'bundles'
    incident = _bundle(bundles, capture, kind, 'live-' + kind)
    args = {'bundle_dir': str(bundles), 'incident_id': incident.name}

    check = local.module('localhost', 'netdebug.netfilter.trace_report', args, check=True)
    assert check.rc == 0, check
    result = check.by_host()['localhost']
    assert result['changed'] and not (incident / 'report.json').exists()

    apply = local.module('localhost', 'netdebug.netfilter.trace_report', args)
    assert apply.rc == 0, apply
    result = apply.by_host()['localhost']
    assert result['changed'] and sorted(result['written']) == ['html', 'json', 'md']
    assert any(re.match(deep_drop, line) for line in result['verdicts']), result['verdicts']
    assert any(re.search(r' at (filter/INPUT|inet ndtrace/input) policy: ', line) for line in result['verdicts'])
    assert sum(1 for line in result['verdicts'] if ' rejects ' in line) == 2
    # Eight journeys whatever the load; a ninth when the kernel retransmitted the unanswered SYN to 9999 (after 1 s)
    # before the recording's 2 s connect timeout, which a loaded machine's slow process start can leave no room for.
    assert result['journeys'] >= 8

    report = json.loads((incident / 'report.json').read_text())
    deep = [p for p in report['packets'] if p['host'] == 'node2' and p['verdict'] == 'drop'
            and p['verdict_rule']['chain'] == 'app-deep']
    assert len(deep) == 2
    assert {(p['verdict_rule']['rulenum'], p['summary']['proto']) for p in deep} == {(1, 'icmp')}

    for check_mode in (True, False):
        again = local.module('localhost', 'netdebug.netfilter.trace_report', args, check=check_mode)
        assert again.rc == 0, again
        assert again.by_host()['localhost']['changed'] is False
