# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record the commands of the module cases on this machine: run each case's steps for real and write what every
command printed into the case's run_command (the rest of the case, written by hand, is kept).

    unshare --net python3 tests/unit/plugins/modules/cases/record.py MODULE...   (as root, from a built tree)

Run it in a network namespace of its own (unshare --net): the rules and loggers the steps set go with it. The cases
point every file the module writes into {tmp}. Recorded on Debian 12 (iptables 1.8.9, nftables 1.0.6, rsyslog
8.2302) on this project's build machine; record again after a change to what a module runs.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

from ansible.module_utils import basic

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import uthelper  # noqa: E402  pylint: disable=wrong-import-position

MODULES = 'ansible_collections.netdebug.netfilter.plugins.modules.'
# The module's own temporary directories (tempfile.mkdtemp(prefix='netdebug-...')): another name each run.
MKDTEMP = re.compile(r'(/tmp/netdebug-[a-z]+-)[a-z0-9_]{8}')


class Patches:
    """The little of pytest's monkeypatch that run_main uses, undone after each run."""

    def __init__(self):
        self.undo = []

    def setattr(self, target, name, value):
        self.undo.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def restore(self):
        for target, name, value in reversed(self.undo):
            setattr(target, name, value)
        self.undo = []


def generalise(text, tmp):
    text = text.replace(tmp, '{tmp}').replace(sys.executable, '{python}')
    if MKDTEMP.search(text):
        return uthelper.PATTERN + '^' + re.escape(MKDTEMP.sub(r'\1XXXXXXXX', text)).replace('XXXXXXXX', '[a-z0-9_]{8}') + '$'
    return text


def stable(text, tmp):
    """Recorded output without the names that differ each run."""
    return MKDTEMP.sub(r'\1XXXXXXXX', text.replace(tmp, '{tmp}'))


class Block(str):
    pass


class Argv(list):
    pass


def blocks(value):
    """value with every string of several lines written as a YAML block."""
    if isinstance(value, str) and '\n' in value:
        return Block(value)
    if isinstance(value, Argv):
        return value
    if isinstance(value, list):
        return [blocks(item) for item in value]
    if isinstance(value, dict):
        return dict((key, blocks(item)) for key, item in value.items())
    return value


def block(dumper, text):
    return dumper.represent_scalar('tag:yaml.org,2002:str', text, style='|' if '\n' in text else None)


def record_step(module, step, tmp, names):
    """Run one step for real; its tools and run_command become what the run found and ran. Returns the result."""
    ran = []
    found = {}
    live = uthelper.expand(step, names)
    allowed = live.get('tools')
    real_find = basic.AnsibleModule.get_bin_path

    def answer(argv, data):
        proc = subprocess.run(argv, input=data, capture_output=True, text=True, check=False,
                              env=dict(os.environ, LANG='C', LC_ALL='C', LANGUAGE='C'),
                              stdin=None if data is not None else subprocess.DEVNULL)
        ran.append({'command': Argv(generalise(str(a), tmp) for a in argv), 'rc': proc.returncode,
                    'out': Block(stable(proc.stdout, tmp)), 'err': Block(stable(proc.stderr, tmp))})
        return proc.returncode, proc.stdout, proc.stderr

    def find(self, arg, required=False, opt_dirs=None):  # pylint: disable=unused-argument
        path = real_find(self, arg, False, opt_dirs) if allowed is None or arg in allowed else None
        if path:
            found[arg] = path
        return path

    for rel, text in (live.get('setup_files') or {}).items():
        os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
        with open(os.path.join(tmp, rel), 'w', encoding='utf-8') as handle:
            handle.write(text)
    patches = Patches()
    try:
        result = uthelper.run_main(module, live.get('input') or {}, live.get('flags'), None, answer, patches, find=find)
    finally:
        patches.restore()
    step['tools'] = found
    step['run_command'] = ran
    return result


def record(name):
    path = os.path.join(HERE, '%s.yml' % name)
    with open(path, encoding='utf-8') as handle:
        cases = yaml.safe_load(handle)
    module = importlib.import_module(MODULES + name)
    for case in cases:
        tmp = tempfile.mkdtemp(prefix='case-')
        names = {'tmp': tmp, 'python': sys.executable}
        for step in case.get('steps') or [case]:
            result = record_step(module, step, tmp, names)
            print('%s %s: %d commands, %s' % (name, case['id'], len(step['run_command']), 'failed: ' + result['msg']
                                              if result.get('failed') else 'changed=%s' % result.get('changed')))
        shutil.rmtree(tmp, ignore_errors=True)
    yaml.add_representer(Block, block, Dumper=yaml.SafeDumper)
    yaml.add_representer(Argv, lambda dumper, argv: dumper.represent_sequence('tag:yaml.org,2002:seq', argv, flow_style=True),
                         Dumper=yaml.SafeDumper)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('# Cases for uthelper.py; run_command recorded by record.py (see there), the rest by hand.\n')
        yaml.safe_dump(blocks(cases), handle, sort_keys=False, width=120, allow_unicode=True)


if __name__ == '__main__':
    for module_name in sys.argv[1:]:
        record(module_name)
