# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging and packing a node's part of a bundle (moved here from the collect role's netdebug_pack.py)."""

from __future__ import annotations

import hashlib
import os
import tarfile

import pytest

from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import pack
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError


@pytest.mark.parametrize('rel, ok', [
    ('facts.json', True),
    ('ruleset/before/iptables-nft.save', True),
    ('trace/..x', True),
    ('../x', False),
    ('/etc/passwd', False),
    ('a/../../b', False),
    ('a//b', False),
    ('a/', False),
    ('', False),
    (None, False),
    (3, False),
])
def test_safe_rel(rel, ok):
    assert pack.safe_rel(rel) is ok


def test_check_path_names_the_option():
    with pytest.raises(ParameterError) as caught:
        pack.check_path('texts', '../x')
    assert caught.value.param == 'texts' and caught.value.msg.startswith("texts: '../x' is not a relative path")


@pytest.mark.parametrize('content, written', [
    ('*filter\nCOMMIT\n', '*filter\nCOMMIT\n'),
    ('', ''),
    ({'b': 1, 'a': [1, 2]}, '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'),
    ([], '[]\n'),
    (None, 'null\n'),
    (7, '7\n'),
])
def test_render_text(content, written):
    assert pack.render_text(content) == written


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _dirs, files in os.walk(root) for f in files)


def test_copy_items_copies_files_and_directory_trees_and_warns_for_missing(tmp_path):
    src = tmp_path / 'run' / 'ruleset'
    (src / 'before').mkdir(parents=True)
    (src / 'before.json').write_text('{}\n')
    (src / 'before' / 'iptables-nft.save').write_text('*filter\nCOMMIT\n')
    (src / 'nft.ruleset').write_text('table inet t {\n}\n')
    (src / 'link').symlink_to('/etc/hostname')  # not followed: only regular files
    capture = tmp_path / 'run' / 'nft.trace'
    capture.write_text('trace id 1\n')
    root = tmp_path / 'stage'
    root.mkdir()
    warnings = []
    pack.copy_items(str(root), [{'src': str(src), 'dest': 'ruleset'},
                                {'src': str(capture), 'dest': 'trace/nft.trace'},
                                {'src': str(tmp_path / 'missing'), 'dest': 'trace/x'}], warnings)
    assert _tree(root) == ['ruleset/before.json', 'ruleset/before/iptables-nft.save', 'ruleset/nft.ruleset',
                           'trace/nft.trace']
    assert (root / 'ruleset' / 'before' / 'iptables-nft.save').read_text() == '*filter\nCOMMIT\n'
    assert warnings == ['copies: %s is missing on the node' % (tmp_path / 'missing')]


def test_copy_items_says_why_a_runs_file_is_missing(tmp_path):
    """A run's files are removed by the node at the window's end plus the margin: a collect after that says so."""
    warnings = []
    gone = '/run/netdebug/runs/netdebug-unit-test-none/nft.trace'
    pack.copy_items(str(tmp_path), [{'src': gone, 'dest': 'trace/nft.trace'}], warnings)
    assert len(warnings) == 1 and warnings[0].startswith('copies: %s is missing on the node: ' % gone)
    assert 'raise netdebug_ttl_margin' in warnings[0]


def test_pack_lists_checksums_and_packs_regular_files_in_walk_order(tmp_path):
    root = tmp_path / 'stage'
    pack.write_texts(str(root), {'z.json': {'k': 1}, 'ruleset/iptables-nft.save': '*filter\nCOMMIT\n',
                                 'a/b/c.txt': 'deep'})
    archive = str(tmp_path / 'bundle.tar.gz')
    files = pack.pack(str(root), archive)
    assert [item['path'] for item in files] == ['a/b/c.txt', 'ruleset/iptables-nft.save', 'z.json']
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ['z.json', 'a/b/c.txt', 'ruleset/iptables-nft.save']
        assert all(m.isreg() for m in members)
        for item in files:
            data = tar.extractfile(item['path']).read()
            assert hashlib.sha256(data).hexdigest() == item['sha256'] and len(data) == item['size']
    assert not os.path.exists(archive + '.part')
    assert pack.sha256_file(archive) == hashlib.sha256((tmp_path / 'bundle.tar.gz').read_bytes()).hexdigest()
