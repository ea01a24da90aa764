# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capture inputs given as survey strings: netdebug_match as JSON or key=value pairs."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netdebug.netfilter.plugins.filter.match_dict import FilterModule
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.survey import SurveyInputError, match_dict


@pytest.mark.parametrize('given, expected', [
    ({'protocol': 'icmp'}, {'protocol': 'icmp'}),
    ('', {}),
    ('  ', {}),
    (None, {}),
    ('{"protocol": "icmp", "source": "198.18.0.1"}', {'protocol': 'icmp', 'source': '198.18.0.1'}),
    ('protocol=tcp destination_port=443', {'protocol': 'tcp', 'destination_port': '443'}),
    ('protocol=icmp,source=198.18.0.1', {'protocol': 'icmp', 'source': '198.18.0.1'}),
    ('protocol=tcp ctstate="NEW,ESTABLISHED"', {'protocol': 'tcp', 'ctstate': ['NEW', 'ESTABLISHED']}),
    ('{"ctstate": "NEW", "match_extra": ["-m", "length", "--length", "0:100"]}',
     {'ctstate': ['NEW'], 'match_extra': ['-m', 'length', '--length', '0:100']}),
])
def test_match_dict_reads_every_form(given, expected):
    assert match_dict(given) == expected


@pytest.mark.parametrize('given', ['protocol', 'protocol=tcp source', '{"protocol": ', 42])
def test_match_dict_names_the_variable_and_the_forms(given):
    with pytest.raises(SurveyInputError, match='^netdebug_match') as info:
        match_dict(given)
    assert 'key=value' in str(info.value)


def test_filter_raises_a_filter_error():
    filt = FilterModule().filters()['match_dict']
    assert filt('protocol=udp') == {'protocol': 'udp'}
    with pytest.raises(AnsibleFilterError, match='netdebug_match'):
        filt('nonsense')


@pytest.mark.parametrize('given', ['{"protocol": "tcp", "destination_port": "443"}', 'protocol=tcp destination_port=443',
                                   'protocol=tcp ctstate="NEW,ESTABLISHED"'])
def test_what_the_argument_spec_accepts_is_what_the_filter_reads(given):
    """The roles' argument spec validates the raw string; the filter must read it the same way."""
    spec = {'netdebug_match': {'type': 'dict', 'options': {
        'protocol': {'type': 'str'}, 'destination_port': {'type': 'str'},
        'ctstate': {'type': 'list', 'elements': 'str'}}}}
    result = ArgumentSpecValidator(spec).validate({'netdebug_match': given})
    assert not result.error_messages
    assert result.validated_parameters['netdebug_match'] == dict(
        {'protocol': None, 'destination_port': None, 'ctstate': None}, **match_dict(given))


def test_argument_spec_names_the_variable_for_an_unreadable_string():
    spec = {'netdebug_match': {'type': 'dict', 'options': {'protocol': {'type': 'str'}}}}
    result = ArgumentSpecValidator(spec).validate({'netdebug_match': 'protocol'})
    assert 'netdebug_match' in ' '.join(result.error_messages)
    with pytest.raises(SurveyInputError):
        match_dict('protocol')
