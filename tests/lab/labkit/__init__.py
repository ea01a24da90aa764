"""labkit: the test fleet behind tests/lab/lab (network-namespace nodes and Debian VMs).

Kinds are modules of this package, looked up lazily by the CLI: ``labkit.netns.NetnsLab`` and ``labkit.vm.VmLab``.
Shared helpers (state directory, SSH keys, inventory, command runner) live in ``labkit.common``.
"""
