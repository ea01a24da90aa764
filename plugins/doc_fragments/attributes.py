# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attribute descriptions shared by the collection's modules.

Use the base fragment plus the parts that fit, then set the support level in the module when it differs:
  extends_documentation_fragment:
    - netdebug.netfilter.attributes           # describes check_mode, diff_mode, platform
    - netdebug.netfilter.attributes.info_module   # or .check_mode_full / .diff_mode_full for modules that change things
    - netdebug.netfilter.attributes.linux
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Whether the module can run with C(--check). It then changes nothing on the node and reports what it would
        have changed.
  diff_mode:
    description:
      - Whether the module returns a C(diff) with C(--diff), showing what it changed (or, with C(--check), would
        change).
  platform:
    description:
      - The kind of node the module can manage.
"""

    # Read-only modules: nothing to change, so check mode is the normal run and there is nothing to diff.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; it behaves the same with and without C(--check) and always reports unchanged.
  diff_mode:
    support: N/A
    details:
      - The module only reads, so there is no difference to show.
"""

    CHECK_MODE_FULL = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - With C(--check) nothing on the node changes; the result says what a real run would change.
"""

    DIFF_MODE_FULL = r"""
options: {}
attributes:
  diff_mode:
    support: full
    details:
      - The diff lists what was (or, with C(--check), would be) added and removed.
"""

    LINUX = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: linux
    details:
      - Linux nodes with netfilter; the tools the module drives are listed under requirements.
"""
