#!/usr/bin/env bash
# Runs every test of driftwatch. Installs what the integration tests need first: Debian's
# `prometheus` (a real server that scrapes the sidecar in tests/prometheus.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing Debian's prometheus for the integration tests" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus >/dev/null
fi

# Outside the clone so repeated runs are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/driftwatch-target}"

# Benches are not run here (they are measurements, not tests), but they must keep compiling.
cargo build --locked --benches
cargo test --locked
