# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bundle, node and controller sides: its file names (layout), what a host packs (pack_args), the
controller's publish step (publish), the manifest and each host's status (manifest), checksums (digest), reading a
bundle (reader) and its summary (summary).
"""
