#!/bin/bash
# Build the Debian package target/debian/ferro-ocf_<version>_<arch>.deb with cargo-deb:
# /usr/sbin/ferro-ocf, the /usr/lib/ocf/resource.d/ferro/* links, ferro-ocf(8) made from the
# agents' metadata, the crm-examples under /usr/share/doc/ferro-ocf/examples.
#   scripts/deb.sh [cargo-deb options, e.g. --deb-version 0.1.0-0]
# Prints the path of the .deb. Installs cargo-deb (from crates.io) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "deb.sh: installing cargo-deb $CARGO_DEB_VERSION (crates.io)" >&2
    cargo install --locked --version "$CARGO_DEB_VERSION" cargo-deb >&2
fi
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked >&2
# The manual page comes from the binary itself (its embedded metadata), so it cannot drift.
"$target/release/ferro-ocf" man | gzip -9n > "$target/release/ferro-ocf.8.gz"
cargo deb --no-build --locked "$@" 2>&1 >/dev/null | grep -v '^warning: .*(ignored)' >&2 || true
deb=$(ls -t "$target"/debian/ferro-ocf_*.deb | head -1)
[ -n "$deb" ] && [ "$deb" -nt "$target/release/ferro-ocf" ] || { echo "deb.sh: cargo deb made no package" >&2; exit 1; }
echo "$deb"
