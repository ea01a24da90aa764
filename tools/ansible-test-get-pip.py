"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test --venv downloads get-pip from a host that only package registries may replace here; its own error
message says a script may be saved into its cache instead. tools/setup saves this file there. It runs with the
arguments ansible-test gives get-pip (pip install arguments): bootstrap pip from the interpreter's bundled wheel,
then install the exact versions requested from the package index.
"""
import subprocess
import sys

# get-pip-only switches; plain pip install does not know them (it installs neither unless asked).
GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')

args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args)
