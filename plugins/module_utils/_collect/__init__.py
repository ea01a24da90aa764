# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collect step on the node: what capture_pack reads (reads, kernlog, facts, copied) and packs into the
host's archive (pack, node).
"""
