#!/usr/bin/env bash
# The hostile soak of BENCHMARKS.md: `driftwatch load` alone for DURATION seconds, then the same load
# beside benches/hostile_soak.py's hostile mix, against one release sidecar with a small memory
# budget (so the stated bound is tight enough to mean something). Writes both summaries to OUT.
#   bash benches/hostile_soak.sh [DURATION=120] [OUT=benches/hostile-soak-$(date +%F).json]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-120}"
out="${2:-benches/hostile-soak-$(date +%F).json}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/driftwatch-target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/driftwatch"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
ref="$PWD/datasets/demo/reference.csv"
cat > "$work/soak.toml" <<TOML
[server]
listen = "127.0.0.1:9300"
max_body_bytes = 1048576
max_decode_bytes = 67108864
max_connections = 256
max_concurrent_requests = 64

[[model]]
name = "demo-churn"
reference = "$ref"
window = 2000

[[model]]
name = "hostile"
reference = "$ref"
window = 2000
TOML
"$bin" serve --config "$work/soak.toml" --data-dir "$work/data" > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf localhost:9300/readyz >/dev/null && break; sleep 0.1; done
load() {
    "$bin" load --target http://127.0.0.1:9300 --model demo-churn --duration "$duration" --concurrency 2 \
        --rows 1000 --report-every 30 --warmup 20 --pid "$pid" --output "$1" > /dev/null
}
load "$work/alone.json"
python3 benches/hostile_soak.py --target 127.0.0.1:9300 --duration "$duration" --pid "$pid" \
    --output "$work/hostile.json" > /dev/null &
hostile=$!
load "$work/beside.json"
wait "$hostile"
curl -s localhost:9300/metrics | grep -E '^driftwatch_(requests_rejected|connections_closed)_total|^driftwatch_connections_open' > "$work/counters.txt" || true
python3 - "$work" "$out" <<'PY'
import json, sys
w, out = sys.argv[1], sys.argv[2]
r = lambda n: json.load(open(f"{w}/{n}"))
doc = {"load_alone": r("alone.json"), "load_beside_hostile": r("beside.json"), "hostile": r("hostile.json"),
       "counters_at_end": open(f"{w}/counters.txt").read().splitlines()}
json.dump(doc, open(out, "w"), indent=2)
print(json.dumps(doc, indent=2))
PY
