# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pause the cyclic garbage collector while building large acyclic results.

A capture turns into millions of small dicts and tuples that never form reference cycles; with the collector on,
each full collection walks all of them again, which made parsing and reporting several times slower. Reference
counting still frees everything; the collector's previous state is restored afterwards.
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
            gc.enable()
