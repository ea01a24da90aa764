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

from ansible_collections.netdebug.netfilter.plugins.module_utils._trace.rulesets import (
    clean_nft_rule, parse_iptables_save, parse_nft_ruleset, rule_target)

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

SNAPSHOT_NAMES = {
    'legacy': {'ip': ('iptables-legacy.save', 'iptables.save'), 'ip6': ('ip6tables-legacy.save', 'ip6tables.save')},
    'nft': ('nft.ruleset',),
}


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


class Snapshot:
    """Parsed ruleset snapshots of one host, from {file name: text}."""

    def __init__(self, files):
        self.legacy = {}
        for family, names in SNAPSHOT_NAMES['legacy'].items():
            for name in names:
                if name in files:
                    self.legacy[family] = parse_iptables_save(files[name])
                    break
        self.nft = parse_nft_ruleset(files['nft.ruleset']) if 'nft.ruleset' in files else {}
        self.names = sorted(files)
        self._later = {}

    def legacy_chains(self, family, table):
        return self.legacy.get(family, {}).get(table)

    def nft_chain(self, family, table, chain):
        return self.nft.get((family, table), {}).get(chain)

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
            return any(name in chains for table, chains in tables.items() if table != 'nat' for name in names)
        families = (family, 'inet') if family in ('ip', 'ip6') else (family,)
        for (fam, _table), chains in self.nft.items():
            if fam not in families:
                continue
            for chain in chains.values():
                if chain['hook'] in hooks and chain['type'] != 'nat':
                    return True
        return False


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
        return base['hook'] if base else None

    def chain_type(self, fmt, family, table, chain):
        """filter, nat, route (the nf_tables chain type); legacy tables: nat for the nat table."""
        if fmt in ('kernel', 'xtables-monitor'):
            return 'nat' if table == 'nat' else 'filter'
        base = self.snapshot.nft_chain(family, table, chain)
        return base['type'] if base else None

    def _legacy(self, family, table, chain, kind, num):
        chains = self.snapshot.legacy_chains(family, table)
        if chains is None or chain not in chains:
            effect = 'return' if kind == 'return' else 'unknown'
            return _step(table, chain, kind, num, None, None, None, effect, family, False,
                         'no iptables-save snapshot of this table and chain')
        rules = chains[chain]['rules']
        if num is not None and 1 <= num <= len(rules):
            rule = rules[num - 1]
            how, target = rule_target(rule)
            note = None
            if kind != 'rule':
                note = 'unconditional rule, reported by the kernel as %s' % kind
            return _step(table, chain, kind, num, None, rule, target, target_effect(target, how, chains), family,
                         True, note)
        if kind == 'return':
            return _step(table, chain, kind, num, None, None, None, 'return', family, True, 'end of chain')
        if kind == 'policy':
            policy = chains[chain]['policy']
            rule = '-P %s %s' % (chain, policy) if policy else None
            return _step(table, chain, kind, num, None, rule, policy, target_effect(policy, None, None), family,
                         policy is not None)
        return _step(table, chain, kind, num, None, None, None, 'unknown', family, False,
                     'rule %s not in the snapshot (chain has %d rules)' % (num, len(rules)))

    def _xtables(self, family, table, chain, kind, rulenum, handle, verdict, target_chain, text):
        base = self.snapshot.nft_chain(family, table, chain)
        nft_rule = base['rules'].get(handle) if base is not None and handle is not None else None
        if kind == 'policy':
            policy = (verdict or '').upper() or None
            return _step(table, chain, kind, None, None, '-P %s %s' % (chain, policy) if policy else None, policy,
                         VERDICT_EFFECTS.get(verdict, 'unknown'), family, policy is not None)
        if kind == 'return':
            return _step(table, chain, kind, None, None, None, None, 'return', family, True, 'end of chain')
        rule = text if text and ' -A ' in ' ' + text else (nft_rule or text)
        how, target = rule_target(text) if text else (None, None)
        effect = VERDICT_EFFECTS.get(verdict, 'unknown')
        if effect == 'drop' and target == 'REJECT':
            effect = 'reject'
        if target is None:
            target = target_chain if verdict in ('jump', 'goto') else (verdict or '').upper() or None
        return _step(table, chain, kind, None, handle, rule, target, effect, family, bool(nft_rule or text))

    def _nft(self, family, table, chain, kind, rulenum, handle, verdict, target_chain, text):
        base = self.snapshot.nft_chain(family, table, chain)
        if kind == 'policy':
            return _step(table, chain, kind, None, None, 'policy %s' % verdict if verdict else None, verdict,
                         VERDICT_EFFECTS.get(verdict, 'unknown'), family, verdict is not None)
        if kind == 'return':
            return _step(table, chain, kind, None, None, None, None, 'return', family, True, 'end of chain')
        rule = None
        if base is not None:
            if handle is not None:
                rule = base['rules'].get(handle)
            elif text:  # nft monitor without -a prints no handle: find the rule by its text
                wanted = clean_nft_rule(text)
                for candidate, candidate_text in base['rules'].items():
                    if candidate_text == wanted:
                        handle, rule = candidate, candidate_text
                        break
        resolved = rule is not None
        rule = rule or text
        effect = VERDICT_EFFECTS.get(verdict, 'unknown')
        target = verdict
        if verdict in ('jump', 'goto') and target_chain:
            target = '%s %s' % (verdict, target_chain)
        if effect == 'drop' and rule and _REJECT.search(rule):
            effect = target = 'reject'
        return _step(table, chain, kind, None, handle, rule, target, effect, family, resolved)
