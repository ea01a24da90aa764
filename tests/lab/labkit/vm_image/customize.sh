#!/bin/sh
# Runs inside the freshly debootstrapped root (chroot) during the image build (tests/lab/labkit/image.py).
# $1 is this recipe directory as seen from inside the root.
set -eu
recipe=$1
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# A small initrd (only what mounting /dev/vda needs) unpacks and boots much faster under TCG.
install -m 0644 "$recipe/initramfs-modules" /etc/initramfs-tools/modules
sed -i 's/^MODULES=.*/MODULES=list/' /etc/initramfs-tools/initramfs.conf
update-initramfs -u -k all

# Per-VM identity comes from the config disk, applied before the network, sshd and rsyslog start.
install -m 0755 "$recipe/ndlab-config.sh" /usr/local/sbin/ndlab-config
install -m 0644 "$recipe/ndlab-config.service" /etc/systemd/system/ndlab-config.service
install -m 0644 "$recipe/sshd-ndlab.conf" /etc/ssh/sshd_config.d/ndlab.conf
install -m 0644 "$recipe/modprobe-ndlab.conf" /etc/modprobe.d/ndlab.conf
systemctl enable ndlab-config.service systemd-networkd.service
# Nothing in the lab waits for "online"; timers would only steal CPU from TCG guests.
systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer getty@tty1.service
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' > /etc/fstab

# Each VM gets its own host key (config disk) and machine-id (kernel command line).
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
printf 'localhost\n' > /etc/hostname
# The lab has no DNS; do not carry the build host's resolver into the VMs.
: > /etc/resolv.conf

# Keep the image small: nothing is installed later inside the VMs (they have no route out).
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/info/* /var/log/*.log \
    /var/cache/debconf/*-old /var/lib/dpkg/*-old
