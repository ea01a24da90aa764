# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netdebug.netfilter.unknown_vars filter: a typo in a netdebug_* variable is named with the closest name."""

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.filter.unknown_vars import FilterModule, known_variables, unknown_vars
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.variables import (
    spec_checks, spec_options, spec_problems, unknown,
)


def test_registered_under_its_name():
    assert FilterModule().filters()['unknown_vars'] is unknown_vars


def test_known_variables_come_from_every_role_spec():
    known = known_variables()
    # one option of each role's spec, and of a second entry point (trace: validate shares main's options)
    for name in ('netdebug_duration', 'netdebug_match', 'netdebug_bundle_dir', 'netdebug_kernlog_path',
                 'netdebug_run_id', 'netdebug_trace_rate', 'netdebug_match_all'):
        assert name in known, name


@pytest.mark.parametrize('names, expected', [
    (['netdebug_duration', 'netdebug_match', 'netdebug_hosts', 'netdebug_trace', 'ansible_host'], []),
    # set_stats keys of an earlier capture in an AWX workflow arrive as extra variables
    (['netdebug_dropped', 'netdebug_summary', 'netdebug_verdicts', 'netdebug_bundle_path'], []),
    # facts of the kernlog role when prepare (or a capture) ran earlier in the same command
    (['netdebug_kernlog_created', 'netdebug_kernlog_log_created', 'netdebug_kernlog_keep'], []),
    (['netdebug_capture_max_bytes', 'netdebug_kernlog_remove_log'], []),
    (['netdebug_duraton'], ['netdebug_duraton: unknown; did you mean netdebug_duration?']),
    (['netdebug_incident'], ['netdebug_incident: unknown; did you mean netdebug_incident_id?']),
    (['netdebug_zzz'], ['netdebug_zzz: unknown; see docs/capture.md for the variables']),
    (['netdebug_matchh', 'netdebug_duration', 'netdebug_matchh'],
     ['netdebug_matchh: unknown; did you mean netdebug_match?']),
])
def test_unknown_vars(names, expected):
    assert unknown_vars(names) == expected


def test_spec_options_reads_every_entry_point():
    doc = {'argument_specs': {'main': {'options': {'netdebug_a': {}}}, 'other': {'options': {'netdebug_b': {}}},
                              'empty': {}}}
    assert spec_options(doc) == {'netdebug_a', 'netdebug_b'}
    assert spec_options(None) == set()
    assert unknown(['netdebug_b'], spec_options(doc)) == []


def test_names_set_for_other_hosts_only_are_checked_and_name_their_hosts():
    """A run_once check sees the first host's variables through varnames; host_vars of the others come through
    hostvars, and an unknown name there says for which hosts it is set."""
    hostvars = {'node1': {'netdebug_duration': 5, 'ansible_host': 'a'},
                'node2': {'netdebug_duration': 5, 'netdebug_duraton': 5},
                'node3': {'netdebug_duraton': 5, 'netdebug_ttl_margn': 30}}
    assert unknown_vars(['netdebug_duration'], hostvars, ['node1', 'node2', 'node3']) == [
        'netdebug_duraton: unknown (set for node2, node3); did you mean netdebug_duration?',
        'netdebug_ttl_margn: unknown (set for node3); did you mean netdebug_ttl_margin?']
    # a name the first host has too is reported without hosts, once
    assert unknown_vars(['netdebug_duraton'], hostvars, ['node2']) == [
        'netdebug_duraton: unknown; did you mean netdebug_duration?']


@pytest.mark.parametrize('values, expected', [
    ({'netdebug_backend': 'iptables'},
     ['value of netdebug_backend must be one of: auto, legacy, nft, nftables, got: iptables']),
    ({'netdebug_match': {'proto': 'icmp'}}, ['unknown key: netdebug_match.proto. Supported parameters include: ctstate, '
                                             'destination, destination_port, icmp_type, in_interface, ip_version, mark, '
                                             'match_extra, out_interface, protocol, source, source_port, uid_owner']),
    ({'netdebug_match': {'ip_version': 'ipv5'}},
     ['value of ip_version must be one of: ipv4, ipv6, both, got: ipv5 found in netdebug_match']),
    ({'netdebug_duration': 'soon'}, ["argument 'netdebug_duration' is of type str and we were unable to convert to "
                                     "int: \"'soon'\" cannot be converted to an int"]),
    # what passes: inventory strings, a survey's key=value match, names no role takes (unknown_vars says those)
    ({'netdebug_duration': '30', 'netdebug_match': 'protocol=icmp source=198.18.0.1', 'netdebug_trace': {},
      'netdebug_duraton': 5}, []),
])
def test_bad_values_in_one_line_each(values, expected):
    bad = FilterModule().filters()['bad_vars']
    assert bad(list(values), list(values.values())) == expected


def test_a_variable_several_roles_take_is_checked_by_its_fullest_definition():
    checks = spec_checks([{'argument_specs': {'main': {'options': {'netdebug_match': {'type': 'dict'}}}}},
                          {'argument_specs': {'main': {'options': {'netdebug_match': {
                              'type': 'dict', 'default': {}, 'description': 'x',
                              'options': {'protocol': {'type': 'str', 'description': 'y'}}}}}}},
                          {'argument_specs': {'main': {'options': {'netdebug_match': {'type': 'dict'}}}}}])
    assert checks == {'netdebug_match': {'type': 'dict', 'options': {'protocol': {'type': 'str'}}}}
    assert spec_problems({'netdebug_match': {'protocol': 'icmp'}}, checks) == []


def test_a_bad_survey_match_is_said_once():
    bad = FilterModule().filters()['bad_vars']
    assert bad(['netdebug_match'], ['protocol']) == [
        "argument 'netdebug_match' is of type str and we were unable to convert to dict: dictionary requested, could "
        "not parse JSON or key=value"]
