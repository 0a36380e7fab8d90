#!/bin/bash
# scripts/apt-install.sh PACKAGE... : install those of the Debian packages that are missing
# (one apt-get run; messages on stderr). Used by scripts/setup.sh and the VM lab.
set -euo pipefail
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "apt-install: installing ${missing[*]}" >&2
apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
# The tests and the lab run their own qnetd in a namespace: installing the package must not
# leave an arbiter listening on this machine.
if [[ " ${missing[*]} " == *" corosync-qnetd "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now corosync-qnetd.service >/dev/null 2>&1 || true
fi
