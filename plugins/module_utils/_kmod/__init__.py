# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel modules: the modules.dep index (index, parsers) and loading and unloading them (kmod).
"""
