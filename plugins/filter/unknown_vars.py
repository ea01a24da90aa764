# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unknown_vars filter (documentation in unknown_vars.yml); the comparison lives in module_utils/_capture."""

from __future__ import annotations

import functools
import glob
import os

import yaml

from ansible_collections.netdebug.netfilter.plugins.module_utils._capture.variables import (
    spec_checks, spec_options, spec_problems, unknown,
)

# The collection's roles, beside plugins/: their argument specs are the one list of the variables they take.
ROLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'roles')


@functools.lru_cache(maxsize=None)
def role_specs(roles_dir=ROLES_DIR):
    """The parsed meta/argument_specs.yml of every role of the collection, read once per controller process: the
    check play's two filters (and each evaluation of their templates) share them. Read only."""
    docs = []
    for path in sorted(glob.glob(os.path.join(roles_dir, '*', 'meta', 'argument_specs.yml'))):
        with open(path) as handle:
            docs.append(yaml.safe_load(handle))
    return tuple(docs)


def known_variables(roles_dir=ROLES_DIR):
    names = set()
    for doc in role_specs(roles_dir):
        names |= spec_options(doc)
    return names


def bad_vars(names, values):
    """netdebug_* names and their values (in the same order) -> one line per value the roles' argument specs
    refuse (type, choice, a key netdebug_match does not take), before any role starts."""
    return spec_problems(dict(zip(names, values)), spec_checks(role_specs()))


def unknown_vars(names, hostvars=None, hosts=None):
    """netdebug_* variable names -> one message per unknown name ("did you mean ..."). With hostvars and hosts, the
    names set for each of those hosts (inventory, host_vars, group_vars) too: query('varnames') in a run_once task
    sees the first host's only."""
    where = {}
    for host in hosts or []:
        for name in hostvars[host]:
            if name.startswith('netdebug_') and name not in names:
                where.setdefault(name, []).append(host)
    return unknown(list(names) + list(where), known_variables(), where)


class FilterModule:
    def filters(self):
        return {'unknown_vars': unknown_vars, 'bad_vars': bad_vars}
