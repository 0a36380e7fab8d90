#!/bin/bash
# The whole test suite, as root, on this machine: unit tests, and integration tests against the
# real kernel (network namespaces with veth pairs, loop devices with XFS and ext4), the real
# Pacemaker tools (crm_verify, crm_simulate, pcs, ocf-tester) and the reference agents.
# DRBD runs in the lab's smoke test (two qemu VMs, tests/lab_smoke.rs; FERRO_LAB_SMOKE=0 skips
# it); the failover experiments of the VM lab are separate and slow: tests/lab/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
# Release build: the binary under test is the one installed and benchmarked. Tests use unique
# names for namespaces, loop devices and directories, so they run in parallel.
log=$(mktemp /tmp/ferro-test.XXXXXX)
trap 'rm -f "$log"' EXIT
rc=0
cargo test --release --locked "$@" 2>&1 | tee "$log" || rc=$?
# One line for the whole run, summed over the test binaries: the last result line of each (a
# test that re-runs its own binary in a namespace prints the child's result line first).
awk 'function add() { p += r[4]; f += r[6]; i += r[8]; split("", r) }
     /^ *Running / { add() }
     /^test result:/ { split($0, r, " ") }
     END { add(); printf "total: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$rc"
