# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``duration``: present, wait, absent in one call, returning the TRACE lines seen meanwhile."""

from __future__ import annotations

import os
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import monitor
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.backends import choose
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.engine import absent, present
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.kmsg import KmsgReader
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import run_dir


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def trace_for(node, req, duration, check_mode=False, sleep=time.sleep):
    """Returns (result, warnings); result['lines'] holds the kernel-log and monitor lines of the window."""
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 1 or duration >= req.ttl:
        raise ParamError('duration', '%r must be at least 1 second and shorter than ttl (%d): raise ttl if the '
                                     'window must be longer' % (duration, req.ttl))
    if check_mode:
        return present(node, req, check_mode=True)
    backends, _variant = choose(node, req.backend, need_both_on_mixed=True)
    path = run_dir(node.root, req.run_id)
    offsets = dict((b, _size(monitor.capture_file(path, b))) for b in backends if b in ('nft', 'nftables'))
    warnings = []
    kernel = None
    if 'legacy' in backends:
        try:
            kernel = KmsgReader()
        except OSError as exc:
            warnings.append('cannot read the kernel log (%s): legacy TRACE lines are not returned' % exc)
    result, more = present(node, req)
    warnings += more
    try:
        sleep(duration)
    finally:
        stopped, more = absent(node, req.run_id, lock_timeout=req.lock_timeout, record_rulesets=req.record)
        warnings += more
    lines = {'kernel_log': kernel.read() if kernel else []}
    if kernel:
        kernel.close()
    for backend, offset in offsets.items():
        lines[backend] = monitor.read_capture(monitor.capture_file(path, backend), offset)
    kept = ('record_dir', 'ruleset_restored', 'monitors_died', 'monitors_restarted', 'monitors_truncated', 'packets')
    result.update(dict((k, stopped[k]) for k in kept),
                  recorded=sorted(set(result['recorded'] + stopped['recorded'])))
    result.update(changed=True, removed=stopped['removed'], trace_lines=lines,
                  lines=[line for key in sorted(lines) for line in lines[key]])
    return result, warnings
