#!/bin/bash
# The whole test suite, as root, on this machine: unit tests, and integration tests against the
# real kernel (network namespaces with veth pairs, loop devices with XFS and ext4), the real
# Pacemaker tools (crm_verify, crm_simulate, pcs, ocf-tester) and the reference agents.
# The VM lab (DRBD, NFS, failover) is separate and slow: tests/lab/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
# Release build: the binary under test is the one installed and benchmarked.
# One test thread at a time per binary would be slow; tests use unique names for namespaces,
# loop devices and directories, so they run in parallel.
exec cargo test --release --locked "$@"
