# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel dry run: insert the exact rule in a throwaway network namespace (``unshare --net``).

The kernel checks the rule there exactly as it would on the node (table, hook, match and target support,
option values), and the namespace, with everything in it, disappears when the command ends. Nothing on the
node's ruleset is touched, which ``iptables-restore --test`` cannot promise to check (it never reaches the
kernel) and a temporary chain on the node would not be safe.

In the same namespace the rule is then listed back and compared with what the parameters allow: our tag as its
only comment and the module's own target. That is the check that no spelling of match_extra can get around,
because it reads the rule as the kernel holds it rather than the tokens that asked for it.
"""

from __future__ import annotations

import sys

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import iptables_backend, nftables_backend
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.backends import SAVE_TOOLS
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.desired import COUNT
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_parse import parse_rules
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.kmsg import KmsgReader
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nft_parse import parse_table_text

KERNEL_HINTS = ('x_tables', 'xt_', 'nf_tables', 'ip_tables', 'ip6_tables')

PROBE_TAG = 'netdebug:dry-run:0'
# Insert, then list the table back, in one throwaway namespace: "$1" and "$3" are the tools' paths (argv only).
IPTABLES_READBACK = '"$1" -w "$2" --noflush && exec "$3" -t "$4"'
NFT_READBACK = '"$1" -f - && exec "$1" -a list table "$2" "$3"'


class Unavailable(Exception):
    """The dry run cannot run here (no unshare, or no permission to create a network namespace)."""


def _probe(node):
    unshare = node.tool('unshare')
    if not unshare:
        raise Unavailable('unshare (util-linux) is not installed')
    result = node.runner.run([unshare, '--net', '--', sys.executable, '-c', ''], check=False)
    if result.rc != 0:
        raise Unavailable('unshare --net failed: %s' % (result.stderr.strip() or result.rc))


def _command(node, rule):
    unshare = node.tool('unshare')
    if rule.native:
        return ([unshare, '--net', '--', '/bin/sh', '-c', NFT_READBACK, 'netdebug-dry-run', node.tool('nft'),
                 nftables_backend.FAMILY, nftables_backend.TABLE],
                nftables_backend.dry_run_input(rule.table, rule.hook, rule.body, PROBE_TAG))
    names = (iptables_backend.binary_name(rule.backend, rule.family, restore=True),
             SAVE_TOOLS[(rule.backend, rule.family)])
    missing = [name for name in names if not node.tool(name)]
    if missing:
        raise Unavailable('%s is not installed' % ' and '.join(missing))
    return ([unshare, '--net', '--', '/bin/sh', '-c', IPTABLES_READBACK, 'netdebug-dry-run', node.tool(names[0]),
             str(node.lock_wait), node.tool(names[1]), rule.table],
            iptables_backend.dry_run_input(rule.table, rule.chain, rule.args(PROBE_TAG), rule.hook is None))


def readback_problem(rule, listing):
    """Why the rule as listed back is not the rule the parameters allow, or None when it is."""
    if rule.native:
        listed = [r for r in parse_table_text(listing) if r.tag is not None]
        if len(listed) != 1 or not rule.listed_as_asked(listed[0]):
            return 'it lists as %r' % ([r.text for r in listed],)
        return None
    listed = [r for r in parse_rules(listing) if r.tag is not None]
    if len(listed) != 1:
        return 'it lists as %d rules carrying the tag' % len(listed)
    if not rule.listed_as_asked(listed[0]):
        return 'it lists as %r (wanted our tag as the only comment, target %s, chain %s)' % (
            listed[0].line, rule.target_jump, rule.chain)
    return None


def _kernel_reader():
    try:
        return KmsgReader()
    except OSError:
        return None


def check(node, rules, extra_given):
    """Raise when the kernel rejects one of the rules; returns False when no dry run was possible."""
    try:
        _probe(node)
        commands = [(rule, _command(node, rule)) for rule in rules if rule.kind != COUNT]
    except Unavailable as exc:
        if extra_given:
            raise ParamError('match_extra', 'cannot be checked by the kernel before the change (%s); match_extra '
                                            'needs that dry run, leave it out on this node' % exc) from None
        return False
    for rule, (argv, data) in commands:
        kernel = _kernel_reader()
        result = node.runner.run(argv, data=data, check=False)
        if result.rc == 0:
            if kernel:
                kernel.close()
            problem = readback_problem(rule, result.stdout)
            if problem:
                raise ParamError('match_extra' if extra_given else 'match',
                                 'the rule for %s would not be only a match with our target and tag: %s; nothing was '
                                 'changed' % (rule.where(), problem))
            continue
        detail = (result.stderr or result.stdout).strip()
        if kernel:
            # iptables-legacy only says "line N failed"; the kernel logged the reason.
            reasons = kernel.read(KERNEL_HINTS)
            kernel.close()
            if reasons:
                detail += ' (kernel: %s)' % '; '.join(reasons)
        text = 'the kernel rejected the rule for %s in a dry run in a throwaway network namespace, so nothing was ' \
               'changed: %s' % (rule.where(), detail)
        if extra_given:
            raise ParamError('match_extra', text)
        raise RulesError(text, cmd=argv, rc=result.rc, stdout=result.stdout, stderr=result.stderr)
    return True
