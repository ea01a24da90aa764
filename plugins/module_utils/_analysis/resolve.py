# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve trace steps against a host's ruleset snapshots: rule text, target and effect of every step.

Legacy kernel lines give a rule position (the Nth rule of the chain in iptables-save order); monitor lines give
an nf_tables handle (`nft -a list ruleset`). Two quirks of legacy TRACE are handled here: an unconditional rule
with a standard target (`-A chain -j ACCEPT`) is reported as `return:N` in a user chain and `policy:N` in a
built-in chain, so a `return`/`policy` number within the chain's rule count means that rule, and one past the
end means the real end of chain (implicit return, or the policy).
"""

from __future__ import annotations

import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.layout import LEGACY_NAMES_FILES
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParseError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.base_chains import (
    base_chain, chain_key, for_packet, iptables_base_chains, iptables_chain_type, is_xtables_table, legacy_priority,
    nft_base_chains,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import (
    LEGACY, NFTABLES, NFT_FAMILIES, NF_TABLES,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import parse_save, rule_target
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.model import Ruleset
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import parse_nft, rule_text
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nftables_backend import OWN_TABLE

BUILTIN_HOOKS = {'PREROUTING': 'prerouting', 'INPUT': 'input', 'FORWARD': 'forward', 'OUTPUT': 'output',
                 'POSTROUTING': 'postrouting'}

# Effects: accept, drop, reject, return, jump, goto, continue, queue, unknown.
TARGET_EFFECTS = {
    'ACCEPT': 'accept', 'DROP': 'drop', 'REJECT': 'reject', 'RETURN': 'return', 'QUEUE': 'queue',
    'NFQUEUE': 'queue', 'DNAT': 'accept', 'SNAT': 'accept', 'MASQUERADE': 'accept', 'REDIRECT': 'accept',
    'NETMAP': 'accept', 'TPROXY': 'accept', 'SYNPROXY': 'drop',
}
NON_TERMINAL = frozenset((
    'LOG', 'NFLOG', 'ULOG', 'TRACE', 'MARK', 'CONNMARK', 'CT', 'NOTRACK', 'TCPMSS', 'CLASSIFY', 'DSCP', 'TOS',
    'TTL', 'HL', 'SET', 'AUDIT', 'CHECKSUM', 'SECMARK', 'CONNSECMARK', 'TEE', 'IDLETIMER', 'LED', 'RATEEST',
    'HMARK', 'TCPOPTSTRIP', 'ECN', 'CLUSTERIP', 'NFLOG',
))
VERDICT_EFFECTS = {
    'accept': 'accept', 'drop': 'drop', 'continue': 'continue', 'jump': 'jump', 'goto': 'goto',
    'return': 'return', 'queue': 'queue', 'break': 'continue', 'stolen': 'drop', 'repeat': 'continue',
    'stop': 'drop',
}
_REJECT = re.compile(r'\breject\b')

# ruleset/ file names per snapshot kind and family (docs/bundle.md); the first one present is used
SNAPSHOT_NAMES = {
    'legacy': {'ip': ('iptables-legacy.save', 'iptables.save'), 'ip6': ('ip6tables-legacy.save', 'ip6tables.save')},
    'xtables': {'ip': ('iptables-nft.save',), 'ip6': ('ip6tables-nft.save',)},
    'nft': 'nft.ruleset',
}
_SAVE_FAMILIES = dict((nft, save) for save, nft in NFT_FAMILIES.items())  # ip -> ipv4, ip6 -> ipv6


def target_effect(target, how, chains):
    if target is None:
        return 'continue'
    if chains is not None and target in chains:
        return how or 'jump'
    if target in TARGET_EFFECTS:
        return TARGET_EFFECTS[target]
    if target in NON_TERMINAL:
        return 'continue'
    return 'unknown'


def _save_line(rule):
    """The rule as iptables-save prints it: '-A chain spec'."""
    return ('-A %s %s' % (rule.chain, rule.text)).rstrip()


class Snapshot:
    """Parsed ruleset snapshots of one host, from {file name: text} (the collection's ruleset parsers).

    A file that does not parse is left out and named in `errors`: its steps then stay unresolved.
    """

    def __init__(self, files):
        self.errors = []
        self.legacy = self._saves(files, SNAPSHOT_NAMES['legacy'])
        self.xtables = self._saves(files, SNAPSHOT_NAMES['xtables'])
        name = SNAPSHOT_NAMES['nft']
        nft = self._parse(parse_nft, files[name], 'ruleset/' + name) if name in files else None
        self.nft_ruleset = nft
        self.nft = {(t.family, t.name): t for t in nft.tables} if nft is not None else {}
        self.names = sorted(files)
        self._handles = {}
        self._for_family = {}
        self.base_chains = self._base_chains()
        # legacy tables the kernel holds (ip_tables_names) without a legacy save to show their chains
        self.legacy_unseen = {}
        for family, save_family in _SAVE_FAMILIES.items():
            loaded = (files.get(LEGACY_NAMES_FILES[save_family]) or '').split()
            if loaded and family not in self.legacy:
                self.legacy_unseen[family] = sorted(loaded)
        self.base_index = {chain_key(c): c for c in self.base_chains}

    def _parse(self, parser, text, source, *args):
        try:
            return parser(text, *args, source=source)
        except ParseError as exc:
            self.errors.append('%s; its steps are not resolved against it' % exc)
            return None

    def _saves(self, files, names_by_family):
        """{family: {table name: Table}} of the first snapshot file present per family."""
        saves = {}
        for family, names in names_by_family.items():
            name = next((n for n in names if n in files), None)
            if name is not None:
                ruleset = self._parse(parse_save, files[name], 'ruleset/' + name, _SAVE_FAMILIES[family])
                if ruleset is not None:
                    saves[family] = {table.name: table for table in ruleset.tables}
        return saves

    def legacy_chains(self, family, table):
        """{chain name: Chain} of a legacy table, or None."""
        found = self.legacy.get(family, {}).get(table)
        return found.chains if found is not None else None

    def nft_chain(self, family, table, chain):
        found = self.nft.get((family, table))
        return found.chains.get(chain) if found is not None else None

    def nft_rule(self, family, table, chain, handle):
        """The Rule with that handle in an nft chain, or None."""
        key = (family, table, chain)
        rules = self._handles.get(key)
        if rules is None:
            base = self.nft_chain(family, table, chain)
            rules = self._handles[key] = {r.handle: r for r in base.rules} if base is not None else {}
        return rules.get(handle)

    def xtables_position(self, family, table, chain, text):
        """The rule number of an xtables-monitor rule text ('-4 -t filter -A chain ...') in iptables-nft-save,
        or None when the snapshot lacks it or holds the same rule twice."""
        found = self.xtables.get(family, {}).get(table)
        base = found.chains.get(chain) if found is not None else None
        if base is None or not text:
            return None
        spec = text[text.find('-A %s' % chain):]
        positions = [r.position for r in base.rules if _save_line(r) == spec]
        return positions[0] if len(positions) == 1 else None

    def unseen(self, family):
        """Why the chains of some backend are not known for packets of family (None: all families), or None; an
        accept cannot be backed then."""
        if not self.base_chains or self.errors:  # none, or one that did not parse (its chains are unknown)
            return 'no usable ruleset snapshot: whether a later chain could still drop it is not known'
        families = ('ip', 'ip6') if family is None else (family,)
        for fam in families:
            if fam in self.legacy_unseen:
                return 'the kernel holds iptables-legacy tables (%s) but no iptables-legacy save was recorded, so ' \
                    'their chains are not known' % ', '.join(self.legacy_unseen[fam])
        return None

    def chains_for(self, family):
        """Base chains (base_chains dicts, all backends) that an IP packet of family meets; ours is left out: it
        only sets nftrace, it never decides."""
        found = self._for_family.get(family)
        if found is None:
            found = self._for_family[family] = for_packet(
                [c for c in self.base_chains if (c['family'], c['table']) != OWN_TABLE], family)
        return found

    def _base_chains(self):
        chains = []
        for family, tables in self.legacy.items():
            chains.extend(iptables_base_chains(Ruleset(list(tables.values())), family, LEGACY))
        if self.nft_ruleset is not None:
            chains.extend(nft_base_chains(self.nft_ruleset))
        else:  # no nft listing: iptables-nft's own save, which may list built-in chains the kernel lacks
            for family, tables in self.xtables.items():
                chains.extend(iptables_base_chains(Ruleset(list(tables.values())), family, NF_TABLES))
        return chains


def step_backend(fmt, family, table):
    """legacy for kernel lines; for monitor lines nf_tables (a table iptables-nft made) or nftables (native)."""
    if fmt == 'kernel':
        return LEGACY
    return NF_TABLES if is_xtables_table(family, table) else NFTABLES


def _step(table, chain, kind, rulenum, handle, rule, target, effect, family, resolved, note=None):
    return {'table': table, 'chain': chain, 'kind': kind, 'rulenum': rulenum, 'handle': handle, 'rule': rule,
            'target': target, 'effect': effect, 'family': family, 'resolved': resolved, 'note': note, 'hook': None,
            'chain_type': None, 'base_chain': False, 'backend': None, 'priority': None, 'base': None, 'k8s': None}


class Resolver:
    """Turns step keys (see paths.step_key) into step dicts, cached: a capture repeats the same steps. namer:
    names the Kubernetes object behind a step (kubernetes.Namer), or None."""

    def __init__(self, snapshot, namer=None):
        self.snapshot = snapshot
        self.namer = namer
        self._cache = {}

    def resolve(self, key, previous=None):
        """The step dict of key; previous: the step before it on the packet's path (a user chain inherits the
        hook, priority and base chain of the base chain that led to it)."""
        inherited = (previous['hook'], previous['priority'], previous['base'], previous['chain_type']) \
            if previous is not None else (None, None, None, None)
        cache_key = (key, inherited)
        step = self._cache.get(cache_key)
        if step is None:
            fmt = key[0]
            if fmt == 'kernel':
                step = self._legacy(*key[1:6])
            elif fmt == 'xtables-monitor':
                step = self._xtables(*key[1:])
            else:
                step = self._nft(*key[1:])
            step['backend'] = backend = step_backend(fmt, key[1], key[2])
            base = self.base_chain(backend, key[1], key[2], key[3])
            if base is not None:
                step['hook'], step['priority'], step['chain_type'] = base['hook'], base['priority'], base['type']
                step['base'] = chain_key(base)
                step['base_chain'] = True
            else:
                step['hook'], step['priority'], step['base'], step['chain_type'] = inherited
                if step['chain_type'] is None and backend != NFTABLES:
                    step['chain_type'] = iptables_chain_type(key[2])
            if step['rule'] is None and step['note'] is None:  # every step has its rule text or says why not
                step['note'] = self._why_no_text(fmt, key)
            if self.namer is not None:
                step['k8s'] = self.namer.name(step)
            self._cache[cache_key] = step
        return step

    def _why_no_text(self, fmt, key):
        family, table, chain = key[1], key[2], key[3]
        snapshot = 'iptables-legacy-save' if fmt == 'kernel' else 'nft -a list ruleset'
        if fmt == 'kernel':
            held = self.snapshot.legacy_chains(family, table) is not None
        else:
            held = self.snapshot.nft_chain(family, table, chain) is not None
        if not held:
            return 'the %s snapshot has no %s %s/%s, and the trace line has no rule text' % (
                snapshot, family, table, chain)
        return 'the trace line has no rule text and the %s snapshot has no rule at this place (the ruleset changed ' \
            'during the capture?)' % snapshot

    def base_chain(self, backend, family, table, chain):
        """The base_chains dict of a base chain, None for a user chain. Built-in iptables chains count as base
        chains even when the snapshot lacks their table (priority from the table's name)."""
        found = self.snapshot.base_index.get((backend, family, table, chain))
        if found is None and backend != NFTABLES and chain in BUILTIN_HOOKS:
            hook = BUILTIN_HOOKS[chain]
            found = base_chain(backend, family, table, chain, hook, legacy_priority(table, hook),
                               iptables_chain_type(table), None, table != 'nat')
        return found

    def _legacy(self, family, table, chain, kind, num):
        chains = self.snapshot.legacy_chains(family, table)
        if chains is None or chain not in chains:
            effect = 'return' if kind == 'return' else 'unknown'
            return _step(table, chain, kind, num, None, None, None, effect, family, False,
                         'no iptables-save snapshot of this table and chain')
        rules = chains[chain].rules
        if num is not None and 1 <= num <= len(rules):
            rule = rules[num - 1]
            note = None
            if kind != 'rule':
                note = 'unconditional rule, reported by the kernel as %s' % kind
            effect = target_effect(rule.target, 'goto' if rule.goto else 'jump', chains)
            return _step(table, chain, kind, num, None, _save_line(rule), rule.target, effect, family, True, note)
        if kind == 'return':
            return _step(table, chain, kind, num, None, None, None, 'return', family, True, 'end of chain')
        if kind == 'policy':
            policy = chains[chain].policy
            rule = '-P %s %s' % (chain, policy) if policy else None
            return _step(table, chain, kind, num, None, rule, policy, target_effect(policy, None, None), family,
                         policy is not None)
        return _step(table, chain, kind, num, None, None, None, 'unknown', family, False,
                     'rule %s not in the snapshot (chain has %d rules)' % (num, len(rules)))

    def _xtables(self, family, table, chain, kind, rulenum, handle, verdict, target_chain, text):
        if kind == 'policy':
            policy = (verdict or '').upper() or None
            return _step(table, chain, kind, None, None, '-P %s %s' % (chain, policy) if policy else None, policy,
                         VERDICT_EFFECTS.get(verdict, 'unknown'), family, policy is not None)
        if kind == 'return':
            return _step(table, chain, kind, None, None, None, None, 'return', family, True, 'end of chain')
        nft_rule = self.snapshot.nft_rule(family, table, chain, handle) if handle is not None else None
        full_text = bool(text) and ' -A ' in ' ' + text  # xtables-monitor cuts rules it cannot print
        rule = text if full_text else (nft_rule.text if nft_rule else text)
        if nft_rule is not None:
            rulenum = nft_rule.position
        elif full_text:
            rulenum = self.snapshot.xtables_position(family, table, chain, text)
        target, goto = rule_target(text) if text else (None, False)
        effect = VERDICT_EFFECTS.get(verdict, 'unknown')
        if effect == 'drop' and target == 'REJECT':
            effect = 'reject'
        if target is None:
            target = target_chain if verdict in ('jump', 'goto') else (verdict or '').upper() or None
        return _step(table, chain, kind, rulenum, handle, rule, target, effect, family, bool(nft_rule or text))

    def _nft(self, family, table, chain, kind, rulenum, handle, verdict, target_chain, text):
        if kind == 'policy':
            return _step(table, chain, kind, None, None, 'policy %s' % verdict if verdict else None, verdict,
                         VERDICT_EFFECTS.get(verdict, 'unknown'), family, verdict is not None)
        if kind == 'return':
            return _step(table, chain, kind, None, None, None, None, 'return', family, True, 'end of chain')
        found = None
        if handle is not None:
            found = self.snapshot.nft_rule(family, table, chain, handle)
        elif text:  # nft monitor without -a prints no handle: find the rule by its text
            base = self.snapshot.nft_chain(family, table, chain)
            wanted = rule_text(text)
            found = next((r for r in base.rules if r.text == wanted), None) if base is not None else None
        rule = found.text if found is not None else text
        effect = VERDICT_EFFECTS.get(verdict, 'unknown')
        target = verdict
        if verdict in ('jump', 'goto') and target_chain:
            target = '%s %s' % (verdict, target_chain)
        if effect == 'drop' and rule and _REJECT.search(rule):
            effect = target = 'reject'
        return _step(table, chain, kind, found.position if found else None, found.handle if found else handle, rule,
                     target, effect, family, found is not None)
