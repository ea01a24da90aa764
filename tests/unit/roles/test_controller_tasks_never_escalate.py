# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""With -b, node tasks escalate and controller tasks must not: every task or include delegated to localhost, and
every play that runs on localhost only, says become: false (issue 15)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
FILES = sorted(ROOT.glob('playbooks/*.yml')) + sorted(ROOT.glob('roles/*/tasks/*.yml'))


def _tasks(items):
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers'):
            yield from _tasks(item.get(key))


def _controller_side(task):
    apply = (task.get('ansible.builtin.include_role') or {}).get('apply') or {}
    if task.get('delegate_to') == 'localhost':
        return task
    if apply.get('delegate_to') == 'localhost':
        return apply
    if task.get('hosts') == 'localhost':  # a play
        return task
    return None


@pytest.mark.parametrize('path', FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_controller_tasks_say_become_false(path):
    missing = []
    for task in _tasks(yaml.safe_load(path.read_text())):
        where = _controller_side(task)
        if where is not None and where.get('become') is not False:
            missing.append(task.get('name'))
    assert not missing, '%s: controller-side tasks without become: false: %s' % (path.name, missing)


def test_the_scan_sees_controller_tasks():
    seen = [t for path in FILES for t in _tasks(yaml.safe_load(path.read_text())) if _controller_side(t) is not None]
    assert len(seen) >= 9
