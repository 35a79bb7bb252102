#!/usr/bin/env bash
# Runs every test of driftwatch, the system tests included. Installs what those need first: Debian's
# `prometheus` (a real server that scrapes the sidecar in tests/it/prometheus.rs),
# `prometheus-alertmanager` (delivers alerts to the sidecar in tests/it/alertmanager.rs) and
# `docker-compose`, and kubernetes-validate from PyPI (tests/it/deploy.rs checks deploy/ with them),
# and the kserve wheel from PyPI, downloaded, not installed, into ~/.cache/driftwatch-pip
# (deploy/kubernetes/validate_kserve.py reads KServe's types out of it to check the InferenceService;
# DRIFTWATCH_KSERVE_WHEEL names it), and @grafana/schema with typescript from npm
# (tests/it/dashboards.rs type-checks the dashboards), and `chromium` (tests/it/report_browser.rs
# renders the drift report headless), and prometheus_client from PyPI (its strict OpenMetrics parser
# checks the exposition).
# Then turns on the `system-tests` feature, which compiles those tests in; plain `cargo test` leaves
# them out and needs nothing but Rust.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] && command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing Debian's ${missing[*]} for the integration tests" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import kubernetes_validate" >/dev/null 2>&1; then
    echo "installing kubernetes-validate (PyPI) for tests/it/deploy.rs" >&2
    python3 -m pip install -q kubernetes-validate
fi

if ! python3 -c "import prometheus_client" >/dev/null 2>&1; then
    echo "installing prometheus_client (PyPI) for its strict OpenMetrics parser" >&2
    python3 -m pip install -q prometheus_client==0.23.1
fi

# KServe's SDK wheel (its generated model classes are the InferenceService's types), pinned like the
# npm packages below. Downloaded only: installing it would pull in KServe's server dependencies.
KSERVE_VERSION=0.16.0
pip_cache="$HOME/.cache/driftwatch-pip"
if [ -z "${DRIFTWATCH_KSERVE_WHEEL:-}" ]; then
    export DRIFTWATCH_KSERVE_WHEEL="$pip_cache/kserve-$KSERVE_VERSION-py3-none-any.whl"
    if [ ! -f "$DRIFTWATCH_KSERVE_WHEEL" ]; then
        echo "downloading the kserve $KSERVE_VERSION wheel (PyPI) for deploy/kubernetes/validate_kserve.py" >&2
        mkdir -p "$pip_cache"
        python3 -m pip download -q --no-deps "kserve==$KSERVE_VERSION" -d "$pip_cache"
    fi
fi

# @grafana/schema and TypeScript (npm) for tests/it/dashboards.rs, outside the clone; pinned so a new
# schema release cannot break a run that changed nothing.
export DRIFTWATCH_NODE_PREFIX="${DRIFTWATCH_NODE_PREFIX:-$HOME/.cache/driftwatch-npm}"
if [ ! -f "$DRIFTWATCH_NODE_PREFIX/node_modules/@grafana/schema/package.json" ] \
    || [ ! -f "$DRIFTWATCH_NODE_PREFIX/node_modules/typescript/package.json" ]; then
    echo "installing @grafana/schema and typescript (npm) for tests/it/dashboards.rs" >&2
    mkdir -p "$DRIFTWATCH_NODE_PREFIX"
    npm install --prefix "$DRIFTWATCH_NODE_PREFIX" --no-audit --no-fund --silent \
        @grafana/schema@13.2.3 typescript@5.9.3
fi

# Outside the clone so repeated runs are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/driftwatch-target}"

# One feature set for every step, so the workspace is compiled once. Benches are not run here (they
# are measurements, not tests), but they must keep compiling.
features=(--workspace --features system-tests --locked)
cargo build "${features[@]}" --benches
cargo test "${features[@]}"
