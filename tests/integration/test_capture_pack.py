# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""capture_pack on a netns lab node over SSH: every part of a node's bundle in one call.

node2 runs the app-guard scenario (its -m conntrack rules make it track); node3's pings are accepted, so node2's
conntrack table holds their flow when the module runs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import time

from test_capture import app_guard, node_run  # noqa: F401 pylint: disable=unused-import

MODULE = 'netdebug.netfilter.capture_pack'
COPY_DIR = '/tmp/ndpack-test-ruleset'


def _members(content):
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(content))) as tar:
        assert all(member.isreg() for member in tar.getmembers())
        return dict((member.name, tar.extractfile(member).read()) for member in tar.getmembers())


def _check_listing(result, members):
    assert sorted(members) == [item['path'] for item in result['files']]
    for item in result['files']:
        data = members[item['path']]
        assert hashlib.sha256(data).hexdigest() == item['sha256'], item['path']
        assert len(data) == item['size'], item['path']


def _args(started):
    return {
        'texts': {'trace.json': {'run_id': 'pack-1', 'phase': 'done'}, 'notes/why.txt': 'pings from node3\n'},
        'copies': [{'src': COPY_DIR, 'dest': 'ruleset'}, {'src': '/tmp/ndpack-test-missing', 'dest': 'trace/x'}],
        'kernlog': {'source': 'dmesg', 'since': started - 5, 'until': time.time() + 5,
                    'patterns': ['TRACE:', 'nd:pack-1 ']},
        'conntrack': {'protocol': 'icmp', 'source': '198.18.0.3'},
        'facts': {'inventory_hostname': 'node2'},
    }


# app_guard is test_capture's fixture, taken as the tests' argument
# pylint: disable=redefined-outer-name


def test_capture_pack_bundles_every_part_inline(app_guard, lab_ansible):  # noqa: F811
    started = time.time()
    node_run(app_guard, 'node2', ['sh', '-c', 'rm -rf %s && mkdir -p %s/before && echo "{}" > %s/before.json && '
                                              'printf "*filter\\nCOMMIT\\n" > %s/before/iptables-nft.save'
                                  % ((COPY_DIR,) * 4)])
    try:
        node_run(app_guard, 'node3', ['ping', '-c', '2', '-i', '0.3', '198.18.0.2'])
        res = lab_ansible.module('node2', MODULE, _args(started))
        assert res.rc == 0, res
        result = res.by_host()['node2']
        checked = lab_ansible.module('node2', MODULE, _args(started), check=True)
        assert checked.rc == 0, checked
        check_result = checked.by_host()['node2']
    finally:
        node_run(app_guard, 'node2', ['rm', '-rf', COPY_DIR])

    assert result['changed'] is False and result['archive'] is None and result['problems'] == []
    assert result['pack_warnings'] == ['copies: /tmp/ndpack-test-missing is missing on the node']
    archive = base64.b64decode(result['content'])
    assert hashlib.sha256(archive).hexdigest() == result['sha256'] and len(archive) == result['size']
    members = _members(result['content'])
    _check_listing(result, members)
    assert sorted(members) == ['conntrack-stats.json', 'conntrack.json', 'facts.json', 'loggers.json',
                               'notes/why.txt', 'ruleset/before.json', 'ruleset/before/iptables-nft.save',
                               'trace.json', 'trace/kernel.log']
    assert members['notes/why.txt'] == b'pings from node3\n'
    assert members['trace.json'] == b'{\n  "phase": "done",\n  "run_id": "pack-1"\n}\n'
    assert members['ruleset/before/iptables-nft.save'] == b'*filter\nCOMMIT\n'

    conntrack = json.loads(members['conntrack.json'])
    assert conntrack['filter'] == {'protocol': 'icmp', 'source': '198.18.0.3'}
    assert conntrack['matched'] >= 1 and conntrack['truncated'] is False
    flows = [(e['protocol'], e['original']['source'], e['original']['destination']) for e in conntrack['entries']]
    assert ('icmp', '198.18.0.3', '198.18.0.2') in flows and set(flows) == {('icmp', '198.18.0.3', '198.18.0.2')}
    stats = json.loads(members['conntrack-stats.json'])
    assert stats['count'] >= 1 and 'counters' in stats and 'changed' not in stats
    loggers = json.loads(members['loggers.json'])
    assert 'loggers' in loggers and 'modules' in loggers and 'changed' not in loggers

    facts = json.loads(members['facts.json'])
    assert facts['inventory_hostname'] == 'node2'
    assert facts['hostname'] == node_run(app_guard, 'node2', ['hostname']).strip().split('.')[0]
    assert facts['kernel'] == node_run(app_guard, 'node2', ['uname', '-r']).strip()
    assert set(facts['python']) == {'major', 'minor', 'micro', 'releaselevel', 'serial'}
    assert abs(int(facts['date_time']['epoch']) - time.time()) < 120

    # check mode reads the same parts (the contents differ only in what changes by the moment: facts, counters)
    assert check_result['changed'] is False
    assert [item['path'] for item in check_result['files']] == [item['path'] for item in result['files']]
    _check_listing(check_result, _members(check_result['content']))


def test_capture_pack_keeps_a_large_archive_for_the_caller(app_guard, lab_ansible):  # noqa: F811
    res = lab_ansible.module('node2', MODULE, {'texts': {'a.txt': 'x'}, 'loggers': False, 'inline_max': 0})
    assert res.rc == 0, res
    result = res.by_host()['node2']
    assert result['content'] is None and result['changed'] is False
    archive = result['archive']
    directory = archive.rsplit('/', 1)[0]
    try:
        assert node_run(app_guard, 'node2', ['stat', '-c', '%a', directory]).strip() == '700'
        assert node_run(app_guard, 'node2', ['ls', directory]).split() == ['bundle.tar.gz']
        data = app_guard.exec('node2', ['cat', archive], timeout=30).stdout
        assert hashlib.sha256(data).hexdigest() == result['sha256'] and len(data) == result['size']
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert sorted(tar.getnames()) == ['a.txt', 'facts.json']
    finally:
        node_run(app_guard, 'node2', ['rm', '-rf', directory])


def test_capture_pack_removes_the_copied_run_files_only(netns_lab, lab_ansible):
    """A fake run directory on the node, of a run that still holds a rule: its ruleset and capture file go once
    packed; run.json and a /tmp file (also copied) stay, the /tmp one with a warning. (A finished run's directory
    goes as a whole: see test_capture.py.)"""
    run_id = 'pack-rm-%d-%d' % (os.getpid(), time.time())
    run_dir = '/run/netdebug/runs/' + run_id
    outside = '/tmp/ndpack-test-outside-' + run_id
    sources = [(run_dir + '/ruleset', 'ruleset'), (run_dir + '/nft.trace', 'trace/nft.trace'), (outside, 'outside')]
    args = {'loggers': False, 'remove_copied': True, 'copies': [{'src': src, 'dest': dest} for src, dest in sources]}
    node_run(netns_lab, 'node2', ['sh', '-c', 'mkdir -p {0}/ruleset/before && cat > {0}/run.json && '
                                              'printf "*filter\\nCOMMIT\\n" > {0}/ruleset/before/iptables-nft.save && '
                                              'printf "trace id 1\\n" > {0}/nft.trace && echo mine > {1}'
                                  .format(run_dir, outside)], data=b'{"rules": [{"chain": "PREROUTING"}]}\n')
    try:
        checked = lab_ansible.module('node2', MODULE, args, check=True)
        assert checked.rc == 0, checked
        after_check = node_run(netns_lab, 'node2', ['find', run_dir, outside]).split()
        res = lab_ansible.module('node2', MODULE, args)
        assert res.rc == 0, res
        after = node_run(netns_lab, 'node2', ['find', run_dir, outside]).split()
    finally:
        node_run(netns_lab, 'node2', ['rm', '-rf', run_dir, outside])

    warning = 'remove_copied: %s is not under /run/netdebug/runs; left in place' % outside
    for result in (checked.by_host()['node2'], res.by_host()['node2']):
        assert result['changed'] is True and result['removed'] == [run_dir + '/nft.trace', run_dir + '/ruleset']
        assert result['pack_warnings'] == [warning] and any(warning in w for w in result.get('warnings', []))
        members = _members(result['content'])
        _check_listing(result, members)
        assert sorted(members) == ['facts.json', 'outside', 'ruleset/before/iptables-nft.save', 'trace/nft.trace']
        assert (members['outside'], members['trace/nft.trace']) == (b'mine\n', b'trace id 1\n')
        assert members['ruleset/before/iptables-nft.save'] == b'*filter\nCOMMIT\n'
    assert sorted(after_check) == sorted([run_dir, run_dir + '/run.json', run_dir + '/nft.trace', run_dir + '/ruleset',
                                          run_dir + '/ruleset/before', run_dir + '/ruleset/before/iptables-nft.save',
                                          outside])
    assert sorted(after) == sorted([run_dir, run_dir + '/run.json', outside])
