# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The domain errors of the netfilter helpers; a module turns them into fail_json once, in main()."""

from __future__ import annotations


class NetdebugError(Exception):
    """Base error: a message that says what is wrong and how to fix it, plus optional details for fail_json."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def to_fail_kwargs(self):
        """Keyword arguments for AnsibleModule.fail_json."""
        kwargs = dict(self.details)
        kwargs['msg'] = self.msg
        return kwargs


class ParameterError(NetdebugError):
    """Bad input, found before anything ran on the node; the message starts with the parameter's name."""

    def __init__(self, param, problem):
        super().__init__('%s: %s' % (param, problem))
        self.param = param


class ToolNotFoundError(NetdebugError):
    """A required executable is not on the node."""

    def __init__(self, tool, package=None):
        msg = 'the %s command was not found on the node (searched PATH and the sbin directories)' % tool
        if package:
            msg += '; install the %s package' % package
        super().__init__(msg)
        self.tool = tool


class ParseError(NetdebugError):
    """Tool output that does not have the expected shape; names the source, the line number and the line."""

    def __init__(self, source, problem, lineno=None, line=None):
        where = source if lineno is None else '%s line %d' % (source, lineno)
        msg = 'cannot parse %s: %s' % (where, problem)
        if line is not None:
            msg += ': %r' % line
        super().__init__(msg)
        self.source = source
        self.lineno = lineno
        self.line = line


class ToolError(NetdebugError):
    """A failure that may come with what a command said: cmd (argv list), rc, stdout and stderr, each None when
    not known; fail_json gets those that are known. The base of the packages' own error types."""

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None, **details):
        super().__init__(msg, **details)
        self.cmd = None if cmd is None else list(cmd)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def to_fail_kwargs(self):
        kwargs = super().to_fail_kwargs()
        for key in ('cmd', 'rc', 'stdout', 'stderr'):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        return kwargs


class NetfilterCommandError(ToolError):
    """A command that failed, with everything it said: cmd (argv list), rc, stdout and stderr."""

    def __init__(self, msg, cmd, rc, stdout, stderr):
        super().__init__(msg, cmd, rc, stdout, stderr)


class XtablesLockError(NetfilterCommandError):
    """iptables gave up waiting for the xtables lock: another program held it for longer than our bound."""

    def __init__(self, msg, cmd, rc, stdout, stderr, lock_wait):
        super().__init__(msg, cmd, rc, stdout, stderr)
        self.lock_wait = lock_wait
