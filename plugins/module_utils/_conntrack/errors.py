# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the conntrack package; the module turns it into fail_json once, in main()."""

from __future__ import annotations

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import NetdebugError


class ConntrackError(NetdebugError):
    """A failure with what the user needs to fix it: the offending parameter, the errno, the remedy."""

    def __init__(self, msg, param=None, errno=None, **details):
        super().__init__(msg, **details)
        self.param = param
        self.errno = errno

    def to_fail_kwargs(self):
        kwargs = super().to_fail_kwargs()
        if self.param is not None:
            kwargs['param'] = self.param
        if self.errno is not None:
            kwargs['errno'] = self.errno
        return kwargs


def param_error(param, msg):
    """A bad-input error: the message starts with the parameter name so that the user knows what to fix."""
    return ConntrackError('%s: %s' % (param, msg), param=param)
