# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage a node's part of a bundle in a directory and pack it into one checksummed tar.gz."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle.digest import sha256_file
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import DEFAULT_ROOT, runs_dir


def safe_rel(rel):
    """A relative path that stays inside the archive: not absolute, no '..', no empty part."""
    if not isinstance(rel, str):
        return False
    parts = rel.split('/')
    return bool(rel) and not rel.startswith('/') and '..' not in parts and '' not in parts


def check_path(param, rel):
    if not safe_rel(rel):
        raise ParameterError(param, '%r is not a relative path inside the archive (no leading /, no .., no empty '
                                    'part such as a doubled or trailing /)' % (rel,))


def render_text(content):
    """A text member as written: a str as is, anything else as sorted, indented JSON with a final newline."""
    return content if isinstance(content, str) else json.dumps(content, indent=2, sort_keys=True) + '\n'


def write_texts(root, texts):
    for rel, content in sorted(texts.items()):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(render_text(content))


def _copy_file(src, root, dest):
    path = os.path.join(root, dest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copyfile(src, path)


def _tree_files(src):
    """(path, relative path) of the regular files under directory src, in sorted order; symlinks not followed."""
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(full).st_mode):
                yield full, os.path.relpath(full, src)


def copy_items(root, copies, warnings):
    """Copy each {src, dest}: a file to dest, a directory's regular files under dest; a missing src warns."""
    for item in copies:
        src, dest = item['src'], item['dest']
        if os.path.isfile(src):
            _copy_file(src, root, dest)
        elif os.path.isdir(src):
            for full, rel in _tree_files(src):
                _copy_file(full, root, os.path.join(dest, rel))
        elif src.startswith(runs_dir(DEFAULT_ROOT) + os.sep):
            warnings.append('copies: %s is missing on the node: the node removes a run\'s files at the window\'s end '
                            'plus netdebug_ttl_margin, and the collect step came later (raise netdebug_ttl_margin '
                            'for a fleet this size)' % src)
        else:
            warnings.append('copies: %s is missing on the node' % src)


def list_files(root):
    """[{path, sha256, size}] of the staged files, sorted the way they are packed."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            files.append({'path': os.path.relpath(full, root), 'sha256': sha256_file(full),
                          'size': os.path.getsize(full)})
    return files


def pack(root, archive):
    """Pack the staged tree into archive (gzip tar of regular files only, in walk order); returns its files sorted
    by path.

    Written to archive.part and renamed, so an archive that exists is complete."""
    files = list_files(root)
    partial = archive + '.part'
    with tarfile.open(partial, 'w:gz') as tar:
        for item in files:
            tar.add(os.path.join(root, item['path']), arcname=item['path'], recursive=False)
    os.rename(partial, archive)
    return sorted(files, key=lambda item: item['path'])
