#!/bin/bash
# Build (or reuse) DRBD 9 kernel modules for the kernel of the lab's guest image.
#
#   tests/lab/build-drbd9.sh IMAGE_DIR     prints the directory holding the .ko files
#
# Debian 12's kernel ships only DRBD 8.4. The modules are built in a throwaway mmdebstrap
# chroot of bookworm holding linux-headers-<the image's kernel release>, gcc, make and
# coccinelle: the exact headers come from the same archive as the image, whatever the host
# runs, and the host gets no compiler or headers installed. The result is cached under
# $FERRO_LAB_CACHE/drbd9/<release>-<key>/, keyed by the kernel release, the source tarball's
# checksum and this script; a rerun reuses it.
#
# Source: $FERRO_DRBD9_TARBALL, else ../shared/vendor/drbd-9.2.8.tar.gz next to the repository,
# else LINBIT's release download (kept in the cache). Facts about the build:
# ../shared/vendor/README.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${FERRO_LAB_CACHE:-/var/cache/ferro-lab}
MIRROR=${FERRO_LAB_MIRROR:-http://deb.debian.org/debian}
VERSION=9.2.8
URL=https://pkg.linbit.com/downloads/drbd/9/drbd-$VERSION.tar.gz
img=${1:?usage: build-drbd9.sh IMAGE_DIR}

say() { echo "build-drbd9: $*" >&2; }

# The kernel release the image boots: its one directory under /lib/modules (read from the
# ext4 image without mounting it).
release=$(debugfs -R 'ls -p /lib/modules' "$img/root.ext4" 2>/dev/null |
  awk -F/ '$6 != "." && $6 != ".." && $6 != "" { print $6 }')
[[ -n $release && $release != *$'\n'* ]] ||
  { say "cannot tell the kernel release of $img/root.ext4 (/lib/modules: '${release//$'\n'/ }')"; exit 1; }

tarball=${FERRO_DRBD9_TARBALL:-}
if [[ -z $tarball && -f $ROOT/../shared/vendor/drbd-$VERSION.tar.gz ]]; then
  tarball=$ROOT/../shared/vendor/drbd-$VERSION.tar.gz
fi
if [[ -z $tarball ]]; then
  tarball=$CACHE/drbd9/drbd-$VERSION.tar.gz
  if [[ ! -f $tarball ]]; then
    say "downloading $URL"
    mkdir -p "$CACHE/drbd9"
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "$URL" "$tarball.part" && mv "$tarball.part" "$tarball" ||
      { rm -f "$tarball.part"; say "download of $URL failed (FERRO_DRBD9_TARBALL=<path> to use a local copy)"; exit 1; }
  fi
fi
[[ -f $tarball ]] || { say "no DRBD 9 source: $tarball"; exit 1; }

key=$( { sha256sum < "$tarball"; cat "$HERE/build-drbd9.sh"; } | sha256sum | cut -c1-16)
out=$CACHE/drbd9/$release-$key
if [[ -f $out/done ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$CACHE/drbd9"
tmp=$(mktemp -d "$CACHE/drbd9/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"
cp "$tarball" "$tmp/drbd.tar.gz"
# Run inside the chroot. SPAAS=false: coccinelle runs locally, nothing is fetched from LINBIT's
# patch service. Debian's 6.1 stable kernels have the 4-argument genlmsg_multicast_allns() (no
# gfp flags), which 9.2.8's compat checks do not detect: the call drops its flags argument.
cat > "$tmp/build.sh" <<'SH'
set -eu
release=$1
cd /build && tar xzf drbd.tar.gz && cd drbd-*/
f=drbd/drbd-headers/linux/genl_magic_func-genl_register_family_with_ops_groups.h
sed -i 's/group_id, flags);/group_id);/' "$f"
grep -q 'group_id);' "$f" && ! grep -q 'group_id, flags' "$f" || { echo "genlmsg_multicast_allns call not found in $f" >&2; exit 1; }
make KVER="$release" KDIR="/lib/modules/$release/build" SPAAS=false -j"$(nproc)" > /build/make.log 2>&1 ||
  { tail -40 /build/make.log >&2; exit 1; }
SH
say "mmdebstrap bookworm with linux-headers-$release, building $(basename "$tarball") (a few minutes)"
"$HERE/mmdebstrap.sh" --variant=apt --mode=root \
  --include="linux-headers-$release,gcc,make,coccinelle,patch,kmod,libc6-dev" \
  --aptopt='Acquire::Retries "3"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --customize-hook="mkdir -p \"\$1/build\" && cp '$tmp/drbd.tar.gz' '$tmp/build.sh' \"\$1/build/\"" \
  --customize-hook="nice -n 10 chroot \"\$1\" sh /build/build.sh '$release'" \
  --customize-hook="find \"\$1/build\" -name '*.ko' -exec cp {} '$tmp/out/' ';'; cp \"\$1/build/make.log\" '$tmp/out/'" \
  bookworm "$tmp/root" "$MIRROR" >&2
rm -rf "$tmp/root"
ls "$tmp/out"/drbd.ko "$tmp/out"/drbd_transport_tcp.ko >/dev/null ||
  { say "no drbd.ko / drbd_transport_tcp.ko built (make.log: $tmp/out/make.log)"; exit 1; }
echo "$release" > "$tmp/out/release"
echo "$(basename "$tarball") $(sha256sum < "$tarball" | cut -d' ' -f1)" > "$tmp/out/source"
touch "$tmp/out/done"
rm -rf "$out"
mv "$tmp/out" "$out"
say "modules for $release: $(cd "$out" && echo *.ko)"
echo "$out"
