# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The match_dict filter (documentation in match_dict.yml); the reading lives in module_utils/_capture."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.survey import SurveyInputError
from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.survey import match_dict as _match_dict


def match_dict(value, name='netdebug_match'):
    """netdebug_match as a dict, a JSON object string or key=value pairs -> a dict."""
    try:
        return _match_dict(value, name=name)
    except SurveyInputError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {'match_dict': match_dict}
