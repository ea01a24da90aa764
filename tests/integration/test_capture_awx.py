# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capture as AWX runs it, on the netns lab (app-guard scenario on node2, see test_capture.py).

- Through ansible-runner, with a private data directory laid out as AWX lays out a job (inventory/, env/, project/
  holding a playbook that imports netdebug.netfilter.capture), every input a survey string and an AWX job id: the
  job's artifacts must hold the set_stats summary, and the report must be on disk.
- As two job slices, the second started 10 s after the first (two runs with disjoint --limit, same incident, bundle
  directory and netdebug_window_start): both trace one interval, each writes its own manifest part and one merged
  report.json holds both slices' hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import ansible_runner
import pytest
import yaml

from conftest import COLLECTIONS_PATH
# app_guard: test_capture's module-scoped scenario fixture, loaded again for this module.
from test_capture import NODES, app_guard, load_json, ping_when_traced, snapshots  # pylint: disable=unused-import

INCIDENT_RUNNER = 'awx-runner-1'
INCIDENT_SLICES = 'awx-slices-1'


def private_data_dir(root, inventory, extravars):
    """The directory ansible-runner (and AWX, for each job) runs from."""
    pdd = root / 'pdd'
    for sub in ('inventory', 'env', 'project'):
        (pdd / sub).mkdir(parents=True)
    shutil.copy(inventory, pdd / 'inventory' / 'hosts.yml')  # AWX writes its own; the yaml plugin wants .yml
    (pdd / 'env' / 'extravars').write_text(yaml.safe_dump(extravars))
    (pdd / 'env' / 'envvars').write_text(yaml.safe_dump({
        'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS_PATH), 'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_RETRY_FILES_ENABLED': '0'}))
    # What an AWX project holds: a playbook in the project that runs the collection's playbook.
    (pdd / 'project' / 'capture.yml').write_text(
        '---\n- name: Capture\n  ansible.builtin.import_playbook: netdebug.netfilter.capture\n')
    return pdd


def test_capture_through_ansible_runner_with_survey_strings(app_guard, lab_ansible, tmp_path):
    bundle = tmp_path / 'bundles'
    extravars = {  # as an AWX survey passes them: strings only, plus the job id AWX adds
        'netdebug_incident_id': INCIDENT_RUNNER, 'netdebug_duration': '12', 'netdebug_ttl_margin': '30',
        'netdebug_bundle_dir': str(bundle), 'netdebug_match': 'protocol=icmp source=198.18.0.1',
        'netdebug_log_rules': 'false', 'netdebug_conntrack': 'true', 'awx_job_id': 4242}
    pdd = private_data_dir(tmp_path, lab_ansible.inventory, extravars)
    done = threading.Event()
    pinger = threading.Thread(target=ping_when_traced, args=(app_guard, INCIDENT_RUNNER, done), daemon=True)
    pinger.start()
    try:
        run = ansible_runner.run(private_data_dir=str(pdd), playbook='capture.yml', ident='job-4242', quiet=True,
                                 timeout=600)
    finally:
        done.set()
        pinger.join(60)
    artifacts = pdd / 'artifacts' / 'job-4242'
    stdout = (artifacts / 'stdout').read_text() if (artifacts / 'stdout').exists() else ''
    assert run.rc == 0 and run.status == 'successful', stdout[-4000:]
    assert (artifacts / 'rc').read_text().strip() == '0'

    # The stats event, as AWX stores it, read back from the job's artifacts on disk.
    events = [json.loads(path.read_text()) for path in sorted((artifacts / 'job_events').glob('*.json'))]
    stats = [e for e in events if e.get('event') == 'playbook_on_stats']
    assert len(stats) == 1, [e.get('event') for e in events][-5:]
    data = stats[0]['event_data']['artifact_data']
    incident_dir = bundle / INCIDENT_RUNNER
    assert data['netdebug_incident_id'] == INCIDENT_RUNNER
    assert data['netdebug_bundle_path'] == str(incident_dir)
    assert data['netdebug_bundle_part'] == 'awx-4242'
    assert data['netdebug_dropped'] is True
    assert any(d['host'] == 'node2' and d['chain'] == 'app-guard' and d['packets'] >= 1
               for d in data['netdebug_drops']), data['netdebug_drops']
    assert any(line.startswith('node2 drops ') for line in data['netdebug_verdicts'])
    summary = data['netdebug_summary']
    assert summary['hosts'] == 3 and sum(summary['host_status'].values()) == 3
    assert summary['dropped_packets'] >= 1 and summary['packets'] >= summary['dropped_packets']
    assert data['netdebug_reports']['json'] == str(incident_dir / 'report.json')
    assert run.stats['changed']  # the runner's own view of the same stats event

    # The report on disk, from the job's part of the bundle; the survey's string match became the dict.
    report = load_json(incident_dir / 'report.json')
    assert sorted(report['hosts']) == list(NODES)
    part = load_json(incident_dir / 'manifest.awx-4242.json')
    assert part['match'] == {'protocol': 'icmp', 'source': '198.18.0.1'} and part['duration'] == 12
    assert not (incident_dir / 'manifest.json').exists()
    assert not [name for name in os.listdir(incident_dir) if name.startswith('.incoming')]


@pytest.mark.parametrize('extra, message', [
    ({'netdebug_duration': '12x'}, "argument 'netdebug_duration' is of type str and we were unable to convert to int"),
    ({'netdebug_match': 'protocol'}, "argument 'netdebug_match' is of type str and we were unable to convert to dict"),
    ({'netdebug_match': 'proto=icmp'}, 'netdebug_match.proto'),
    ({'netdebug_log_rules': 'maybe'}, "argument 'netdebug_log_rules' is of type str and we were unable to convert"),
    ({'netdebug_bundle_part': '../x'}, 'netdebug_bundle_part must be'),
], ids=['duration', 'match-form', 'match-key', 'bool', 'part'])
def test_bad_survey_strings_stop_before_any_change(app_guard, lab_ansible, tmp_path, extra, message):
    before = snapshots(lab_ansible)
    extra_vars = {'netdebug_incident_id': 'awx-bad', 'netdebug_duration': '5', 'netdebug_bundle_dir': str(tmp_path),
                  'netdebug_match': 'protocol=icmp'}
    extra_vars.update(extra)
    res = lab_ansible.playbook('netdebug.netfilter.capture', extra_vars=extra_vars, timeout=300)
    assert res.rc != 0 and message in res.stdout, res
    assert snapshots(lab_ansible) == before
    assert not (tmp_path / 'awx-bad').exists()


def test_two_slices_one_after_the_other_trace_one_window_and_give_one_merged_report(app_guard, lab_ansible, tmp_path):
    """Issue 17: two slices of one incident, the second started 10 s after the first, given the same
    netdebug_window_start, trace the same interval of wall-clock time. node1 pings node2 from before the window
    until after it: each slice's node traced those pings (node1 at OUTPUT, node2 at PREROUTING), and only those
    inside the window (the rules' time match)."""
    slices = {'node1,node3': None, 'node2': None}
    start = int(time.time()) + 40
    window_start = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(start))

    def run_slice(limit):
        slices[limit] = lab_ansible.playbook('netdebug.netfilter.capture', limit=limit, timeout=600, extra_vars={
            'netdebug_incident_id': INCIDENT_SLICES, 'netdebug_duration': 12, 'netdebug_ttl_margin': 30,
            'netdebug_window_start': window_start,
            'netdebug_bundle_dir': str(tmp_path), 'netdebug_match': {'protocol': 'icmp', 'source': '198.18.0.1'}})

    workers = [threading.Thread(target=run_slice, args=(limit,)) for limit in list(slices)]
    workers[0].start()
    time.sleep(10)
    workers[1].start()
    time.sleep(max(0.0, start - 6 - time.time()))
    # from 6 s before the window until 6 s after it, 5 pings a second
    app_guard.exec('node1', ['ping', '-n', '-q', '-i', '0.2', '-w', '24', '198.18.0.2'], timeout=40)
    for worker in workers:
        worker.join(700)
    for limit, res in slices.items():
        assert res is not None and res.rc == 0, (limit, res)

    incident_dir = tmp_path / INCIDENT_SLICES
    parts = sorted(name for name in os.listdir(incident_dir) if name.startswith('manifest.'))
    assert len(parts) == 2 and 'manifest.json' not in parts, parts
    part_hosts = sorted(sorted(load_json(incident_dir / name)['hosts']) for name in parts)
    assert part_hosts == [['node1', 'node3'], ['node2']]
    report = load_json(incident_dir / 'report.json')
    assert sorted(report['hosts']) == list(NODES)  # both slices' hosts, whichever slice reported last
    assert any(p['host'] == 'node2' and p['verdict'] == 'drop' and p['verdict_rule']['chain'] == 'app-guard'
               for p in report['packets'])
    # One window for both slices, on every host. Each slice's node traced the pings of the whole window and none of
    # the 6 s before or after it: 12 s at 5 a second is 60 of the 120 pings (the lab's iptables-nft monitor lines
    # carry no time of their own, so the count says it).
    windows = {host: entry['window'] for name in parts for host, entry in load_json(incident_dir / name)['hosts'].items()}
    assert all((w['start'], w['end'], w['late']) == (start, start + 12, 0) for w in windows.values()), windows
    echoes = {}
    for packet in report['packets']:
        echoes[packet['host']] = echoes.get(packet['host'], 0) + 1
    assert 57 <= echoes.get('node1', 0) <= 62 and 57 <= echoes.get('node2', 0) <= 62, echoes
    assert not [name for name in os.listdir(incident_dir) if name.startswith('.incoming')]
