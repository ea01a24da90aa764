# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What rsyslog_kernlog does: check the input, read the rsyslog configuration, render, validate, install/remove.

Everything that can be refused is refused before the first change on the node.
"""

from __future__ import annotations

import grp
import os
import pwd

from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry import schedule
from ansible_collections.netdebug.netfilter.plugins.module_utils._expiry.kernlog import DropinExpiry
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog import facts, files, render
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.errors import KernlogError
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.rsyslog_conf import FsSource, load
from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.rsyslogd import Rsyslogd
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import check_ttl

DEBIAN_ROTATE = '/usr/lib/rsyslog/rsyslog-rotate'


def default_postrotate():
    """How to make rsyslog reopen its files after rotation on this node."""
    if os.path.exists(DEBIAN_ROTATE):
        return DEBIAN_ROTATE
    if schedule.systemd_running():
        return '/bin/systemctl kill -s HUP rsyslog.service >/dev/null 2>&1 || true'
    return '/bin/kill -HUP $(cat /run/rsyslogd.pid 2>/dev/null) >/dev/null 2>&1 || true'


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def check_params(params):
    """Validate what does not depend on the node; raises KernlogError naming the parameter."""
    render.check_path('path', params['path'])
    render.check_path('conf_path', params['conf_path'])
    render.check_path('rsyslog_conf', params['rsyslog_conf'])
    render.check_path('logrotate_path', params['logrotate_path'])
    if params['path'] == params['conf_path']:
        raise KernlogError('path and conf_path are the same file (%s): path is the log file, conf_path the drop-in'
                           % params['path'])
    for prefix in params['prefixes'] or []:
        render.check_prefix(prefix)
    if params['mode'] is not None:
        render.check_mode(params['mode'])
    for name in ('owner', 'group'):
        if params[name] is not None:
            render.check_name(name, params[name])
    if params['template'] is not None:
        render.check_name('template', params['template'])
    render.check_size(params['logrotate_size'])
    if params['logrotate_rotate'] < 0:
        raise KernlogError('logrotate_rotate: must be 0 or more, got %d' % params['logrotate_rotate'])
    if params['ttl'] is not None and params['state'] == 'absent':
        raise KernlogError('ttl: only with state=present (state=absent removes the drop-in now)')
    if params['ttl'] is not None:
        check_ttl(params['ttl'])
    render.check_path('state_dir', params['state_dir'])
    if params['expected_rate'] is not None and params['expected_rate'] <= 0:
        raise KernlogError('expected_rate: must be a positive number of messages per second, got %d'
                           % params['expected_rate'])


def resolve_spec(params, config):
    """The full drop-in spec: the caller's options plus the node's defaults for ownership."""
    owner, group, _mode = facts.file_defaults(config)
    spec = {
        'path': params['path'],
        'severity': params['severity'],
        'prefixes': list(params['prefixes'] or []),
        'exclusive': params['exclusive'],
        'template': params['template'],
        'mode': render.check_mode(params['mode'] if params['mode'] is not None else '0640'),
        'owner': params['owner'] or owner or 'root',
        'group': params['group'] or group or ('adm' if _exists(grp.getgrnam, 'adm') else 'root'),
        'logrotate_size': params['logrotate_size'],
        'logrotate_rotate': params['logrotate_rotate'],
        'postrotate': default_postrotate(),
    }
    if not _exists(pwd.getpwnam, spec['owner']):
        raise KernlogError('owner: user %r does not exist on this node' % spec['owner'])
    if not _exists(grp.getgrnam, spec['group']):
        raise KernlogError('group: group %r does not exist on this node' % spec['group'])
    return spec


class KernlogManager:
    """Runs the module's logic against AnsibleModule `module` (check mode, diff, warnings, atomic_move)."""

    def __init__(self, module, runner, source=None, expiry=None):
        self.module = module
        self.source = source or FsSource()
        self.runner = runner
        self.rsyslogd = Rsyslogd(runner)
        self.expiry = expiry or DropinExpiry(runner, module.params['state_dir'])
        self.diffs = []
        self.changed = False

    def _diff(self, path, before, after):
        if (before or '') != (after or ''):
            self.diffs.append({'before_header': path, 'after_header': path, 'before': before or '',
                               'after': after or ''})

    def _input_facts(self, config, params, result):
        kernel_in, inputs, limit = facts.kernel_input(config)
        result.update(kernel_input=kernel_in, kernel_inputs=inputs, rate_limit=limit)
        if kernel_in == 'none':
            self.module.warn('rsyslog does not read kernel messages on this node (no imklog, imjournal or imkmsg in '
                             '%s and its includes): LOG and TRACE lines will not reach %s'
                             % (params['rsyslog_conf'], params['path']))
        if len(inputs) > 1:
            self.module.warn('rsyslog reads kernel messages through %s: each line may be written twice'
                             % ' and '.join(inputs))
        warning = facts.rate_warning(kernel_in, limit, params['expected_rate'])
        if warning:
            self.module.warn(warning)

    def present(self, params):
        config = load(params['rsyslog_conf'], self.source)
        result = {'config_problems': config.problems}
        self._input_facts(config, params, result)
        spec = resolve_spec(params, config)
        result.update(owner=spec['owner'], group=spec['group'], mode=spec['mode'])
        wanted = render.render_dropin(spec)
        current = files.read_text(params['conf_path'])
        files.ensure_ours('conf_path', params['conf_path'], current)
        # What was there before this call, so that a caller can put back exactly that (the capture removes a drop-in
        # it created, and the log file too when rsyslog created it for that drop-in).
        result.update(created=current is None, log_existed=os.path.exists(params['path']))
        rotate_wanted = render.render_logrotate(spec) if params['logrotate'] else None
        if rotate_wanted and not self.runner.find('logrotate'):
            self.module.warn('logrotate is not installed on this node: %s is written, but nothing enforces its size '
                             'cap until logrotate is installed' % params['logrotate_path'])
        rotate_current = files.read_text(params['logrotate_path'])
        files.ensure_ours('logrotate_path', params['logrotate_path'], rotate_current)
        if not facts.include_sites(config, params['conf_path']):
            self.module.warn('conf_path %s is not read by rsyslog: no include in %s covers it'
                             % (params['conf_path'], params['rsyslog_conf']))
        elif params['exclusive'] and facts.actions_before(config, params['conf_path']):
            self.module.warn('exclusive: rsyslog writes kernel messages with these rules before it reads %s, so '
                             'they still get the lines: %s'
                             % (params['conf_path'], ', '.join(facts.actions_before(config, params['conf_path']))))
        result['validated'] = False
        if wanted != current:
            self.rsyslogd.validate(config, params['conf_path'], wanted, self.source)
            result['validated'] = True
        # The expiry before the files: a module stopped between the two still leaves a drop-in that goes.
        created = current is None
        if self.module.check_mode:
            result['expires_at'] = self.expiry.planned(params['conf_path'], params['ttl'], created)
        else:
            result['expires_at'] = self.expiry.update(
                params['conf_path'], params['ttl'], created,
                (wanted, params['logrotate_path'], rotate_wanted),
                params['path'], result['log_existed'])
            # The drop-in's earlier expiry may have removed it, its log file and logrotate file just before update()
            # took the lock: write what is missing now.
            again = files.read_text(params['conf_path'])
            if again != current:
                current, rotate_current = again, files.read_text(params['logrotate_path'])
                result.update(created=current is None, log_existed=os.path.exists(params['path']))
        self._apply(params['conf_path'], current, wanted)
        self._apply(params['logrotate_path'], rotate_current, rotate_wanted)
        self._log_file_attributes(spec)
        result.update(dropin=wanted, logrotate_path=params['logrotate_path'] if params['logrotate'] else None)
        return result

    def absent(self, params):
        result = {}
        if os.path.exists(params['rsyslog_conf']):
            config = load(params['rsyslog_conf'], self.source)
            self._input_facts(config, params, result)
        current = files.read_text(params['conf_path'])
        files.ensure_ours('conf_path', params['conf_path'], current)
        rotate_current = files.read_text(params['logrotate_path'])
        files.ensure_ours('logrotate_path', params['logrotate_path'], rotate_current)
        if self.expiry.release(params['conf_path'], self.module.check_mode):
            self.changed = True  # its pending expiry is cancelled
        self._apply(params['conf_path'], current, None)
        self._apply(params['logrotate_path'], rotate_current, None)
        if params['remove_log'] and os.path.exists(params['path']):
            self.changed = True
            self._diff(params['path'], '(log file, %d bytes)\n' % os.path.getsize(params['path']), '')
            if not self.module.check_mode:
                files.remove(params['path'])
        result.update(dropin=None, logrotate_path=None)
        return result

    def _apply(self, path, current, wanted):
        """Make path hold wanted (None: no file); honours check mode."""
        if current == wanted:
            return
        self.changed = True
        self._diff(path, current, wanted)
        if self.module.check_mode:
            return
        if wanted is None:
            files.remove(path)
        else:
            files.atomic_write(self.module, path, wanted, 0o644)

    def _log_file_attributes(self, spec):
        """rsyslog applies mode/owner/group only when it creates the file; fix an existing one."""
        path = spec['path']
        if not os.path.exists(path):
            return
        diff = {'before': {}, 'after': {}}
        changed = self.module.set_mode_if_different(path, spec['mode'], False, diff)
        changed = self.module.set_owner_if_different(path, spec['owner'], changed, diff)
        changed = self.module.set_group_if_different(path, spec['group'], changed, diff)
        if changed:
            self.changed = True
            self.diffs.append({'before_header': path, 'after_header': path,
                               'before': ''.join('%s: %s\n' % kv for kv in sorted(diff['before'].items())),
                               'after': ''.join('%s: %s\n' % kv for kv in sorted(diff['after'].items()))})

    def run(self, params):
        check_params(params)
        result = self.present(params) if params['state'] == 'present' else self.absent(params)
        result.update(changed=self.changed, path=params['path'], conf_path=params['conf_path'], state=params['state'])
        if self.module._diff:  # pylint: disable=protected-access
            result['diff'] = self.diffs
        return result
