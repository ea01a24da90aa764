# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sha256 every bundle file and archive carries: one function for the node that packs, the controller that
publishes and the report that checks. Stdlib only (the collect role's publisher loads it by path)."""

from __future__ import annotations

import hashlib


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
