#!/bin/bash
# Builds, once, the disk image `make vmtest` boots: Debian bookworm with
# systemd as PID 1, Debian's kernel, podman, containerd and runc, made by
# debootstrap. It is cached under $VMTEST_CACHE keyed by a hash of this
# script, so changing the script builds a new one; test programs and
# scripts are not in it (run.sh shares them with the VM at boot).
#
# Prints the image directory: disk.raw (ext4, the root filesystem),
# vmlinuz and initrd.img (the guest's kernel, booted directly by qemu).
set -euo pipefail

cache=${VMTEST_CACHE:-/var/cache/berth-vmtest}
here=$(cd "$(dirname "$0")" && pwd)
key=$(sha256sum "$here/image.sh" | cut -c1-12)
img=$cache/bookworm-$key

# Packages the guest needs beyond debootstrap's minbase: systemd with a
# D-Bus and user sessions (the systemd cgroup driver and rootless
# delegation), the kernel, the engines and runc (the reference).
base_pkgs=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,udev,kmod
extra_pkgs="linux-image-amd64 podman containerd runc busybox-static iproute2 procps util-linux strace"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 1200 9 || { echo "vmtest: waited 20 minutes for another image build ($cache/.lock)" >&2; exit 1; }
if [ -f "$img/disk.raw" ]; then
	echo "$img"
	exit 0
fi

# The mirror this host's apt uses for bookworm (VMTEST_MIRROR overrides).
mirror=${VMTEST_MIRROR:-$(apt-get indextargets --format '$(RELEASE) $(SITE)' 2>/dev/null | awk '$1 == "bookworm" { print $2; exit }')}
if [ -z "$mirror" ]; then
	echo "vmtest: no bookworm mirror in this host's apt sources; set VMTEST_MIRROR" >&2
	exit 1
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
start=$(date +%s)
echo "vmtest: building the guest image from $mirror (once; cached in $img)" >&2

timeout 900 debootstrap --variant=minbase --include="$base_pkgs" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 40 "$work/debootstrap.log" >&2
	[ -f "$root/debootstrap/debootstrap.log" ] && tail -n 40 "$root/debootstrap/debootstrap.log" >&2
	echo "vmtest: debootstrap failed" >&2
	exit 1
}
echo "vmtest: debootstrap done in $(($(date +%s) - start)) s" >&2

# Nothing may start services in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# The rest through apt in the chroot, in a private mount namespace so the
# chroot's /proc, /sys and /dev vanish with it whatever happens.
timeout 900 unshare --mount --propagation private /bin/sh -ec '
	root=$1; shift
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount --rbind /dev "$root/dev"
	export DEBIAN_FRONTEND=noninteractive LC_ALL=C
	chroot "$root" apt-get -q update
	chroot "$root" apt-get -q install -y --no-install-recommends "$@"
	chroot "$root" apt-get clean
' sh "$root" $extra_pkgs >"$work/apt.log" 2>&1 || {
	tail -n 40 "$work/apt.log" >&2
	echo "vmtest: installing the guest packages failed" >&2
	exit 1
}
rm -f "$root/usr/sbin/policy-rc.d"
echo "vmtest: packages installed after $(($(date +%s) - start)) s" >&2

# The guest: its name, its root, the 9p share run.sh provides, and the
# unit that runs the share's guest.sh and powers off.
echo berthvm >"$root/etc/hostname"
printf '127.0.1.1\tberthvm\n' >>"$root/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 0\n' >"$root/etc/fstab"
mkdir -p "$root/mnt/berth"
printf '9p\n9pnet_virtio\n' >"$root/etc/modules-load.d/berth-vmtest.conf"
cat >"$root/etc/systemd/system/berth-vmtest.service" <<'UNIT'
[Unit]
Description=berth make vmtest: run the suites from the host's share, then power off
Wants=user@1000.service dbus.service
After=multi-user.target user@1000.service dbus.service
[Service]
Type=oneshot
ExecStartPre=/bin/mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 berth /mnt/berth
ExecStart=/bin/sh /mnt/berth/guest.sh
ExecStopPost=/bin/systemctl poweroff --no-block
StandardOutput=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/berth-vmtest.service "$root/etc/systemd/system/multi-user.target.wants/berth-vmtest.service"
# A user with a lingering systemd user manager, for rootless containers,
# and every controller delegated to user managers (systemd's default is
# fewer), as rootless podman's documentation asks.
chroot "$root" useradd -m -u 1000 -s /bin/sh rootless
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/rootless"
mkdir -p "$root/etc/systemd/system/user@.service.d"
printf '[Service]\nDelegate=cpu cpuset io memory pids\n' >"$root/etc/systemd/system/user@.service.d/delegate.conf"
# What the suites start themselves, or what only slows the boot.
for unit in containerd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	fstrim.timer man-db.timer podman-restart.service podman-auto-update.timer serial-getty@ttyS0.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

kernel=$(ls "$root"/boot/vmlinuz-* | head -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | head -n 1)
mkdir "$work/img"
cp "$kernel" "$work/img/vmlinuz"
cp "$initrd" "$work/img/initrd.img"
mkfs.ext4 -q -F -L berthvm -d "$root" "$work/img/disk.raw" 8G >&2
rm -rf "$root"
# Older images (other versions of this script) are no longer needed.
find "$cache" -maxdepth 1 -name 'bookworm-*' -not -name "bookworm-$key" -exec rm -rf {} +
mv "$work/img" "$img"
echo "vmtest: image built in $(($(date +%s) - start)) s" >&2
echo "$img"
