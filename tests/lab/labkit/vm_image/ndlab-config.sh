#!/bin/sh
# Installed as /usr/local/sbin/ndlab-config and run once per boot by ndlab-config.service.
# /dev/vdb is a raw tar archive written by tests/lab/labkit/vm.py for this VM: hostname, hosts, the
# systemd-networkd file with its address, root's authorized_keys and its own SSH host key.
set -eu
src=/run/ndlab-config
rm -rf "$src"
mkdir -m 0700 "$src"
tar -x -f /dev/vdb -C "$src" --no-same-owner
install -m 0644 "$src/hostname" /etc/hostname
hostname "$(cat /etc/hostname)"
install -m 0644 "$src/hosts" /etc/hosts
install -d -m 0755 /etc/systemd/network
install -m 0644 "$src/10-ndlab.network" /etc/systemd/network/10-ndlab.network
install -d -m 0700 /root/.ssh
install -m 0600 "$src/authorized_keys" /root/.ssh/authorized_keys
install -m 0600 "$src/ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
install -m 0644 "$src/ssh_host_ed25519_key.pub" /etc/ssh/ssh_host_ed25519_key.pub
rm -rf "$src"
