# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/survey.json, the AWX survey of the capture's job template (docs/awx.md, section 5): a survey specification as
AWX takes it, asking only variables the collection knows, with the limits the capture checks, and every answer AWX
can send for it passing the capture's own checks (as strings for text and choices, numbers for integers)."""

from __future__ import annotations

import json
import pathlib

import pytest

from ansible_collections.netdebug.netfilter.plugins.filter.match_dict import match_dict
from ansible_collections.netdebug.netfilter.plugins.filter.unknown_vars import bad_vars, known_variables
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture import limits
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import RUN_ID_MAX

ROOT = pathlib.Path(__file__).resolve().parents[3]
SURVEY = json.loads((ROOT / 'meta' / 'survey.json').read_text(encoding='utf-8'))
TYPES = ('text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect')
QUESTIONS = {q['variable']: q for q in SURVEY['spec']}
# A good answer for each question without a usable default.
ANSWERS = {'netdebug_incident_id': 'INC-42', 'netdebug_match': 'protocol=icmp source=198.18.0.1',
           'netdebug_window_start': '2026-12-06T14:00:00Z'}


def test_a_survey_specification_as_awx_takes_it():
    assert SURVEY['name'] and isinstance(SURVEY['description'], str) and SURVEY['spec']
    for question in SURVEY['spec']:
        assert {'question_name', 'variable', 'type', 'required', 'default'} <= set(question), question
        assert question['type'] in TYPES and isinstance(question['required'], bool)
        if question['type'] == 'multiplechoice':
            assert question['default'] in question['choices'], question
        if question['type'] in ('text', 'textarea', 'integer'):
            assert isinstance(question['min'], int) and isinstance(question['max'], int) and question['min'] <= question['max']
    assert len(QUESTIONS) == len(SURVEY['spec'])  # each variable asked once


def test_it_asks_only_variables_the_collection_knows():
    assert set(QUESTIONS) <= known_variables()


def test_its_limits_are_the_captures():
    assert (QUESTIONS['netdebug_incident_id']['min'], QUESTIONS['netdebug_incident_id']['max']) == (1, RUN_ID_MAX)
    assert (QUESTIONS['netdebug_duration']['min'], QUESTIONS['netdebug_duration']['max']) == (1, limits.DURATION_MAX)


def _answers():
    """Every answer AWX can send: each choice, the integer bounds, the defaults and the good answers above."""
    for name, question in QUESTIONS.items():
        if question['type'] == 'multiplechoice':
            for choice in question['choices']:
                yield name, choice
        elif question['type'] == 'integer':
            for value in (question['min'], question['max'], question['default']):
                yield name, value
        else:
            yield name, ANSWERS.get(name, question['default'])


@pytest.mark.parametrize('name, answer', list(_answers()))
def test_every_answer_passes_the_captures_checks(name, answer):
    given = dict((n, ANSWERS.get(n, q['default'])) for n, q in QUESTIONS.items())
    given[name] = answer
    assert bad_vars(list(given), list(given.values())) == []
    assert limits.problems(given['netdebug_incident_id'], given['netdebug_duration'], None, 0, 33554432) == []
    assert match_dict(given['netdebug_match']) == {'protocol': 'icmp', 'source': '198.18.0.1'}
