#!/bin/bash
# Benchmark ferro-ocf against the reference agents on this machine and write docs/bench.md.
# As root. --quick: 10 iterations per case instead of 100.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
mkdir -p docs
cargo bench --locked --bench agents -- --out docs/bench.md "$@"
