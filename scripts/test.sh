#!/usr/bin/env bash
# Runs every test: makes sure system packages and models are there (cached outside the clone,
# so repeat runs are quick), checks formatting and lints, then runs the test suite in release
# mode (whisper is far too slow unoptimised). Tests on ../shared/media skip when it is absent;
# the demo video (registry packages) is built so that its verdict is tested too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_system_packages
cargo build --release --quiet
install_models target/release/liveness
install_vision_models
make_demo_video >/dev/null
LIVENESS_SCHEMATHESIS="$(schemathesis_venv)/bin/schemathesis"
export LIVENESS_SCHEMATHESIS
LIVENESS_WEED="$(install_weed)"
export LIVENESS_WEED
cargo fmt --all -- --check
cargo clippy --release --all-targets --quiet -- -D warnings
# The library as a program that depends on it builds it: internal modules crate-private
# (the targets above turn on the `internals` feature through the dev-dependency).
cargo clippy --release --lib --bins --quiet -- -D warnings
# The verifier alone (no HTTP service, no model converters) builds and lints clean too.
cargo clippy --release --no-default-features --lib --bins --quiet -- -D warnings
cargo test --release -- --test-threads "${TEST_THREADS:-1}"
# The library's public API: documented without warnings, and its runnable examples on the
# demo video (examples/verify.rs: a verdict per file; examples/batch.rs: a resumable folder
# loop, run twice: the second run finds everything done).
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
demo=$(make_demo_video)
out=$(cargo run --release --quiet --example verify -- "$demo" examples/demo-live-video.json)
echo "$out"
grep -q 'actions \["openMouth"\]: clear' <<<"$out"
batch_dir=$(mktemp -d)
cp "$demo" "$batch_dir/demo.mp4" && cp examples/demo-live-video.json "$batch_dir/demo.json"
out=$(cargo run --release --quiet --example batch -- "$batch_dir")
echo "$out"
grep -q '^1 verified, 0 already done, 0 failed' <<<"$out"
grep -q '"outcome": "attention"' "$batch_dir/demo.result.json"
out=$(cargo run --release --quiet --example batch -- "$batch_dir")
grep -q '^0 verified, 1 already done' <<<"$out"
rm -rf "$batch_dir"
