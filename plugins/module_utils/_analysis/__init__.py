# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's analysis on the controller, in order: parse the trace lines (parse, kernel, nft_monitor,
xtables_monitor, fields, events, timestamps), group packets and their paths (paths), resolve rules (resolve),
correlate across nodes (correlate), join the kernel's drops (kernel_drops), read conntrack (conntrack_entries), name
Kubernetes objects (kubernetes, k8s_objects), and write the findings (findings, words); build runs it all.
"""
