# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering the analysed report from Jinja2 templates (templates, context): Markdown (report_md), HTML (report_html)
with its path drawings (report_svg) and timeline (report_timeline), and writing the files (report_write).
"""
