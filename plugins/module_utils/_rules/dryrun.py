# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel dry run: insert the exact rule in a throwaway network namespace (``unshare --net``).

The kernel checks the rule there exactly as it would on the node (table, hook, match and target support,
option values), and the namespace, with everything in it, disappears when the command ends. Nothing on the
node's ruleset is touched, which ``iptables-restore --test`` cannot promise to check (it never reaches the
kernel) and a temporary chain on the node would not be safe.
"""

from __future__ import annotations

import sys

from . import iptables_backend, nftables_backend
from .errors import ParamError, RulesError
from .kmsg import KmsgReader

KERNEL_HINTS = ('x_tables', 'xt_', 'nf_tables', 'ip_tables', 'ip6_tables')

PROBE_TAG = 'netdebug:dry-run:0'


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
        return ([unshare, '--net', '--', node.tool('nft'), '-f', '-'],
                nftables_backend.dry_run_input(rule.table, rule.hook, rule.body, PROBE_TAG))
    restore = node.tool(iptables_backend.binary_name(rule.backend, rule.family, restore=True))
    if not restore:
        raise Unavailable('%s is not installed' % iptables_backend.binary_name(rule.backend, rule.family, True))
    return ([unshare, '--net', '--', restore, '-w', str(node.lock_wait), '--noflush'],
            iptables_backend.dry_run_input(rule.table, rule.chain, rule.args(PROBE_TAG), rule.hook is None))


def _kernel_reader():
    try:
        return KmsgReader()
    except OSError:
        return None


def check(node, rules, extra_given):
    """Raise when the kernel rejects one of the rules; returns False when no dry run was possible."""
    try:
        _probe(node)
        commands = [(rule, _command(node, rule)) for rule in rules]
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
