# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node-side reads of a bundle, through the packages that conntrack_query and nf_log use.

Each part the node cannot give becomes a problem line ('conntrack: ...', 'logger state: ...') and its file is
left out, as the collect role did when those modules failed: a bundle without conntrack is still worth having.
"""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._bundle import layout
from ansible_collections.netdebug.netfilter.plugins.module_utils._conntrack import deps, query as ct_query, text
from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError, ParameterError

CONNTRACK_FILTERS = ('protocol', 'source', 'destination', 'source_port', 'destination_port')
NF_LOG_STATE_DIR = '/run/netdebug/nf_log'  # nf_log's default state_dir: where its run records are listed from
DROPPED_KEYS = ('changed', 'failed', 'invocation')  # module plumbing, not state


def conntrack_filter(spec):
    """The conntrack_query filter parameters the conntrack option gives (limit apart), None ones dropped."""
    return dict((key, spec[key]) for key in CONNTRACK_FILTERS if spec.get(key) is not None)


def check_conntrack(spec):
    """Validate the conntrack option as conntrack_query would, before anything is read."""
    params = dict(conntrack_filter(spec), operation='list', limit=spec['limit'])
    try:
        ct_query.validate(params)
    except NetdebugError as exc:
        raise ParameterError('conntrack', exc.msg) from None


def _without_plumbing(result):
    return dict((key, value) for key, value in result.items() if key not in DROPPED_KEYS)


def _missing_pyroute2():
    return ('Failed to import the required Python library (%s) on the node: install %s (Debian/Ubuntu) or pip %s'
            % (deps.PIP_NAME, deps.DEBIAN_PACKAGE, deps.PIP_NAME))


def conntrack_files(spec, run=None, runner=None):
    """({'conntrack.json': ..., 'conntrack-stats.json': ...} for the parts that could be read, problems).

    conntrack.json is conntrack_query operation=list's entries, matched and truncated with the filter used, and
    the source they were read from; conntrack-stats.json is its operation=stats result. run defaults to
    conntrack_query's run(): over netlink with pyroute2, else over the conntrack command's or /proc's text
    (runner finds the command)."""
    files, problems = {}, []
    source = 'netlink'
    if run is None and not deps.HAS_PYROUTE2:
        try:
            table = text.TextConntrack(runner)
        except NetdebugError as exc:
            return files, ['conntrack: %s (%s)' % (exc.msg, _missing_pyroute2())]
        source = table.source

        def run(params):
            return ct_query.run(params, conntrack=table)
    elif run is None:
        run = ct_query.run
    wanted = conntrack_filter(spec)
    try:
        listing = run(dict(wanted, operation='list', limit=spec['limit']))
    except NetdebugError as exc:
        problems.append('conntrack: %s' % exc.msg)
    else:
        files[layout.CONNTRACK_JSON] = {'entries': listing['entries'], 'matched': listing.get('matched'),
                                        'truncated': listing.get('truncated'), 'filter': wanted, 'source': source}
    try:
        files[layout.CONNTRACK_STATS_JSON] = _without_plumbing(run({'operation': 'stats'}))
    except NetdebugError as exc:
        problem = 'conntrack: %s' % exc.msg
        if problem not in problems:  # one cause (no ctnetlink, not root) fails both reads alike
            problems.append(problem)
    return files, problems


def logger_files(manager):
    """({'loggers.json': nf_log state=query's result}, problems); manager is an NfLogManager."""
    try:
        result = manager.run({'state': 'query', 'state_dir': NF_LOG_STATE_DIR, 'ttl': None})
    except NetdebugError as exc:
        return {}, ['logger state: %s' % exc.msg]
    return {layout.LOGGERS_JSON: _without_plumbing(result)}, []
