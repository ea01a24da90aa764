# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import tag
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError


@pytest.mark.parametrize('run_id', ['a', 'incident-42', 'run.2_x', 'A' * 32, '20261124T180512-a3f1', '...x'])
def test_valid_run_ids(run_id):
    assert tag.check_run_id(run_id) == run_id


@pytest.mark.parametrize('run_id', ['', 'a' * 33, 'has space', 'semi;colon', 'colon:x', 'slash/x', '.', '..', '*',
                                    'ünicode', None, 42])
def test_invalid_run_ids_name_the_parameter(run_id):
    with pytest.raises(ParamError) as err:
        tag.check_run_id(run_id)
    assert err.value.param == 'run_id'
    assert err.value.msg.startswith('run_id: ')
    assert '32' in err.value.msg


def test_star_only_where_allowed():
    assert tag.check_run_id('*', allow_all=True) == '*'
    with pytest.raises(ParamError, match="'\\*' for every run"):
        tag.check_run_id('bad id', allow_all=True)


def test_generated_run_id_is_valid_and_sortable():
    first = tag.generate_run_id(now=1795544000, rand='a3f1')
    assert first == '20261124T181320-a3f1'
    assert tag.check_run_id(tag.generate_run_id()) and first < tag.generate_run_id(now=1795544001, rand='0000')


@pytest.mark.parametrize('ttl', [1, 6, 300, 86400])
def test_ttl_in_range(ttl):
    assert tag.check_ttl(ttl) == ttl


@pytest.mark.parametrize('ttl', [0, -5, 86401, True, '300', 1.5, None])
def test_ttl_out_of_range(ttl):
    with pytest.raises(ParamError, match=r'^ttl: .*at most a day'):
        tag.check_ttl(ttl)


@pytest.mark.parametrize('comment, expected', [
    ('netdebug:run-1:1790000000', tag.Tag('run-1', 1790000000)),
    ('netdebug:run.2_x:1790000001', tag.Tag('run.2_x', 1790000001)),
    ('netdebug:%s:0' % ('x' * 32), tag.Tag('x' * 32, 0)),
    ('netdebug:not a tag', None),
    ('netdebug:run-1:', None),
    ('netdebug:run-1:12a', None),
    ('netdebug::1790000000', None),
    ('netdebug:%s:1' % ('x' * 33), None),
    ('xnetdebug:run:1', None),
    ('netdebug:run:1 ', None),
    ('cali:6gwbT8clXdHdC1b1', None),
    ('', None),
    (None, None),
])
def test_parse_tag(comment, expected):
    assert tag.parse_tag(comment) == expected


def test_tag_round_trip_and_membership():
    text = tag.make_tag('incident-42', 1795544030.7)
    assert text == 'netdebug:incident-42:1795544030'
    parsed = tag.parse_tag(text)
    assert parsed.text() == text
    assert parsed.belongs_to('incident-42') and parsed.belongs_to('*') and not parsed.belongs_to('incident-4')


@pytest.mark.parametrize('run_id', ['a', 'x' * 25, 'y' * 32])
def test_default_log_prefix_fits_the_kernel_limit(run_id):
    prefix = tag.default_log_prefix(run_id)
    assert prefix.startswith('nd:') and prefix.endswith(' ') and len(prefix) <= 29
