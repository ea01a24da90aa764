# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Other agents' hooks in a ruleset: Calico, kube-proxy, Docker, Cilium.

Such agents re-insert their jumps at the top of the chains they hook, so a rule of ours can end up below one, and
a verdict in their chains can hide the packet from us. A hook is a rule in a chain the agent does not own that
jumps (or goes) to a chain it owns; in nftables also a base chain of a table the agent owns.
Pure functions over model.Ruleset.
"""

from __future__ import annotations

# (agent, how its chain names start); 'DOCKER' alone is Docker's own chain too.
CHAIN_PREFIXES = (
    ('calico', 'cali-'),
    ('kube-proxy', 'KUBE-'),
    ('docker', 'DOCKER-'),
    ('cilium', 'CILIUM_'),
)
CHAIN_NAMES = {'DOCKER': 'docker'}
# nftables tables that belong to an agent as a whole (kube-proxy's nftables mode).
TABLE_NAMES = {'kube-proxy': 'kube-proxy'}


def chain_agent(name):
    """The agent that owns a chain called name, or None."""
    if name in CHAIN_NAMES:
        return CHAIN_NAMES[name]
    for agent, prefix in CHAIN_PREFIXES:
        if name.startswith(prefix):
            return agent
    return None


def _owner(table, chain_name):
    return TABLE_NAMES.get(table.name) or chain_agent(chain_name)


def _hook(backend, table, chain, agent, kind, rule=None, target=None):
    return {
        'backend': backend,
        'family': table.family,
        'table': table.name,
        'chain': chain.name,
        'agent': agent,
        'kind': kind,
        'position': rule.position if rule else None,
        'handle': rule.handle if rule else chain.handle,
        'target': target,
        'rule': rule.text if rule else None,
        'hook': chain.hook,
        'priority': chain.priority,
    }


def foreign_hooks(ruleset, backend, table=None, chain=None):
    """List of hook dicts (see RETURN of netfilter_info), optionally only for one table and/or chain name.

    backend names where the ruleset came from (legacy, nf_tables, nftables) and is copied into each entry.
    """
    hooks = []
    for tbl in ruleset.tables:
        if table is not None and tbl.name != table:
            continue
        table_agent = TABLE_NAMES.get(tbl.name)
        for chn in tbl.chains.values():
            if chain is not None and chn.name != chain:
                continue
            if table_agent and chn.is_base:
                hooks.append(_hook(backend, tbl, chn, table_agent, 'base_chain'))
            owner = _owner(tbl, chn.name)
            for rule in chn.rules:
                for target in rule.jumps:
                    agent = _owner(tbl, target)
                    if agent is not None and agent != owner:
                        hooks.append(_hook(backend, tbl, chn, agent, 'jump', rule, target))
    return hooks


def agents(hooks):
    """Sorted names of the agents seen in hooks."""
    return sorted(set(hook['agent'] for hook in hooks))
