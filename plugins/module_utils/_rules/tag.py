# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ids, ttl bounds and the comment tag ``netdebug:<run_id>:<expiry epoch>`` that marks every rule we add.

The tag is the only thing removal trusts: a rule is ours exactly when one of its comments parses here.
Stdlib only: the on-node reaper imports this file too.
"""

from __future__ import annotations

import os
import re
import time

from ansible_collections.netdebug.netfilter.plugins.module_utils._rules.errors import ParamError

TAG_PREFIX = 'netdebug'
RUN_ID_MAX = 32
RUN_ID_RE = re.compile(r'^[A-Za-z0-9._-]{1,%d}$' % RUN_ID_MAX)
ALL_RUNS = '*'
TAG_RE = re.compile(r'^%s:([A-Za-z0-9._-]{1,%d}):([0-9]{1,12})$' % (TAG_PREFIX, RUN_ID_MAX))
TTL_MIN = 1
TTL_MAX = 86400  # a day: longer than any debugging session should leave rules on a production node
LOG_PREFIX_RUN_CHARS = 25  # 'nd:' + 25 + ' ' fits the kernel's 29-character LOG prefix


def check_run_id(run_id, allow_all=False):
    """Return run_id if valid; '*' (every run) only where allow_all."""
    if allow_all and run_id == ALL_RUNS:
        return run_id
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id) or run_id in ('.', '..'):
        hint = " or '*' for every run" if allow_all else ''
        raise ParamError('run_id', '%r is not valid: use 1 to %d letters, digits, ".", "_" or "-"%s'
                         % (run_id, RUN_ID_MAX, hint))
    return run_id


def generate_run_id(now=None, rand=None):
    """A sortable, unique-enough id such as '20261124T180512-a3f1'."""
    now = time.time() if now is None else now
    rand = os.urandom(2).hex() if rand is None else rand
    return '%s-%s' % (time.strftime('%Y%m%dT%H%M%S', time.gmtime(now)), rand)


def check_ttl(ttl):
    """Seconds until the node removes the rules by itself: 1 second to a day."""
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < TTL_MIN or ttl > TTL_MAX:
        raise ParamError('ttl', '%r is out of range: use %d to %d seconds (at most a day)' % (ttl, TTL_MIN, TTL_MAX))
    return ttl


def make_tag(run_id, expires_at):
    return '%s:%s:%d' % (TAG_PREFIX, run_id, int(expires_at))


class Tag:
    """A parsed tag: which run a rule belongs to and when it expires."""

    __slots__ = ('run_id', 'expires_at')

    def __init__(self, run_id, expires_at):
        self.run_id = run_id
        self.expires_at = expires_at

    def __eq__(self, other):
        return isinstance(other, Tag) and (self.run_id, self.expires_at) == (other.run_id, other.expires_at)

    def __hash__(self):
        return hash((self.run_id, self.expires_at))

    def __repr__(self):
        return 'Tag(%r, %r)' % (self.run_id, self.expires_at)

    def text(self):
        return make_tag(self.run_id, self.expires_at)

    def belongs_to(self, run_id):
        """True when this tag is of run_id, or of any run when run_id is '*'."""
        return run_id == ALL_RUNS or self.run_id == run_id


def parse_tag(comment):
    """Tag of a rule comment, or None when the comment is not exactly a netdebug tag."""
    if not comment:
        return None
    match = TAG_RE.match(comment)
    if not match:
        return None
    return Tag(match.group(1), int(match.group(2)))


def first_tag(comments):
    """The first netdebug tag among a rule's comments, or None.

    Any comment counts, not only a rule's sole one: a rule that carries our tag beside another comment is ours
    to remove (and is reported as not verified), never left behind because it looks unusual.
    """
    for comment in comments:
        tag = parse_tag(comment)
        if tag is not None:
            return tag
    return None


def default_log_prefix(run_id):
    """Short prefix that keeps LOG lines attributable to their run in a central syslog."""
    return 'nd:%s ' % run_id[:LOG_PREFIX_RUN_CHARS]
