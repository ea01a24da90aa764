# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's drop reasons: the skb:kfree_skb event's format and parsers (reasons), the run's tracefs
instance (instance) and conntrack's counters at the start and the stop (conntrack_counters).
"""
