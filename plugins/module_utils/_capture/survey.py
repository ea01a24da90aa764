# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capture inputs given as plain strings (AWX surveys answer with strings only), turned into the values the roles use.

A string is read exactly as the roles' argument specs read it (Ansible's check_type_dict / check_type_list), so
what passes validation is what the capture uses."""

from __future__ import annotations

from ansible.module_utils.common.validation import check_type_dict, check_type_list

# netdebug_match keys whose values are lists (iptables_trace's list options).
LIST_KEYS = ('ctstate', 'match_extra')


class SurveyInputError(ValueError):
    """An input string cannot be read; the message names the variable and the accepted forms."""


def match_dict(value, name='netdebug_match'):
    """A dict, a JSON object string, or key=value pairs (space or comma separated, quote values holding either) ->
    a dict whose list keys are lists; an empty string or None is {}."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if not isinstance(value, dict):
        if not isinstance(value, str):
            raise SurveyInputError('%s must be a dictionary, a JSON object string or key=value pairs, got %s'
                                   % (name, type(value).__name__))
        try:
            value = check_type_dict(value.strip())
        except TypeError as exc:
            raise SurveyInputError('%s: %s. Give a JSON object such as {"protocol": "tcp", "destination_port": "443"} '
                                   'or key=value pairs such as protocol=tcp destination_port=443 '
                                   '(quote a value that holds spaces or commas: ctstate="NEW,ESTABLISHED")'
                                   % (name, exc))
        if not isinstance(value, dict):
            raise SurveyInputError('%s must be a JSON object or key=value pairs, got %r' % (name, value))
    result = dict(value)
    for key in LIST_KEYS:
        if isinstance(result.get(key), str):
            result[key] = check_type_list(result[key])
    return result
