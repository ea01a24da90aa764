# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k8s_objects filter (documentation in k8s_objects.yml); the reading lives in module_utils/_analysis."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.k8s_objects import load
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError


def k8s_objects(path, name='netdebug_k8s_objects'):
    """A file of `kubectl get ... -o json` output -> what it holds: {'file', 'pods', 'services', 'policies'}."""
    try:
        objects = load(str(path), param=name)
    except ParameterError as exc:
        raise AnsibleFilterError(str(exc))
    return dict(objects.counts, file=objects.source)


class FilterModule:
    def filters(self):
        return {'k8s_objects': k8s_objects}
