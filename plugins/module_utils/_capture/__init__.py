# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning a capture on the controller: the operator's variables (variables, limits), the window in wall-clock time
(window), node clocks (clock), which hosts need their kernel log (kernel_log), the progress line (progress) and
the AWX survey (survey).
"""
