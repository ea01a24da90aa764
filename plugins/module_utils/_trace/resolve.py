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

from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.errors import ParseError
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import parse_save, rule_target
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import parse_nft, rule_text

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
_SAVE_FAMILIES = {'ip': 'ipv4', 'ip6': 'ipv6'}


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
        self.nft = {(t.family, t.name): t for t in nft.tables} if nft is not None else {}
        self.names = sorted(files)
        self._later = {}
        self._handles = {}

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

    def later_filter_hooks(self, fmt, family, hook):
        """Would a packet accepted at `hook` still meet a (non-nat) chain later on this host?"""
        key = (fmt, family, hook)
        if key not in self._later:
            self._later[key] = self._later_filter_hooks(fmt, family, hook)
        return self._later[key]

    def _later_filter_hooks(self, fmt, family, hook):
        later = {'prerouting': ('input', 'forward'), 'forward': ('postrouting',), 'output': ('postrouting',)}
        hooks = later.get(hook, ())
        if not hooks:
            return False
        if fmt == 'kernel':
            tables = self.legacy.get(family, {})
            names = [c for c, h in BUILTIN_HOOKS.items() if h in hooks]
            return any(name in t.chains for name_t, t in tables.items() if name_t != 'nat' for name in names)
        families = (family, 'inet') if family in ('ip', 'ip6') else (family,)
        return any(chain.hook in hooks and chain.chain_type != 'nat'
                   for (fam, _name), table in self.nft.items() if fam in families for chain in table.chains.values())


def _step(table, chain, kind, rulenum, handle, rule, target, effect, family, resolved, note=None):
    return {'table': table, 'chain': chain, 'kind': kind, 'rulenum': rulenum, 'handle': handle, 'rule': rule,
            'target': target, 'effect': effect, 'family': family, 'resolved': resolved, 'note': note, 'hook': None,
            'chain_type': None, 'base_chain': False}


class Resolver:
    """Turns step keys (see paths.step_key) into step dicts, cached: a capture repeats the same steps."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self._cache = {}

    def resolve(self, key, hook):
        cache_key = (key, hook)
        step = self._cache.get(cache_key)
        if step is None:
            fmt = key[0]
            if fmt == 'kernel':
                step = self._legacy(*key[1:6])
            elif fmt == 'xtables-monitor':
                step = self._xtables(*key[1:])
            else:
                step = self._nft(*key[1:])
            base_hook = self.chain_hook(fmt, key[1], key[2], key[3])
            step['hook'] = base_hook or hook
            step['base_chain'] = base_hook is not None
            step['chain_type'] = self.chain_type(fmt, key[1], key[2], key[3])
            self._cache[cache_key] = step
        return step

    def chain_hook(self, fmt, family, table, chain):
        """The hook of a base chain, None for a user chain."""
        if fmt in ('kernel', 'xtables-monitor'):
            return BUILTIN_HOOKS.get(chain)
        base = self.snapshot.nft_chain(family, table, chain)
        return base.hook if base else None

    def chain_type(self, fmt, family, table, chain):
        """filter, nat, route (the nf_tables chain type); legacy tables: nat for the nat table."""
        if fmt in ('kernel', 'xtables-monitor'):
            return 'nat' if table == 'nat' else 'filter'
        base = self.snapshot.nft_chain(family, table, chain)
        return base.chain_type if base else None

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
