# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pyroute2, the project's netlink library: an external requirement on the managed node.

Only the request encoder (nfct_msg) and the namespace helper are imported; importing pyroute2's high-level
Conntrack API would pull in far more than a module run needs.
"""

from __future__ import annotations

import traceback

try:
    # re-exported for netns.py and request users
    from pyroute2 import netns as pyroute2_netns  # pylint: disable=unused-import
    from pyroute2.netlink.nfnetlink.nfctsocket import nfct_msg  # pylint: disable=unused-import
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
    nfct_msg = None  # pylint: disable=invalid-name
    pyroute2_netns = None  # pylint: disable=invalid-name
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

DEBIAN_PACKAGE = 'python3-pyroute2'
PIP_NAME = 'pyroute2'
