# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering the analysed report: Markdown (report_md), HTML (report_html) with its path drawing (report_svg),
and writing the files (report_write).
"""
