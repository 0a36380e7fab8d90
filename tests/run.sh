#!/bin/bash
# The whole test suite, as root, on this machine: unit tests, and integration tests against the
# real kernel (network namespaces with veth pairs, loop devices with XFS and ext4), the real
# Pacemaker tools (crm_verify, crm_simulate, pcs, ocf-tester), the reference agents, the .deb in
# a clean Debian 12 root, and the VM lab's smoke run (two qemu VMs with DRBD, tests/lab_smoke.rs;
# FERRO_LAB_SMOKE=0 skips it). The failover experiments of the VM lab are separate and slow:
# tests/lab/run.sh.
#
# Every test binary runs, also after one fails. The total line counts a test that did not run
# its check (tool missing, not root, ...) as skipped, not passed; under CI=true such a skip
# fails the run unless tests/optional-skips lists the test as optional.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
log=$(mktemp /tmp/ferro-test.XXXXXX)
skips=$(mktemp /tmp/ferro-skips.XXXXXX)
trap 'rm -f "$log" "$skips"' EXIT
export FERRO_TEST_SKIPS=$skips
rc=0
# Release build: the binary under test is the one installed and benchmarked. Tests use unique
# names for namespaces, loop devices and directories, so they run in parallel.
cargo test --release --locked --no-fail-fast "$@" 2>&1 | tee "$log" || rc=$?

# One line for the whole run, summed over the test binaries: the last result line of each (a
# test that re-runs its own binary in a namespace prints the child's result line first).
# Skipped tests are taken out of the passed ones (under CI=true a skip that is not optional
# has already failed its test).
skipped=$(awk -F'\t' '$2 == "skipped" {print $1}' "$skips" | sort -u | wc -l)
echo
if [ -s "$skips" ]; then
  echo "skips (test, outcome, reason):"
  sort -u "$skips" | sed 's/^/  /'
fi
binaries=$(grep -c '^ *Running ' "$log" || true)
awk -v skipped="$skipped" -v binaries="$binaries" '
     function add() { if (4 in r) { n++; p += r[4]; f += r[6]; i += r[8] }; split("", r) }
     /^ *Running / { add() }
     /^test result:/ { split($0, r, " ") }
     END { add()
           printf "total: %d passed, %d failed, %d skipped (%d of %d test binaries reported)\n",
                  p - skipped, f, i + skipped, n, binaries }' "$log"
exit "$rc"
