# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables / ip6tables, legacy or nf_tables variant: list a chain, insert, check, delete by exact spec.

Never a flush, never a restore into the node's ruleset: single-rule commands only, each through the runner's one
xtables path (ToolRunner.run_xtables: the lock wait bounded with ``-w``, a lock timeout raised with its remedy).
Stdlib only: the on-node reaper uses this too.
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import (
    BACKEND_VARIANTS, XTABLES_TABLES as TABLES, tool_name,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_parse import (
    parse_chains, parse_rules, tagged,
)

BUILTIN_CHAINS = {
    'raw': ('PREROUTING', 'OUTPUT'),
    'mangle': ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'),
    'nat': ('PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'),
    'filter': ('INPUT', 'FORWARD', 'OUTPUT'),
    'security': ('INPUT', 'FORWARD', 'OUTPUT'),
}
LEGACY_TABLE_NAMES = {'ipv4': '/proc/net/ip_tables_names', 'ipv6': '/proc/net/ip6_tables_names'}


def legacy_table_names(family):
    """The kernel's list of the legacy tables instantiated in this namespace (text, one name per line), or None
    when it cannot be read (no legacy x_tables for the family)."""
    try:
        with open(LEGACY_TABLE_NAMES[family], encoding='ascii', errors='replace') as handle:
            return handle.read()
    except OSError:
        return None


def binary_name(variant, family, restore=False):
    """The executable of a rules backend ('legacy' or 'nft') for family, or its restore command."""
    return tool_name(family, BACKEND_VARIANTS[variant], 'restore' if restore else '')


class IptablesBackend:
    """One (variant, family) pair, e.g. ('legacy', 'ipv6') -> ip6tables-legacy."""

    def __init__(self, runner, path, variant, family):
        self.runner = runner
        self.path = path
        self.variant = variant
        self.family = family

    @property
    def name(self):
        return binary_name(self.variant, self.family)

    def _run(self, table, args, check=True):
        return self.runner.run_xtables([self.path, '-t', table] + list(args), check=check)

    # -- reading ----------------------------------------------------------------------------------
    def list_chain(self, table, chain, counters=False):
        """Rules of one chain (with counters: each rule's packets too); ParamError('chain') when it does not
        exist."""
        if self.variant == 'legacy' and table not in self.present_tables():
            # Listing would instantiate the legacy table; not instantiated means empty built-ins, no user chains.
            if chain in BUILTIN_CHAINS.get(table, ()):
                return []
            raise ParamError('chain', '%s has no chain %s: table %s is not even in use in this network namespace'
                             % (self.name, chain, table))
        result = self._run(table, (['-v'] if counters else []) + ['-S', chain], check=False)
        if result.rc != 0:
            if not self.chain_exists(table, chain):
                raise ParamError('chain', '%s has no chain %s in table %s (variant %s): create it first or pick an '
                                          'existing chain' % (self.name, chain, table, self.variant))
            raise RulesError('%s -t %s -S %s failed: %s' % (self.name, table, chain, result.stderr.strip()),
                             cmd=result.cmd, rc=result.rc, stdout=result.stdout, stderr=result.stderr)
        return parse_rules(result.stdout)

    def chain_exists(self, table, chain):
        result = self._run(table, ['-S'], check=False)
        return result.rc == 0 and chain in parse_chains(result.stdout)

    def listing(self, table):
        """``-S`` of the whole table as the tool prints it (policies, chains, rules); rc non-zero when it failed."""
        return self._run(table, ['-S'], check=False)

    def present_tables(self):
        """Tables worth scanning: for legacy only those already instantiated (listing would create the others)."""
        if self.variant != 'legacy':
            return list(TABLES)
        names = (legacy_table_names(self.family) or '').split()
        return [t for t in TABLES if t in names]

    def list_table(self, table):
        result = self._run(table, ['-S'], check=False)
        if result.rc != 0:
            return []  # the table does not exist in this variant: nothing of ours can be in it
        return parse_rules(result.stdout)

    def exists(self, table, chain, args):
        """``-C``: is a rule with exactly these match/target arguments (comment included) in the chain?"""
        result = self._run(table, ['-C', chain] + list(args), check=False)
        if result.rc == 0:
            return True
        if result.rc == 1:
            return False
        raise RulesError('%s -C failed: %s' % (self.name, result.stderr.strip()), cmd=result.cmd, rc=result.rc,
                         stdout=result.stdout, stderr=result.stderr)

    def find_tagged(self, run_id, tables=None):
        """(table, ListedRule) for every rule of run_id ('*': any run) in the given or all present tables."""
        found = []
        for table in tables or self.present_tables():
            found += [(table, rule) for rule in tagged(self.list_table(table), run_id)]
        return found

    # -- writing ----------------------------------------------------------------------------------
    def insert(self, table, chain, position, args):
        """Insert at a 1-based position, or append for position 'bottom'."""
        if position == 'bottom':
            return self._run(table, ['-A', chain] + list(args))
        return self._run(table, ['-I', chain, str(position)] + list(args))

    def delete(self, table, rule):
        """Delete one listed rule by its exact spec; True if it was there."""
        result = self._run(table, rule.delete_args(), check=False)
        if result.rc == 0:
            return True
        if result.rc == 1 and not self.exists(table, rule.chain, rule.args):
            return False  # already gone (someone else removed it, or a reaper raced us)
        raise RulesError('%s -D failed: %s' % (self.name, result.stderr.strip()), cmd=result.cmd, rc=result.rc,
                         stdout=result.stdout, stderr=result.stderr)


def restore_line(tokens):
    """One iptables-restore line; tokens with blanks or quotes are double-quoted with backslash escapes."""
    out = []
    for token in tokens:
        if token and not any(ch in token for ch in ' \t"\'\\'):
            out.append(token)
        else:
            out.append('"%s"' % token.replace('\\', '\\\\').replace('"', '\\"'))
    return ' '.join(out)


def dry_run_input(table, chain, args, user_chain):
    """iptables-restore --noflush input that inserts one rule (declaring the user chain first if needed)."""
    lines = ['*%s' % table]
    if user_chain:
        lines.append(':%s - [0:0]' % chain)
    lines.append(restore_line(['-I', chain, '1'] + list(args)))
    lines.append('COMMIT')
    return '\n'.join(lines) + '\n'
