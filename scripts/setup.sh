#!/bin/bash
# Install what building and testing ferro-ocf needs on Debian 12, build it and its .deb
# (target/debian/), and install the agents (/usr/sbin/ferro-ocf and
# /usr/lib/ocf/resource.d/ferro/*). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs packages and the agents)" >&2; exit 1; }

PACKAGES=(
    # the cluster stack and the reference agents we are a drop-in for (ocf-tester, the DTD)
    pacemaker pacemaker-cli-utils corosync pcs crmsh resource-agents drbd-utils
    # the quorum-arbiter variant (tests/live/pacemaker-2node.sh ARBITER=qnetd)
    corosync-qdevice corosync-qnetd
    # what the agents drive and the tests use
    iproute2 util-linux kmod procps psmisc e2fsprogs xfsprogs btrfs-progs nfs-kernel-server arping
    libxml2-utils strace iputils-ping
    # the .deb's test in a clean Debian root, the VM lab (its smoke run is part of the tests)
    mmdebstrap dpkg-dev man-db qemu-system-x86 openssh-client
    # building
    gcc pkg-config ca-certificates
)
scripts/apt-install.sh "${PACKAGES[@]}"

if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
    echo "setup: no cargo found; installing Debian's (needs Rust >= 1.80)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cargo rustc
fi

# The release build and the .deb made from it (the VM lab installs the .deb into its nodes).
scripts/deb.sh >/dev/null
./target/release/ferro-ocf install
