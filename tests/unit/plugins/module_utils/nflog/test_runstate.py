# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run records: what each run changed and needs, releasing, handing over, refusing conflicts."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._kmod.errors import KmodError
from ansible_collections.netdebug.netfilter.plugins.module_utils._nflog import runstate

V4 = 'net/netfilter/nf_log/2'
V6 = 'net/netfilter/nf_log/10'


def record(run_id, netns=1, needs=None, changed=None, modules_needed=(), loaded=(), at=100.0):
    rec = runstate.new_record(run_id, netns, now=at)
    return runstate.merge(rec, needs or {}, list(modules_needed), changed or {}, list(loaded), now=at)


def test_merge_keeps_the_first_before_value():
    rec = record('a', needs={V4: 'nf_log_ipv4'}, changed={V4: {'before': 'NONE', 'after': 'nf_log_ipv4'}},
                 loaded=['xt_LOG'])
    runstate.merge(rec, {V4: 'nf_log_ipv4'}, ['xt_LOG'], {V4: {'before': 'nf_log_ipv4', 'after': 'x'}}, ['xt_LOG'])
    assert rec['changed']['sysctls'][V4]['before'] == 'NONE'
    assert rec['changed']['modules'] == ['xt_LOG']


def test_release_alone_restores_and_unloads():
    rec = record('a', needs={V4: 'nf_log_ipv4'}, changed={V4: {'before': 'NONE', 'after': 'nf_log_ipv4'}},
                 modules_needed=['xt_LOG'], loaded=['nf_log_syslog', 'xt_LOG'])
    plan = runstate.plan_release(rec, [], {V4: 'nf_log_ipv4'}, {'nf_log_syslog', 'xt_LOG', 'x_tables'})
    assert plan == {'restore': {V4: 'NONE'}, 'handover': [], 'unload': ['nf_log_syslog', 'xt_LOG'], 'kept': {}}


def test_release_hands_over_to_a_run_that_still_needs_it():
    mine = record('a', needs={V4: 'nf_log_ipv4', V6: 'nf_log_ipv6'},
                  changed={V4: {'before': 'NONE', 'after': 'nf_log_ipv4'},
                           V6: {'before': 'NONE', 'after': 'nf_log_ipv6'}},
                  modules_needed=['xt_LOG'], loaded=['xt_LOG'], at=100.0)
    other_ns = record('c', netns=2, modules_needed=['xt_LOG'], at=300.0)
    theirs = record('b', needs={V4: 'nf_log_ipv4'}, at=200.0)
    plan = runstate.plan_release(mine, [theirs, other_ns], {V4: 'nf_log_ipv4', V6: 'nf_log_ipv6'}, {'xt_LOG'})
    assert plan['restore'] == {V6: 'NONE'}
    assert plan['unload'] == []  # a run in another namespace still needs the module: modules are kernel-wide
    assert plan['kept'] == {V4: 'still needed by run b', 'xt_LOG': 'still needed by run c'}
    for heir, kind, key, change in plan['handover']:
        runstate.apply_handover(heir, kind, key, change)
    assert theirs['changed']['sysctls'][V4] == {'before': 'NONE', 'after': 'nf_log_ipv4', 'at': 100.0}
    assert other_ns['changed']['modules'] == ['xt_LOG']
    # Now b, released last, puts back the original value.
    assert runstate.plan_release(theirs, [], {V4: 'nf_log_ipv4'}, set())['restore'] == {V4: 'NONE'}


def test_value_changed_by_someone_else_is_left_alone():
    rec = record('a', changed={V4: {'before': 'NONE', 'after': 'nf_log_ipv4'}}, loaded=['xt_LOG'])
    plan = runstate.plan_release(rec, [], {V4: 'nfnetlink_log'}, set())
    assert plan['restore'] == {} and plan['unload'] == []  # xt_LOG is no longer loaded: nothing to unload
    assert 'changed by something else' in plan['kept'][V4]


def test_conflicting_needs_are_refused():
    other = record('a', needs={V4: 'nf_log_ipv4'})
    with pytest.raises(KmodError, match=r'net\.netfilter\.nf_log\.2 must stay nf_log_ipv4 while run a is active'):
        runstate.check_conflicts('b', 1, {V4: 'nfnetlink_log'}, [other])
    runstate.check_conflicts('b', 1, {V4: 'nf_log_ipv4'}, [other])       # same value: fine
    runstate.check_conflicts('b', 2, {V4: 'nfnetlink_log'}, [other])     # another namespace: fine
    runstate.check_conflicts('a', 1, {V4: 'nfnetlink_log'}, [other])     # the run itself: fine


def test_store_roundtrip(tmp_path):
    store = runstate.StateStore(str(tmp_path / 'state'))
    assert store.records() == []
    with store.locked():
        store.save(record('b', at=2.0))
        store.save(record('a', netns=7, at=1.0))
    assert [(r['run_id'], r['netns']) for r in store.records()] == [('a', 7), ('b', 1)]
    assert sorted(os.listdir(str(tmp_path / 'state'))) == ['.lock', 'a@net7.json', 'b@net1.json']
    store.delete(store.records()[0])
    assert [r['run_id'] for r in store.records()] == ['b']


def test_store_bad_record(tmp_path):
    (tmp_path / 'x@net1.json').write_text('{not json')
    with pytest.raises(KmodError, match='cannot read the run record'):
        runstate.StateStore(str(tmp_path)).records()


def test_locked_without_dir_and_no_create(tmp_path):
    store = runstate.StateStore(str(tmp_path / 'none'))
    with store.locked(create=False):
        pass
    assert not (tmp_path / 'none').exists()
