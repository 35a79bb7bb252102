#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of the drift report: the demo's current data
# (datasets/demo/current.csv, from make_current.py) against its reference, rendered by Debian's
# headless Chromium.
#   bash docs/make_screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --release --quiet -- report --config models/demo.toml --reference datasets/demo/reference.csv \
    --current datasets/demo/current.csv --output "$out/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$out/profile" --hide-scrollbars \
    --window-size=1200,1900 --screenshot=docs/report.png "file://$out/report.html" 2>/dev/null
echo "wrote docs/report.png"
