# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection tracking table access for conntrack_query: netlink dump decoding, kernel and Python filters, stats."""
