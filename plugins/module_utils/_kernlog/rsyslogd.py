# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rsyslogd wrapper: validate the configuration that would result from a candidate drop-in.

``rsyslogd -N1 -f MAIN`` checks a whole configuration without starting anything. MAIN is a temporary copy of the
real main configuration in which the include that reads the drop-in's directory points at a temporary mirror of
that directory: the other files as symlinks, the candidate in place of the drop-in. So rsyslogd sees exactly the
configuration it would load after the change, in the same order, and the real files are never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.rsyslog_conf import expand_pattern, include_pattern


def plan_validation_tree(config, conf_path, source):
    """How to build the temporary tree: (rewrites, mirror_files, appended).

    rewrites: list of ((start, end), mirror_pattern_suffix) for include sites in the main file;
    mirror_files: files to symlink into the mirror directory (all but conf_path);
    appended: True when no include in the main file reads conf_path's directory, so the candidate is
    appended at the end instead (rsyslogd would not read it in place; the caller warns).
    """
    rewrites, mirror = [], []
    directory = os.path.dirname(conf_path)
    for stmt in config.statements:
        pattern = include_pattern(stmt)
        if stmt.path != config.main_path or not pattern or stmt.value_span is None:
            continue
        pattern_dir = pattern.rstrip('/') if pattern.endswith('/') else os.path.dirname(pattern)
        if pattern_dir != directory:
            continue
        suffix = '/' if pattern.endswith('/') else '/' + os.path.basename(pattern)
        rewrites.append((stmt.value_span, suffix))
        for path in expand_pattern(pattern, source):
            if path != conf_path and path not in mirror:
                mirror.append(path)
    return rewrites, mirror, not rewrites


def build_validation_tree(config, conf_path, candidate, source, workdir):
    """Write the temporary tree under workdir; returns (main config path, appended)."""
    rewrites, mirror, appended = plan_validation_tree(config, conf_path, source)
    mirror_dir = os.path.join(workdir, 'd')
    os.mkdir(mirror_dir, 0o700)
    for path in mirror:
        os.symlink(path, os.path.join(mirror_dir, os.path.basename(path)))
    candidate_path = os.path.join(mirror_dir, os.path.basename(conf_path))
    with open(candidate_path, 'w') as handle:
        handle.write(candidate)
    text = config.texts[config.main_path]
    for (start, end), suffix in sorted(rewrites, reverse=True):
        text = text[:start] + mirror_dir + suffix + text[end:]
    if appended:
        text += '\n# netdebug validation: the drop-in, which the configuration does not include\ninclude(file="%s")\n' \
            % candidate_path
    main_path = os.path.join(workdir, 'rsyslog.conf')
    with open(main_path, 'w') as handle:
        handle.write(text)
    return main_path, appended


class Rsyslogd:
    """rsyslogd on the node, through the collection's ToolRunner (argv lists, C locale)."""

    def __init__(self, runner):
        self.runner = runner
        self.path = runner.find('rsyslogd')

    def require(self):
        if not self.path:
            raise KernlogError('rsyslogd was not found on this node: install rsyslog (the netdebug.netfilter.kernlog '
                               'role does that with netdebug_install_packages=true) or read the kernel log from '
                               'the journal instead')
        return self.path

    def validate(self, config, conf_path, candidate, source):
        """Check the configuration with the candidate drop-in; returns (output, appended). Raises KernlogError
        with rsyslogd's own message when rsyslogd rejects it."""
        binary = self.require()
        workdir = tempfile.mkdtemp(prefix='netdebug-kernlog-')
        try:
            main_path, appended = build_validation_tree(config, conf_path, candidate, source, workdir)
            argv = [binary, '-N1', '-f', main_path]
            result = self.runner.run(argv, check=False)
            rc, out, err = result.rc, result.stdout, result.stderr
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        output = '\n'.join(part.strip() for part in (out, err) if part and part.strip())
        if rc != 0:
            raise KernlogError('rsyslogd rejects the configuration with the new drop-in %s, so it was not installed '
                               '(nothing changed): %s' % (conf_path, _essential(output, workdir, config.main_path, conf_path)),
                               cmd=argv, rc=rc, stdout=out, stderr=err)
        return output, appended


def _essential(output, workdir, main_path, conf_path):
    """rsyslogd's messages without its banner lines, with the temporary paths named as the real ones."""
    lines = [line for line in output.splitlines()
             if 'config validation run' not in line and 'End of config validation run' not in line]
    text = ' '.join(line.strip() for line in lines if line.strip())
    text = text.replace(os.path.join(workdir, 'rsyslog.conf'), main_path)
    return text.replace(os.path.join(workdir, 'd'), os.path.dirname(conf_path))
