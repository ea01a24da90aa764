# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of iptables_log / iptables_trace and the step from module parameters to a call.

Everything a module needs besides AnsibleModule itself, so that the modules stay a spec and a short main().
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.runner import ToolRunner, check_lock_wait
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.base_chains import (
    IP_FAMILIES, nft_base_chains,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.binaries import NFTABLES
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import has_content, parse_save
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import parse_nft
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.variant import decide_variant, detect
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules import monitor
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.backends import SAVE_TOOLS, without_our_rules
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.desired import BACKENDS, check_position, hook_of
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.duration import trace_for
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.engine import Request, absent, present
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError, RulesError
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.iptables_backend import BUILTIN_CHAINS, TABLES
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.nftables_backend import OWN_TABLE
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.node import Node, TOOL_NAMES
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.spec import (
    HOOKS, IP_VERSIONS, MATCH_PARAMS, build_match,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.state import DEFAULT_ROOT
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.tag import (
    ALL_RUNS, check_run_id, check_ttl, default_log_prefix, generate_run_id,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.target import log_target, trace_target
from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.window import check_window

TRACE_HOOKS = ('PREROUTING', 'OUTPUT')

# The match options: each one separately, or all in the dict option match (a role passes the user's match once).
MATCH_OPTIONS = dict(
    ip_version=dict(type='str', choices=list(IP_VERSIONS)),
    protocol=dict(type='str'),
    source=dict(type='str'),
    destination=dict(type='str'),
    source_port=dict(type='str'),
    destination_port=dict(type='str'),
    in_interface=dict(type='str'),
    out_interface=dict(type='str'),
    icmp_type=dict(type='str'),
    ctstate=dict(type='list', elements='str'),
    mark=dict(type='str'),
    uid_owner=dict(type='str'),
    match_extra=dict(type='list', elements='str'),
)
COMMON_ARGS = dict(
    MATCH_OPTIONS,
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    run_id=dict(type='str'),
    ttl=dict(type='int', default=300),
    window_start=dict(type='int'),
    window_end=dict(type='int'),
    backend=dict(type='str', choices=list(BACKENDS), default='auto'),
    ip_version=dict(MATCH_OPTIONS['ip_version'], default='ipv4'),
    match=dict(type='dict', options=MATCH_OPTIONS),
    position=dict(type='raw', default='top'),
    wait=dict(type='int', default=10),
)
# The separate match options or the dict, not both (checked before the defaults apply).
MUTUALLY_EXCLUSIVE = [('match', key) for key in MATCH_OPTIONS]

TRACE_LIMIT = '100/second'
TRACE_LIMIT_BURST = 200
TRACE_ARGS = dict(COMMON_ARGS, hooks=dict(type='list', elements='str', choices=list(TRACE_HOOKS)),
                  duration=dict(type='int'), record_rulesets=dict(type='bool', default=False),
                  limit=dict(type='str', default=TRACE_LIMIT), limit_burst=dict(type='int', default=TRACE_LIMIT_BURST),
                  unlimited=dict(type='bool', default=False),
                  capture_max_bytes=dict(type='int', default=monitor.CAPTURE_MAX_BYTES),
                  drop_reasons=dict(type='bool', default=False))
UNLIMITED_TRACE_WARNING = ('unlimited: every matching packet is traced, one kernel log or monitor line per rule it '
                           'crosses; a busy match can load the node and fill the capture')

LOG_ARGS = dict(
    COMMON_ARGS,
    table=dict(type='str', choices=list(TABLES), default='raw'),
    chain=dict(type='str', default='PREROUTING'),
    target=dict(type='str', choices=['LOG', 'NFLOG'], default='LOG'),
    log_prefix=dict(type='str'),
    log_level=dict(type='str', default='7'),
    log_tcp_sequence=dict(type='bool', default=False),
    log_tcp_options=dict(type='bool', default=False),
    log_ip_options=dict(type='bool', default=False),
    log_uid=dict(type='bool', default=False),
    nflog_group=dict(type='int'),
    limit=dict(type='str', default='5/second'),
    limit_burst=dict(type='int', default=10),
    unlimited=dict(type='bool', default=False),
)


def detector(tool_runner):
    """() -> (variant, default variant): the foundation's detection, not counting netdebug's own rules."""
    def run_detection():
        found = detect(tool_runner)
        holds = {}
        for (variant, family), text in found.saves.items():
            content = has_content(parse_save(without_our_rules(text), family, source=variant))
            holds[variant] = holds.get(variant, False) or content
        default = found.version.variant if found.version else None
        variant, _reason = decide_variant(default, holds.get('legacy', False), holds.get('nf_tables', False))
        if variant is None:
            raise RulesError('no iptables on this node: install iptables, or use backend nftables')
        return variant, default or variant
    return run_detection


def native_detector(tool_runner, nft_path):
    """() -> 'family table/chain' of every native nftables base chain an IP packet meets after the trace point
    (netdebug's own table and ingress chains, which run before any trace rule, left out); empty without the nft
    command."""
    def run_detection():
        if not nft_path:
            return []
        try:
            chains = nft_base_chains(parse_nft(tool_runner.run([nft_path, 'list', 'ruleset']).stdout,
                                               source='nft list ruleset'))
        except NetdebugError:
            # nothing can be told about native tables here; the run's nft.ruleset recording meets the same
            # failure, and the trace report says that native chains were not known (docs/trace-report.md)
            return []
        return sorted('%s %s/%s' % (c['family'], c['table'], c['chain']) for c in chains
                      if c['backend'] == NFTABLES and c['family'] in IP_FAMILIES[None] and c['hook'] != 'ingress'
                      and (c['family'], c['table']) != OWN_TABLE)
    return run_detection


def make_node(module, root=DEFAULT_ROOT):
    """Node for a module call: tools found with the foundation's ToolRunner (sbin directories included)."""
    try:
        wait = check_lock_wait(module.params['wait'], param='wait')
    except NetdebugError as exc:
        raise ParamError('wait', exc.msg.split(': ', 1)[-1]) from None
    tool_runner = ToolRunner(module, lock_wait=wait, lock_param='wait')
    tools = {}
    for name in TOOL_NAMES + tuple(SAVE_TOOLS.values()) + ('iptables',):
        path = tool_runner.find(name)
        if path:
            tools[name] = path
    return Node(tool_runner, tools, root=root, lock_wait=wait, detect=detector(tool_runner),
                native=native_detector(tool_runner, tools.get('nft')))


def _run_id(params):
    if params['state'] == 'absent':
        if not params['run_id']:
            raise ParamError('run_id', "is required with state absent: the run to remove, or '*' for every run")
        return check_run_id(params['run_id'], allow_all=True)
    return check_run_id(params['run_id']) if params['run_id'] else generate_run_id()


def _match(params):
    return build_match(dict((k, params.get(k)) for k in MATCH_PARAMS), params['ip_version'], params['backend'])


def _trace_hooks(params, match):
    if params['hooks'] is None:
        hooks = match.preferred_hooks(TRACE_HOOKS)
        if not hooks:
            raise ParamError('hooks', 'no hook fits every match parameter given (in_interface needs PREROUTING, '
                                      'out_interface and uid_owner need OUTPUT): split the trace into two calls')
        return hooks
    if not params['hooks']:
        raise ParamError('hooks', 'is empty: list PREROUTING, OUTPUT or both')
    hooks = []
    for hook in params['hooks']:
        match.check_hook(hook, chain_param='hook')
        if hook not in hooks:
            hooks.append(hook)
    return hooks


def _log_target(params, run_id):
    prefix = params['log_prefix']
    if prefix is None:
        prefix = default_log_prefix(run_id)
    limit = None if params['unlimited'] else params['limit']
    return log_target(jump=params['target'], prefix=prefix, level=params['log_level'],
                      tcp_sequence=params['log_tcp_sequence'], tcp_options=params['log_tcp_options'],
                      ip_options=params['log_ip_options'], uid=params['log_uid'], nflog_group=params['nflog_group'],
                      limit=limit, limit_burst=params['limit_burst'])


def _log_placement(params, match):
    table, chain = params['table'], params['chain']
    if not chain or any(ch.isspace() for ch in chain) or len(chain) > 28 or chain.startswith('-'):
        raise ParamError('chain', '%r is not a chain name' % chain)
    if chain in HOOKS and chain not in BUILTIN_CHAINS[table]:
        raise ParamError('chain', 'table %s has no built-in chain %s: use one of %s'
                         % (table, chain, ', '.join(BUILTIN_CHAINS[table])))
    match.check_hook(hook_of(table, chain))
    return [(table, chain)]


def with_match(params):
    """The parameters with the dict option match spread into the separate match options."""
    given = params.get('match')
    if not given:
        return params
    merged = dict(params)
    merged.update((key, value) for key, value in given.items() if value is not None)
    return merged


def run(kind, node, params, check_mode=False):
    """Returns (result, warnings) for a module call; raises RulesError (ParamError for bad input)."""
    params = with_match(params)
    run_id = _run_id(params)
    record = bool(params.get('record_rulesets'))
    if record and run_id == ALL_RUNS:
        raise ParamError('record_rulesets', "records one run: give its run_id instead of '*', or leave it false")
    if params['state'] == 'absent':
        return absent(node, run_id, check_mode=check_mode, lock_timeout=node.lock_wait + 30, kind=kind,
                      record_rulesets=record)
    ttl = check_ttl(params['ttl'])
    match = _match(params)
    match.window = check_window(params.get('window_start'), params.get('window_end'), node.now())
    if match.window and params.get('duration') is not None:
        raise ParamError('duration', 'traces now for a number of seconds; window_start and window_end give the '
                                     'window in wall-clock time instead: use one or the other')
    position = check_position(params['position'])
    if kind == 'trace':
        placements = [('raw', hook) for hook in _trace_hooks(params, match)]
        target = trace_target(None if params['unlimited'] else params['limit'], params['limit_burst'])
    else:
        placements = _log_placement(params, match)
        target = _log_target(params, run_id)
    max_bytes = monitor.check_max_bytes(params['capture_max_bytes']) if kind == 'trace' else monitor.CAPTURE_MAX_BYTES
    req = Request(kind, run_id, ttl, params['backend'], match, target, placements, position,
                  lock_timeout=node.lock_wait + 30, record=record, capture_max_bytes=max_bytes,
                  drop_reasons=kind == 'trace' and bool(params.get('drop_reasons')))
    if kind == 'trace' and params.get('duration') is not None:
        result, warnings = trace_for(node, req, params['duration'], check_mode=check_mode)
    else:
        result, warnings = present(node, req, check_mode=check_mode)
    if kind == 'log':
        result['log_prefix'] = target.prefix  # the kernel-log lines start with it (collect steps filter by it)
    if kind == 'trace' and params['unlimited']:
        warnings = list(warnings) + [UNLIMITED_TRACE_WARNING]
    return result, warnings
