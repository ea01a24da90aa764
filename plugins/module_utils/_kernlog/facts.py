# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an expanded rsyslog configuration says about the kernel path (pure functions over rsyslog_conf.Config).

- kernel_input: which input module brings kernel messages into rsyslog (imklog reads /proc/kmsg, imjournal
  reads the systemd journal, imkmsg reads /dev/kmsg), and that input's rate limit;
- the file ownership rsyslog uses by default (``$FileOwner``/``$FileGroup``, privilege drop);
- where the drop-in would be read, and which actions rsyslog runs before it (``exclusive`` cannot stop those).
"""

from __future__ import annotations

import os

from ansible_collections.netdebug.netfilter.plugins.module_utils._kernlog.rsyslog_conf import include_pattern, pattern_covers

KERNEL_INPUTS = ('imklog', 'imjournal', 'imkmsg')
# (interval parameter, burst parameter, default interval, default burst); interval 0 disables the limit.
RATE_LIMITS = {
    'imklog': ('ratelimitinterval', 'ratelimitburst', 0, 10000),
    'imjournal': ('ratelimit.interval', 'ratelimit.burst', 600, 20000),
    'imkmsg': (None, None, 0, 0),
}
_LEGACY_RATE = {
    'imjournalratelimitinterval': ('imjournal', 'ratelimit.interval'),
    'imjournalratelimitburst': ('imjournal', 'ratelimit.burst'),
}


def _module_name(value):
    name = os.path.basename(str(value)).lower()
    return name[:-3] if name.endswith('.so') else name


def loaded_modules(config):
    """Module name -> parameters (later loads and legacy directives add to earlier ones), in load order."""
    modules = {}
    for stmt in config.statements:
        if stmt.kind == 'object' and stmt.name == 'module' and 'load' in stmt.params:
            params = dict(stmt.params)
            name = _module_name(params.pop('load'))
            modules.setdefault(name, {}).update(params)
        elif stmt.kind == 'legacy' and stmt.name == 'modload' and stmt.args:
            modules.setdefault(_module_name(stmt.args.split()[0]), {})
        elif stmt.kind == 'legacy' and stmt.name in _LEGACY_RATE and stmt.args:
            module, param = _LEGACY_RATE[stmt.name]
            modules.setdefault(module, {}).setdefault(param, stmt.args.split()[0])
    return modules


def _int(value, default):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def rate_limit(name, params):
    """{'interval', 'burst', 'enabled'} for the kernel input name with its module parameters."""
    interval_key, burst_key, interval, burst = RATE_LIMITS[name]
    if interval_key:
        interval = _int(params.get(interval_key), interval)
        burst = _int(params.get(burst_key), burst)
    return {'interval': interval, 'burst': burst, 'enabled': interval > 0 and burst > 0}


def kernel_input(config):
    """(kernel_input, inputs, rate_limit): the input that feeds kernel messages ('none' if nothing does)."""
    modules = loaded_modules(config)
    inputs = [name for name in KERNEL_INPUTS if name in modules]
    if not inputs:
        return 'none', [], None
    chosen = inputs[0]
    return chosen, inputs, rate_limit(chosen, modules[chosen])


def rate_warning(kernel_in, limit, expected_rate):
    """A warning when the input's rate limit would drop messages at expected_rate per second, else None."""
    if not limit or not limit['enabled'] or not expected_rate:
        return None
    if expected_rate * limit['interval'] <= limit['burst']:
        return None
    return ('%s accepts at most %d messages per %d s (%.1f/s on average); at the expected %d messages per second '
            'it will silently drop kernel lines. Raise its rate limit (for imjournal: module(load="imjournal" '
            'ratelimit.burst=... ratelimit.interval=...)) or lower the LOG rule\'s limit.'
            % (kernel_in, limit['burst'], limit['interval'], float(limit['burst']) / limit['interval'],
               expected_rate))


def file_defaults(config):
    """(owner, group, mode) that rsyslog's own files get: $FileOwner/$FileGroup/$FileCreateMode or the
    privilege-drop user; None where the configuration says nothing."""
    owner = group = mode = None
    privdrop_user = privdrop_group = None
    for stmt in config.statements:
        first = stmt.args.split()[0] if stmt.kind == 'legacy' and stmt.args else None
        if stmt.kind == 'legacy' and first:
            if stmt.name == 'fileowner':
                owner = first
            elif stmt.name == 'filegroup':
                group = first
            elif stmt.name == 'filecreatemode':
                mode = first
            elif stmt.name == 'privdroptouser':
                privdrop_user = first
            elif stmt.name == 'privdroptogroup':
                privdrop_group = first
        elif stmt.kind == 'object' and stmt.name == 'global':
            privdrop_user = stmt.params.get('privdrop.user.name', privdrop_user)
            privdrop_group = stmt.params.get('privdrop.group.name', privdrop_group)
    return owner or privdrop_user, group or privdrop_group, mode


def include_sites(config, conf_path):
    """Include statements whose pattern covers conf_path (whether or not the file exists yet)."""
    return [stmt for stmt in config.statements
            if include_pattern(stmt) and pattern_covers(include_pattern(stmt), conf_path)]


def _selects_kernel(selector_line):
    """True when a legacy selector line (``kern.*  /f``, ``*.*;auth.none  /f``) takes kernel messages."""
    selectors = selector_line.split()[0].split(';')
    takes = False
    for selector in selectors:
        facilities, _dot, priority = selector.partition('.')
        names = facilities.lower().split(',')
        if 'kern' in names or '*' in names:
            takes = priority.lower() != 'none'
    return takes


def actions_before(config, conf_path):
    """'file:line' of selector actions that take kernel messages before rsyslog reads conf_path (``exclusive``
    cannot keep messages from those)."""
    sites = include_sites(config, conf_path)
    if not sites:
        return []
    found = []
    for stmt in config.statements:
        if stmt is sites[0]:
            break
        if stmt.kind == 'action' and stmt.name == 'selector' and stmt.path != conf_path and _selects_kernel(stmt.args):
            found.append('%s:%d' % (stmt.path, stmt.line))
    return found
