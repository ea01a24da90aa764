# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pause the cyclic garbage collector while building large acyclic results.

A capture turns into millions of small dicts and tuples that never form reference cycles; with the collector on,
each full collection walks all of them again, which made parsing and reporting several times slower. Reference
counting still frees everything; the collector's previous state is restored afterwards, and what was built is
promoted to the oldest generation (full collections still see it; young ones need not walk it again).
"""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if not gc.get_freeze_count():  # never touch objects a caller froze on purpose
                # What was built is long-lived: unfreeze() puts it straight into the oldest generation, instead of
                # the young collection at the next allocation walking all of it (a fifth of a parse_trace call).
                gc.freeze()
                gc.unfreeze()
            gc.enable()
