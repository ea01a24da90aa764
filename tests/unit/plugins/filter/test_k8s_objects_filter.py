# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k8s_objects filter: the capture's first play checks netdebug_k8s_objects with it."""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netdebug.netfilter.plugins.filter.k8s_objects import k8s_objects


def test_counts_what_the_file_holds(tmp_path):
    path = tmp_path / 'objects.json'
    path.write_text(json.dumps({'kind': 'List', 'items': [
        {'kind': 'Service', 'metadata': {'namespace': 'ns1', 'name': 'svc1'}, 'spec': {'clusterIP': '172.30.0.41'}}]}))
    assert k8s_objects(str(path)) == {'file': str(path), 'pods': 0, 'services': 1, 'policies': 0}


@pytest.mark.parametrize('content, problem', [(None, 'cannot read'), ('{', 'is not JSON')])
def test_a_bad_file_names_the_variable(tmp_path, content, problem):
    path = tmp_path / 'objects.json'
    if content is not None:
        path.write_text(content)
    with pytest.raises(AnsibleFilterError) as err:
        k8s_objects(str(path))
    assert str(err.value).startswith('netdebug_k8s_objects: ') and problem in str(err.value)
