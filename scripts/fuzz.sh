#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/, over src/fuzz_targets.rs) for SECONDS (default 60) with
# libFuzzer. Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash is
# left in fuzz/artifacts/<target>/; copy it into fuzz/regressions/<target>/ so that
# tests/fuzz_smoke.rs replays it in every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
for target in live_video recital sniff; do
  echo "== $target ($seconds s)"
  cargo +nightly fuzz run -O "$target" --sanitizer none -- -max_total_time="$seconds" -max_len=4096
done
