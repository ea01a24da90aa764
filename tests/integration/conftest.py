"""Shared fixtures for the integration suites: the netns lab and an Ansible runner that returns structured results.

Tests run from the collection tree that tests/run builds (…/ansible_collections/netdebug/netfilter), so the
collection under test is the one Ansible loads.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
COLLECTION = HERE.parent.parent
COLLECTIONS_PATH = COLLECTION.parent.parent.parent  # the directory that holds ansible_collections/
LAB_DIR = COLLECTION / 'tests' / 'lab'
sys.path.insert(0, str(LAB_DIR))


class AnsibleRun:
    """Runs ansible / ansible-playbook against an inventory and returns the recorded task results."""

    def __init__(self, inventory):
        self.inventory = str(inventory)

    def _env(self, results_file, extra_env=None):
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS_PATH),
            'ANSIBLE_CALLBACK_PLUGINS': str(HERE / 'callback_plugins'),
            'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
            'ANSIBLE_HOST_KEY_CHECKING': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_RETRY_FILES_ENABLED': '0',
            'NETDEBUG_RESULTS_FILE': results_file,
        })
        env.update(extra_env or {})
        return env

    def _run(self, argv, extra_env=None, timeout=600):
        with tempfile.NamedTemporaryFile(prefix='netdebug-results-', suffix='.jsonl', delete=False) as fh:
            results_file = fh.name
        try:
            proc = subprocess.run(argv, env=self._env(results_file, extra_env), capture_output=True, text=True,
                                  timeout=timeout, check=False)
            with open(results_file, encoding='utf-8') as fh:
                results = [json.loads(line) for line in fh if line.strip()]
        finally:
            os.unlink(results_file)
        return AnsibleResult(proc, results)

    def module(self, pattern, module, args=None, check=False, diff=False, extra_env=None, timeout=600):
        """Ad-hoc module call; args is a dict passed as JSON."""
        argv = ['ansible', pattern, '-i', self.inventory, '-m', module, '-a', json.dumps(args or {})]
        argv += ['--check'] if check else []
        argv += ['--diff'] if diff else []
        return self._run(argv, extra_env=extra_env, timeout=timeout)

    def playbook(self, playbook, extra_vars=None, check=False, diff=False, limit=None, extra_env=None, timeout=900):
        argv = ['ansible-playbook', '-i', self.inventory, str(playbook)]
        if extra_vars:
            argv += ['-e', json.dumps(extra_vars)]
        argv += ['--check'] if check else []
        argv += ['--diff'] if diff else []
        argv += ['--limit', limit] if limit else []
        return self._run(argv, extra_env=extra_env, timeout=timeout)


class AnsibleResult:
    def __init__(self, proc, results):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = results

    def by_host(self, task=None):
        """host -> result dict of the (last) matching task."""
        return {r['host']: r['result'] for r in self.results if task is None or r['task'] == task}

    def statuses(self, task=None):
        return {r['host']: r['status'] for r in self.results if task is None or r['task'] == task}

    def __repr__(self):
        return 'AnsibleResult(rc=%r)\nSTDOUT:\n%s\nSTDERR:\n%s' % (self.rc, self.stdout[-4000:], self.stderr[-4000:])


@pytest.fixture(scope='session')
def netns_lab():
    """A 3-node netns lab for the whole session, taken down at the end even when tests fail."""
    from labkit.netns import NetnsLab  # pylint: disable=import-outside-toplevel

    lab = NetnsLab()
    lab.down()  # a crashed earlier run must not leak into this one
    lab.up(3)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope='session')
def lab_ansible(netns_lab):
    return AnsibleRun(netns_lab.inventory())
