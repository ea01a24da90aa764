# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netdebug.netfilter.parse_trace filter: plugin entry point, input checks, and through Jinja2 templating."""

from __future__ import annotations

import pathlib

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netdebug.netfilter.plugins.filter.parse_trace import FilterModule, parse_trace

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / 'fixtures' / 'trace'


def test_registered_under_its_name():
    assert FilterModule().filters()['parse_trace'] is parse_trace


def test_list_and_string_input_give_the_same_events():
    text = (FIXTURES / 'nftables' / 'node2' / 'trace' / 'nft-monitor.log').read_text()
    from_string = parse_trace(text, host='node2')
    from_list = parse_trace(text.splitlines(), host='node2')
    assert from_string == from_list and len(from_list) == 95
    assert {e['host'] for e in from_list} == {'node2'}
    assert [e['verdict'] for e in from_list if e['kind'] == 'policy'].count('drop') == 2


@pytest.mark.parametrize('data, message', [
    ({'stdout': 'x'}, 'expects a list of lines or one string of lines, got dict'),
    (42, 'got int'),
    (None, 'got NoneType'),
])
def test_bad_input_says_what_to_pass(data, message):
    with pytest.raises(AnsibleFilterError, match=message):
        parse_trace(data)


def test_bad_options():
    with pytest.raises(AnsibleFilterError, match='year must be a number'):
        parse_trace([], year='last')
    with pytest.raises(AnsibleFilterError, match='host must be a string'):
        parse_trace([], host=3)


def test_odd_list_elements_become_unparsed_events():
    events = parse_trace(['garbage', {'a': 1}, '[  5.0] TRACE: raw:OUTPUT:policy:1 IN= OUT=lo SRC=198.18.0.1 '])
    assert [e['kind'] for e in events] == ['unparsed', 'unparsed', 'policy']


def test_through_templating():
    """As a playbook uses it: {{ lines | netdebug.netfilter.parse_trace(host=...) }} on a real dmesg capture."""
    from ansible.template import Templar, trust_as_template  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    lines = (FIXTURES / 'legacy' / 'node2' / 'trace' / 'dmesg.log').read_text().splitlines()
    templar = Templar(loader=DataLoader(), variables={'lines': lines})
    templar.environment.filters['netdebug.netfilter.parse_trace'] = parse_trace
    events = templar.template(trust_as_template(
        "{{ lines | netdebug.netfilter.parse_trace(host='node2') "
        "| selectattr('kind', 'equalto', 'policy') | map(attribute='chain') | list }}"))
    assert events[:2] == ['PREROUTING', 'PREROUTING'] and 'INPUT' in events
