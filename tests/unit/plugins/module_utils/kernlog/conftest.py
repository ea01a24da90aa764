# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the _kernlog unit tests: fixture files and a file system made of a dict."""

from __future__ import annotations

import fnmatch
import os
import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / 'fixtures' / 'kernlog'


def fixture_text(name):
    return (FIXTURES / name).read_text(encoding='utf-8')


class DictSource:
    """rsyslog_conf source over {path: text}; a directory is any prefix of a stored path."""

    def __init__(self, files):
        self.files = dict(files)

    def read(self, path):
        if path not in self.files:
            raise IOError(2, 'No such file or directory', path)
        return self.files[path]

    def glob(self, pattern):
        return sorted(p for p in self.files if fnmatch.fnmatchcase(p, pattern)
                      and os.path.dirname(p) == os.path.dirname(pattern))

    def isdir(self, path):
        prefix = path.rstrip('/') + '/'
        return any(p.startswith(prefix) for p in self.files)

    def listdir(self, path):
        prefix = path.rstrip('/') + '/'
        return sorted(p for p in self.files if p.startswith(prefix) and '/' not in p[len(prefix):])
