# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Native nftables: rules live only in our own table ``inet netdebug``; no other table is ever written.

Also removes the ``ip raw`` / ``ip6 raw`` table or base chain that iptables-nft created for our rules, when
it is empty again, so that the ruleset after a run equals the one before. Stdlib only (the reaper uses it).
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nft_parse import (
    parse_echo_handle, parse_table_json, parse_table_text,
)

FAMILY = 'inet'
TABLE = 'netdebug'
OWN_TABLE = (FAMILY, TABLE)
# Our chain runs just before the table it stands in for: raw is -300, so TRACE is set before any raw rule.
PRIORITY = {'raw': -310, 'mangle': -160, 'filter': -10, 'security': 40}
NAT_PRIORITY = {'PREROUTING': -110, 'OUTPUT': -110, 'INPUT': 90, 'POSTROUTING': 90}
XT_FAMILY = {'ipv4': 'ip', 'ipv6': 'ip6'}


def chain_name(table, hook):
    return '%s_%s' % (table, hook.lower())


def priority(table, hook):
    if table == 'nat':
        return NAT_PRIORITY[hook]
    return PRIORITY[table]


def chain_decl(table, hook):
    return 'add chain %s %s %s { type filter hook %s priority %d; policy accept; }' % (
        FAMILY, TABLE, chain_name(table, hook), hook.lower(), priority(table, hook))


def rule_text(words, tag):
    return '%s comment "%s"' % (' '.join(words), tag)


def dry_run_input(table, hook, words, tag):
    """nft -f input that builds our table with one rule (for a throwaway network namespace)."""
    return 'add table %s %s\n%s\nadd rule %s %s %s %s\n' % (
        FAMILY, TABLE, chain_decl(table, hook), FAMILY, TABLE, chain_name(table, hook), rule_text(words, tag))


class NftablesBackend:
    def __init__(self, runner, path):
        self.runner = runner
        self.path = path

    def _nft(self, args, data=None, check=True):
        return self.runner.run([self.path] + list(args), data=data, check=check)

    def table_exists(self):
        return self._nft(['list', 'table', FAMILY, TABLE], check=False).rc == 0

    def list_rules(self):
        """Every rule of our table (empty when the table does not exist)."""
        result = self._nft(['-a', 'list', 'table', FAMILY, TABLE], check=False)
        if result.rc != 0:
            return []
        return parse_table_text(result.stdout)

    def find_tagged(self, run_id):
        return [rule for rule in self.list_rules() if rule.tag is not None and rule.tag.belongs_to(run_id)]

    def ensure_chain(self, table, hook):
        if table not in PRIORITY and table != 'nat':
            raise ParamError('table', '%r cannot be used with backend nftables' % table)
        self._nft(['-f', '-'], data='add table %s %s\n%s\n' % (FAMILY, TABLE, chain_decl(table, hook)))

    def insert(self, table, hook, position, words, tag):
        """Add the rule to our chain; returns (handle, text as nft echoes it)."""
        chain = chain_name(table, hook)
        verb = 'add' if position == 'bottom' else 'insert'
        index = []
        if isinstance(position, int) and position > 1:
            count = len([r for r in self.list_rules() if r.chain == chain])
            if position - 1 < count:
                index = ['index', str(position - 1)]
            else:
                verb = 'add'
        result = self._nft(['--echo', '--handle', verb, 'rule', FAMILY, TABLE, chain] + index
                           + [rule_text(words, tag)])
        return parse_echo_handle(result.stdout)

    def delete(self, rule):
        result = self._nft(['delete', 'rule', FAMILY, TABLE, rule.chain, 'handle', str(rule.handle)], check=False)
        if result.rc == 0:
            return True
        if not any(r.handle == rule.handle for r in self.list_rules()):
            return False
        raise RulesError('nft delete rule failed: %s' % result.stderr.strip(), cmd=result.cmd, rc=result.rc,
                         stdout=result.stdout, stderr=result.stderr)

    def drop_table_if_empty(self):
        """Delete our own table once it holds no rule; True when deleted."""
        if not self.table_exists() or self.list_rules():
            return False
        self._nft(['delete', 'table', FAMILY, TABLE])
        return True

    # -- tables that iptables-nft created for us -------------------------------------------------
    def xt_snapshot(self, family, table):
        """{'chains': {...}, 'other': n} of an iptables-nft table, or None when it does not exist."""
        result = self._nft(['-j', 'list', 'table', XT_FAMILY[family], table], check=False)
        if result.rc != 0:
            return None
        return parse_table_json(result.stdout)

    def xt_missing(self, family, table, chain):
        """What inserting into (table, chain) with iptables-nft would create: {'table': bool, 'chains': [...]}."""
        snap = self.xt_snapshot(family, table)
        if snap is None:
            return {'table': True, 'chains': [chain]}
        return {'table': False, 'chains': [] if chain in snap['chains'] else [chain]}

    def xt_drop_created(self, family, table, created):
        """Delete the empty base chains (and the table) that our iptables-nft rules made; returns what went."""
        snap = self.xt_snapshot(family, table)
        if snap is None:
            return []
        chains = [c for c in created.get('chains', []) if c in snap['chains'] and snap['chains'][c]['rules'] == 0]
        others = [c for c in snap['chains'] if c not in chains]
        xt_family = XT_FAMILY[family]
        commands = ['delete chain %s %s %s' % (xt_family, table, c) for c in chains]
        gone = ['%s %s chain %s' % (xt_family, table, c) for c in chains]
        if created.get('table') and not others and snap['other'] == 0:
            commands.append('delete table %s %s' % (xt_family, table))
            gone.append('%s table %s' % (xt_family, table))
        if not commands:
            return []
        # One batch: if any chain got a rule meanwhile, its delete fails and nothing is deleted at all.
        result = self._nft(['-f', '-'], data='\n'.join(commands) + '\n', check=False)
        return gone if result.rc == 0 else []
