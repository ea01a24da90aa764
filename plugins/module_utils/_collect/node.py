# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""capture_pack's work on the node: check the input, read and stage every part, pack, hand the archive back.

Everything a bundle needs from the node happens in this one call, so a fleet capture costs one module run per
node instead of one per part (and usually no fetch: a small archive comes back inline, base64).
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import layout
from ansible_collections.netdebug.netfilter.plugins.module_utils._collect import copied, facts, kernlog, pack, reads
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError, ParameterError

ARCHIVE_NAME = 'bundle.tar.gz'
KERNEL_LOG = layout.KERNEL_LOG


def validate(params):
    """Check every option before the node is read; raises ParameterError naming the option."""
    texts = params.get('texts') or {}
    for rel in texts:
        pack.check_path('texts', rel)
    for index, item in enumerate(params.get('copies') or []):
        if not isinstance(item, dict) or set(item) != {'src', 'dest'}:
            raise ParameterError('copies', 'item %d must be a dict with exactly the keys src and dest, got %r'
                                 % (index, item))
        if not isinstance(item['src'], str) or not os.path.isabs(item['src']):
            raise ParameterError('copies', 'item %d: src must be an absolute path on the node, got %r'
                                 % (index, item['src']))
        pack.check_path('copies', item['dest'])
    spec = params.get('kernlog')
    if spec:
        _check_kernlog(spec)
        if KERNEL_LOG in texts:
            raise ParameterError('texts', '%s is written from the kernlog option; drop it from texts' % KERNEL_LOG)
    if params.get('conntrack') is not None:
        reads.check_conntrack(params['conntrack'])
    if (params.get('inline_max') or 0) < 0:
        raise ParameterError('inline_max', '%s is negative; 0 never inlines' % params['inline_max'])


def _check_kernlog(spec):
    if spec.get('source') in (None, 'none'):
        return
    for key in ('since', 'until'):
        if spec.get(key) is None:
            raise ParameterError('kernlog', '%s is required with source=%s (epoch seconds of the window)'
                                 % (key, spec['source']))
    if spec['since'] > spec['until']:
        raise ParameterError('kernlog', 'since (%s) is after until (%s)' % (spec['since'], spec['until']))
    if spec['source'] == 'rsyslog' and not spec.get('file'):
        raise ParameterError('kernlog', 'file is required with source=rsyslog (the file rsyslog writes the lines to)')


def _node_texts(params, runner, logger_manager, conntrack_run):
    """(texts the node reads itself: conntrack, loggers, facts; problems for the parts left out)."""
    problems = []
    texts = {}
    if params.get('conntrack') is not None:
        found, lost = reads.conntrack_files(params['conntrack'], run=conntrack_run, runner=runner)
        texts.update(found)
        problems += lost
    if params.get('loggers', True):
        found, lost = reads.logger_files(logger_manager())
        texts.update(found)
        problems += lost
    texts[layout.FACTS_JSON] = facts.gather(params.get('facts'))
    return texts, problems


def _kernel_log(spec, root, runner, warnings):
    path = os.path.join(root, KERNEL_LOG)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        kernlog.extract(spec, path, runner, warnings)
    except (OSError, NetdebugError) as exc:
        warnings.append('kernel log lines not collected: %s' % getattr(exc, 'msg', exc))


def stage(params, root, runner, logger_manager, conntrack_run=None):
    """Fill root with the node's part of the bundle; returns (warnings, problems).

    Order as the collect role's packer had it: texts (the node's reads, then the caller's, which win on a shared
    name), copies, then the kernel log window."""
    warnings = []
    texts, problems = _node_texts(params, runner, logger_manager, conntrack_run)
    texts.update(params.get('texts') or {})
    pack.write_texts(root, texts)
    pack.copy_items(root, params.get('copies') or [], warnings)
    if params.get('kernlog'):
        _kernel_log(params['kernlog'], root, runner, warnings)
    return warnings, problems


def run(params, runner, logger_manager, conntrack_run=None, tmpdir=None, check_mode=False):
    """(the module's result: files, sha256, size, content or archive, pack_warnings, problems, removed, changed;
    the warnings again, for module.warn).

    logger_manager() gives the NfLogManager that reads the logger state; conntrack_run replaces conntrack_query's
    run() (tests). tmpdir is where the private work directory is made (default: the system's).
    """
    validate(params)
    workdir = tempfile.mkdtemp(prefix='netdebug-pack-', dir=tmpdir)  # 0700: only root reads the bundle
    keep = False
    try:
        root = os.path.join(workdir, 'stage')
        os.mkdir(root, 0o700)
        warnings, problems = stage(params, root, runner, logger_manager, conntrack_run)
        archive = os.path.join(workdir, ARCHIVE_NAME)
        files = pack.pack(root, archive)
        shutil.rmtree(root)
        size = os.path.getsize(archive)
        result = {'changed': False, 'files': files, 'sha256': pack.sha256_file(archive), 'size': size,
                  'content': None, 'archive': None, 'pack_warnings': warnings, 'problems': problems, 'removed': []}
        if size <= (params.get('inline_max') or 0):
            with open(archive, 'rb') as handle:
                result['content'] = base64.b64encode(handle.read()).decode('ascii')
        else:
            result['archive'] = archive
            keep = True
        # Last: only a complete, checksummed archive may replace the sources it holds.
        if params.get('remove_copied'):
            result['removed'] = copied.remove_sources(params.get('copies') or [], check_mode, warnings)
            if not check_mode:
                copied.settle_runs(result['removed'], runner, warnings)
            result['changed'] = bool(result['removed'])
        return result, warnings
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
