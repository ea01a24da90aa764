"""Command line of the lab: tests/lab/lab {up,down,status,inventory,exec} (see docs/lab.md)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from .common import LabError

# Kinds are imported only when used, so that one kind's missing pieces never break the other.
KINDS = {'netns': ('labkit.netns', 'NetnsLab'), 'vm': ('labkit.vm', 'VmLab')}
KEEPER_ARG = '_netns-keeper'  # internal: the process that holds a netns node (see labkit.netns)


def load_kind(kind):
    module_name, class_name = KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LabError('the %s kind is not available: %s' % (kind, exc)) from exc
    return getattr(module, class_name)()


def _kind_option(parser, default='netns'):
    parser.add_argument('--kind', choices=sorted(KINDS), default=default,
                        help='netns: namespaces on this machine (default); vm: Debian VMs under qemu')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='lab', description='The netdebug.netfilter test fleet: network-namespace nodes or Debian VMs.',
        epilog='Run as root. Guide: docs/lab.md.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)

    up = sub.add_parser('up', help='start N nodes (no-op when the same N is already up)')
    _kind_option(up)
    up.add_argument('--nodes', type=int, required=True, metavar='N', help='number of nodes, node1..nodeN')
    up.add_argument('--kvm', action='store_true', help='vm kind: use KVM instead of TCG')

    down = sub.add_parser('down', help='remove everything the kind made (idempotent, works after a crash)')
    _kind_option(down)

    status = sub.add_parser('status', help='print what is up, as JSON (every kind unless --kind is given)')
    _kind_option(status, default=None)

    inventory = sub.add_parser('inventory', help='print the path of the YAML inventory (last line)')
    _kind_option(inventory)

    run = sub.add_parser('exec', help='run a command on a node; exits with its exit code')
    _kind_option(run)
    run.add_argument('--timeout', type=float, default=None, help='seconds before the command is killed')
    run.add_argument('node', metavar='NODE', help='node1..nodeN')
    run.add_argument('argv', nargs=argparse.REMAINDER, metavar='-- CMD [ARGS...]')
    return parser


def cmd_up(args):
    opts = {'kvm': True} if args.kvm else {}
    lab = load_kind(args.kind)
    before = lab.status()
    started = time.monotonic()
    lab.up(args.nodes, **opts)
    status = lab.status()
    for warning in status.get('warnings', []):
        sys.stderr.write('lab: warning: %s\n' % warning)
    if before.get('up') and before.get('nodes') == args.nodes:
        print('%s lab already up: %d nodes' % (args.kind, args.nodes))  # callers use this to report "unchanged"
    else:
        print('%s lab up: %d nodes (%.1fs)' % (args.kind, status.get('nodes', args.nodes), time.monotonic() - started))
    print(lab.inventory())
    return 0


def cmd_down(args):
    load_kind(args.kind).down()
    print('%s lab down' % args.kind)
    return 0


def cmd_status(args):
    if args.kind:
        result = load_kind(args.kind).status()
    else:
        result = {}
        for kind in sorted(KINDS):
            try:
                result[kind] = load_kind(kind).status()
            except LabError as exc:
                result[kind] = {'kind': kind, 'up': False, 'error': str(exc)}
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def cmd_inventory(args):
    print(load_kind(args.kind).inventory())
    return 0


def cmd_exec(args):
    argv = args.argv[1:] if args.argv[:1] == ['--'] else args.argv
    if not argv:
        raise LabError('exec needs a command: tests/lab/lab exec --kind %s %s -- CMD [ARGS...]' % (args.kind, args.node))
    proc = load_kind(args.kind).exec(args.node, argv, timeout=args.timeout)
    sys.stdout.buffer.write(proc.stdout or b'')
    sys.stdout.flush()
    sys.stderr.buffer.write(proc.stderr or b'')
    sys.stderr.flush()
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


COMMANDS = {'up': cmd_up, 'down': cmd_down, 'status': cmd_status, 'inventory': cmd_inventory, 'exec': cmd_exec}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [KEEPER_ARG]:
        from .netns import keeper_main  # pylint: disable=import-outside-toplevel
        return keeper_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (LabError, OSError) as exc:
        sys.stderr.write('lab: error: %s\n' % exc)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write('lab: interrupted\n')
        return 130
