# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unknown netdebug_* variables: a typo such as netdebug_duraton must stop the run, not run the default window.

Pure: the known names come from the roles' argument specs (read by the unknown_vars filter) and the lists below.
"""

from __future__ import annotations

import difflib
import re

# Variables the playbooks read themselves (not options of a role).
PLAYBOOK_VARS = ('netdebug_hosts', 'netdebug_bundle_part', 'netdebug_cleanup_kernlog')
# Facts the roles and playbooks set for the later plays (present with fact caching, or in a play after they ran).
ROLE_FACTS = ('netdebug_trace', 'netdebug_trace_check', 'netdebug_collect', 'netdebug_log_modules',
              'netdebug_kernlog_input', 'netdebug_kernlog_source', 'netdebug_kernlog_created',
              'netdebug_kernlog_log_created', 'netdebug_capture_phase', 'netdebug_capture_kernlog')
# What the playbooks publish with set_stats: AWX hands it to the next job of a workflow as extra variables.
STATS_KEYS = ('netdebug_bundle_path', 'netdebug_reports', 'netdebug_dropped', 'netdebug_drops', 'netdebug_verdicts',
              'netdebug_summary')
PREFIX = 'netdebug_'


def spec_options(spec_doc):
    """Option names of every entry point of one role's meta/argument_specs.yml (parsed)."""
    names = set()
    for entry in ((spec_doc or {}).get('argument_specs') or {}).values():
        names.update((entry or {}).get('options') or {})
    return names


def unknown(names, known, where=None):
    """One message per netdebug_* name that is not known, with the closest known name when there is one; where maps
    a name set for some hosts only to those hosts, named in its message."""
    known = set(known) | set(PLAYBOOK_VARS) | set(ROLE_FACTS) | set(STATS_KEYS)
    candidates = sorted(known)
    problems = []
    for name in sorted(set(names)):
        if not name.startswith(PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
        hint = '; did you mean %s?' % close[0] if close else '; see docs/capture.md for the variables'
        hosts = (where or {}).get(name)
        problems.append('%s: unknown%s%s' % (name, ' (set for %s)' % ', '.join(hosts) if hosts else '', hint))
    return problems


# What an argument spec option holds besides its checks.
_DOC_KEYS = ('description', 'version_added', 'default', 'required')


def _checks(option):
    """An argument spec option as ArgumentSpecValidator takes it: its checks, not its docs, default or required
    (only the values the user set are checked here; the roles fill in the rest)."""
    spec = dict((key, value) for key, value in option.items() if key not in _DOC_KEYS)
    if isinstance(spec.get('options'), dict):
        spec['options'] = dict((name, _checks(sub)) for name, sub in spec['options'].items())
    return spec


def spec_checks(spec_docs):
    """{variable: option checks} from the roles' parsed argument specs. A variable several roles take is checked by
    its fullest definition (a role that passes netdebug_match on gives it as a plain dict, the trace role with
    every key)."""
    checks = {}
    for doc in spec_docs:
        for entry in ((doc or {}).get('argument_specs') or {}).values():
            for name, option in ((entry or {}).get('options') or {}).items():
                found = _checks(option or {})
                if len(found.get('options') or {}) >= len((checks.get(name) or {}).get('options') or {}):
                    checks[name] = found
    return checks


def spec_problems(values, checks):
    """One line per problem of the variables the user set (values: {name: value}) against the roles' argument
    specs, as the roles would find them, but before any role starts and without the spec's whole text."""
    # controller side only
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.module_utils.errors import UnsupportedError

    given = dict((name, value) for name, value in values.items() if name in checks)
    spec = dict((name, checks[name]) for name in given)
    result = ArgumentSpecValidator(spec).validate(given)
    # one line each, without a full stop of its own: the caller joins them and ends the message
    lines = [('unknown key: ' if isinstance(error, UnsupportedError) else '') + ' '.join(str(error).split()).rstrip('.')
             for error in result.errors]
    return _one_per_problem(lines)


def _one_per_problem(lines):
    """The validator says some problems two or three times (a conversion error, then the same with the variable's
    name, then the type): keep one line per variable, the first that names it; a line that another one holds goes."""
    kept, named = [], set()
    for line in lines:
        if any(line != other and line in other for other in lines):
            continue
        names = set(_NAMED.findall(line))
        if names and names <= named:
            continue
        named |= names
        kept.append(line)
    return kept


_NAMED = re.compile(r"\bnetdebug_[a-z0-9_]+")
