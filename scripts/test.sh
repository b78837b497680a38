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
# The verifier alone (no HTTP service, no model converters) builds and lints clean too.
cargo clippy --release --no-default-features --lib --bins --quiet -- -D warnings
cargo test --release -- --test-threads "${TEST_THREADS:-1}"
