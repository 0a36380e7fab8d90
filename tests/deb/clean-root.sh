#!/bin/bash
# The .deb in a clean Debian 12 root: install, upgrade from the previous build, remove, purge.
#   tests/deb/clean-root.sh DEB
# DEB is the package under test (scripts/deb.sh). The previous build is the same source with
# a lower version (scripts/deb.sh in its own target dir), so that the upgrade replaces a
# binary that really differs (`ferro-ocf --version` names another revision).
# The root is a minimal bookworm with pcs (mmdebstrap, cached by this script's hash); each run
# unpacks it afresh into a temporary directory, works in a private mount namespace (/proc and
# /dev for the chroot) and removes it at exit. Prints "DEB PASS: ..." at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root_dir=$(cd "$here/../.." && pwd)
deb=$(realpath "$1")
CACHE=${FERRO_LAB_CACHE:-/var/cache/ferro-lab}
MIRROR=${FERRO_LAB_MIRROR:-http://deb.debian.org/debian}
log() { printf '%s [deb] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (chroot)"
"$root_dir/scripts/apt-install.sh" mmdebstrap

# The clean root: Debian 12 with pcs (and the Pacemaker CLI it drives), nothing of ferro-ocf.
key=$(sha256sum "$0" | cut -c1-12)
tarball=$CACHE/deb-root-$key.tar
if [ ! -s "$tarball" ]; then
  mkdir -p "$CACHE"
  log "mmdebstrap bookworm with pcs -> $tarball (once)"
  "$here/../lab/mmdebstrap.sh" --variant=apt --mode=root --format=tar --include=pcs,pacemaker-cli-utils,man-db,mount \
    --aptopt='Acquire::Retries "3"' bookworm "$tarball.tmp" "$MIRROR" >&2
  mv "$tarball.tmp" "$tarball"
fi

work=$(mktemp -d /var/tmp/ferro-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "previous build (version 0.1.0-0, revision 'previous')"
prev=$(cd "$root_dir" && CARGO_TARGET_DIR="$root_dir/target/deb-previous" FERRO_GIT_REV=previous \
  scripts/deb.sh --deb-version 0.1.0-0 | tail -1) || die "cannot build the previous package"
cp "$prev" "$work/prev.deb"
cp "$deb" "$work/current.deb"
mkdir "$work/root"
tar -C "$work/root" -xf "$tarball"

# The steps run in the chroot; each prints what it checked.
cat > "$work/root/steps.sh" <<'STEPS'
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
agents=(drbd Filesystem exportfs nfsserver IPaddr2)
state() {  # everything outside the package database that a package could leave behind
  find /usr /etc /var/lib /opt -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache \) -prune \
    -o -print 2>/dev/null | LC_ALL=C sort
}
describe_all() {
  for a in "${agents[@]}"; do
    out=$(pcs resource describe "ocf:ferro:$a" 2>&1) || { echo "pcs resource describe ocf:ferro:$a failed: $out"; exit 1; }
    grep -q "Resource options:" <<<"$out" || { echo "pcs resource describe ocf:ferro:$a: no options: $out"; exit 1; }
  done
  echo "pcs resource describe works for ${agents[*]}"
}
state > /before
echo "== install the previous build"
dpkg -i /prev.deb
ferro-ocf --version | grep -q "(git previous)" || { echo "not the previous build: $(ferro-ocf --version)"; exit 1; }
describe_all
echo "== upgrade to the build under test"
dpkg -i /current.deb
v=$(ferro-ocf --version); echo "$v"
case $v in *"(git previous)"*) echo "upgrade left the previous binary"; exit 1;; esac
[ "$(dpkg-query -W -f='${Version}' ferro-ocf)" != 0.1.0-0 ] || { echo "dpkg still has 0.1.0-0"; exit 1; }
for a in "${agents[@]}"; do
  [ "$(readlink -f /usr/lib/ocf/resource.d/ferro/$a)" = /usr/sbin/ferro-ocf ] || { echo "link $a is wrong"; exit 1; }
done
[ "$(ferro-ocf --list | wc -l)" = "${#agents[@]}" ] || { echo "the package's links and the binary's agents differ"; exit 1; }
describe_all
man -w ferro-ocf >/dev/null && man ferro-ocf 2>/dev/null | grep -q "AGENT ocf:ferro:IPaddr2" && echo "man ferro-ocf has the agents"
for a in "${agents[@]}"; do
  man ferro-ocf 2>/dev/null | grep -q "AGENT ocf:ferro:$a" || { echo "man page lacks $a"; exit 1; }
done
ls /usr/share/doc/ferro-ocf/examples/ha-nfs.pcs.sh >/dev/null
echo "== remove"
dpkg -r ferro-ocf
[ ! -e /usr/sbin/ferro-ocf ] && [ ! -e /usr/lib/ocf/resource.d/ferro ] || { echo "remove left the agents"; exit 1; }
dpkg -s ferro-ocf 2>/dev/null | grep -q '^Status: install ok installed' && { echo "dpkg still has it installed"; exit 1; }
echo "== install again, then purge"
dpkg -i /current.deb >/dev/null
describe_all
dpkg -P ferro-ocf
dpkg-query -W ferro-ocf 2>/dev/null && { echo "dpkg still knows ferro-ocf"; exit 1; }
state > /after
if ! diff /before /after; then echo "purge left the files above"; exit 1; fi
echo "nothing of ferro-ocf is left"
STEPS
cp "$work/prev.deb" "$work/current.deb" "$work/root/"
log "install, upgrade, remove, purge in $work/root"
unshare --mount --propagation private bash -c '
  set -e; r=$1
  mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"; mount -t tmpfs tmpfs "$r/tmp"
  exec chroot "$r" bash /steps.sh' _ "$work/root" >&2 || die "in the clean root (see above)"
echo "DEB PASS: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) installed over 0.1.0-0, pcs describes every agent, removed and purged without a trace"
