#!/bin/bash
# Build (or reuse) the lab's guest image from Debian 12 packages with mmdebstrap.
# Output in $CACHE/<key>/: root.ext4 (raw ext4 root fs), vmlinuz, initrd.img, id_lab{,.pub}.
# The key hashes this script and the guest overlay, so a change rebuilds and a rerun reuses.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${FERRO_LAB_CACHE:-/var/cache/ferro-lab}
MIRROR=${FERRO_LAB_MIRROR:-http://deb.debian.org/debian}

PACKAGES=(
  linux-image-amd64 initramfs-tools systemd-sysv udev kmod dbus openssh-server
  iproute2 iputils-ping procps psmisc python3 less nftables
  drbd-utils pacemaker corosync corosync-qdevice pcs crmsh resource-agents
  nfs-kernel-server nfs-common xfsprogs
)

key=$( { cat "$HERE/build-image.sh"; (cd "$HERE/guest" && find . -type f | LC_ALL=C sort | xargs sha256sum); } | sha256sum | cut -c1-16)
out=$CACHE/$key
if [[ -f $out/done ]]; then
  echo "$out"
  exit 0
fi
for t in mmdebstrap mkfs.ext4; do
  command -v $t >/dev/null || { echo "build-image: $t missing (apt-get install mmdebstrap e2fsprogs)" >&2; exit 1; }
done
mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"
ssh-keygen -q -t ed25519 -N '' -C ferro-lab -f "$tmp/out/id_lab"

echo "build-image: mmdebstrap bookworm -> $tmp/root (a few minutes)" >&2
inc=$(IFS=,; echo "${PACKAGES[*]}")
"$HERE/mmdebstrap.sh" --variant=apt --mode=root --include="$inc" \
  --aptopt='Acquire::Retries "3"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook="sync-in '$HERE/guest/rootfs' /" \
  --customize-hook="mkdir -p \"\$1/root/.ssh\" && install -m 600 '$tmp/out/id_lab.pub' \"\$1/root/.ssh/authorized_keys\"" \
  --customize-hook="chroot \"\$1\" sh -ec '
      echo lab > /etc/hostname
      printf \"/dev/vda / ext4 rw,errors=remount-ro 0 1\n\" > /etc/fstab
      printf \"[nfsd]\nlease-time=10\ngrace-time=10\n\" >> /etc/nfs.conf
      systemctl enable lab-boot.service systemd-networkd.service ssh.service
      # Pacemaker owns these; the lab starts the cluster stack itself.
      for u in corosync corosync-qdevice pacemaker pcsd pcsd-ruby drbd nfs-server apt-daily.timer apt-daily-upgrade.timer \
               man-db.timer e2scrub_all.timer fstrim.timer; do
        systemctl disable \$u 2>/dev/null || true
      done
      systemctl mask systemd-networkd-wait-online.service
      # With this SysV script present, ocf:heartbeat:nfsserver (4.12) drives the NFS server through
      # it, never stops nfsdcld, and then cannot unmount /var/lib/nfs (nfs_shared_infodir): every
      # stop fails and the node is fenced. Without it the agent uses its systemd mode, which works.
      dpkg-divert --local --rename --add /etc/init.d/nfs-kernel-server
      ls /boot'" \
  bookworm "$tmp/root" "$MIRROR" >&2

cp "$tmp"/root/boot/vmlinuz-* "$tmp/out/vmlinuz"
cp "$tmp"/root/boot/initrd.img-* "$tmp/out/initrd.img"
echo "build-image: mkfs.ext4 -d" >&2
mkfs.ext4 -q -F -L labroot -d "$tmp/root" "$tmp/out/root.ext4" 3G >&2
chmod 644 "$tmp/out/vmlinuz" "$tmp/out/initrd.img"
rm -rf "$tmp/root"
touch "$tmp/out/done"
rm -rf "$out"
mv "$tmp/out" "$out"
echo "$out"
