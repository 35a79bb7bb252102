#!/usr/bin/env python3
"""End to end, in one session: driftwatch's HTTP path against a scipy/numpy loop and Evidently on
100 numeric features, reference 100,000 rows, a 10,000-row window, PSI + KS (with p-values) per
feature. driftwatch gets the window as 20 POST /ingest of 500 rows on one keep-alive connection
(Arrow IPC stream, then columnar JSON); the 20th fills the window and returns once it is scored.
Medians of --runs (default 5) after one warm-up; only same-run ratios mean anything on a shared box.

    python3 -m venv /tmp/benchenv && /tmp/benchenv/bin/pip install numpy scipy pyarrow pandas==2.3.3 evidently==0.7.23 \
      && /tmp/benchenv/bin/python benches/e2e_peers.py --out e2e.json

Needs a release binary (--binary, default $CARGO_TARGET_DIR/release/driftwatch, CARGO_TARGET_DIR
defaulting to ~/.cache/driftwatch-target; build it with `cargo build --release`) and
../shared/peers/drift_baseline.py beside the repository (or PEERS=path/to/drift_baseline.py), whose
PSI helpers the scipy loop uses. Evidently is optional: without it its row says "not installed".
Evidently takes about 45 s per run here (2 cores), so a default run takes about 5 minutes.
"""
import argparse
import hashlib
import http.client
import importlib.util
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy
from scipy.stats import ks_2samp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.environ.get("PEERS", os.path.join(ROOT, "..", "shared", "peers", "drift_baseline.py"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/driftwatch-target"))
F, NREF, NCUR, BATCH = 100, 100_000, 10_000, 500
NAMES = [f"f{j}" for j in range(F)]
SCENARIO = (f"{F} numeric features, reference {NREF:,} rows, window {NCUR:,} rows "
            f"({NCUR // BATCH} POSTs x {BATCH} rows), PSI (10 bins) + KS with p-values")


def load_peers():
    spec = importlib.util.spec_from_file_location("drift_baseline", PEERS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # its main() only runs under __main__
    return mod


def bench(fn, runs):
    fn()  # warm-up: page cache, allocator, the sidecar's blocking pool
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sidecar(binary, workdir, ref):
    pq.write_table(pa.table({n: ref[:, j] for j, n in enumerate(NAMES)}), os.path.join(workdir, "reference.parquet"))
    # Features listed explicitly so the methods are exactly PSI + KS whatever the defaults become.
    # 16 MiB bodies (the default, said here so the bench does not depend on it) fit the ~1 MB JSON ones.
    toml = "[server]\nmax_body_bytes = 16777216\n\n[[model]]\nname = \"m\"\nreference = \"reference.parquet\"\nwindow = 10000\n"
    toml += "".join(f"\n[[model.features]]\nname = \"{n}\"\nkind = \"numeric\"\nmethods = [\"psi\", \"ks\"]\n" for n in NAMES)
    config = os.path.join(workdir, "driftwatch.toml")
    with open(config, "w") as f:
        f.write(toml)
    port = free_port()
    log = open(os.path.join(workdir, "sidecar.log"), "wb")
    proc = subprocess.Popen([binary, "serve", "--config", config, "--listen", f"127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120  # loading and sorting a 100k x 100 reference takes a few seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"driftwatch exited with {proc.returncode}:\n{tail(workdir)}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"driftwatch not ready after 120 s:\n{tail(workdir)}")


def tail(workdir):
    with open(os.path.join(workdir, "sidecar.log"), "rb") as f:
        return f.read()[-4000:].decode(errors="replace")


def stop_sidecar(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: drains, then exits
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def arrow_body(chunk):
    sink = pa.BufferOutputStream()
    batch = pa.record_batch([pa.array(chunk[:, j], pa.float64()) for j in range(F)], names=NAMES)
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def json_body(chunk):
    # repr round-trips a float64 exactly, so both formats deliver the same window.
    cols = ",".join(f'"{n}":[' + ",".join(map(repr, chunk[:, j].tolist())) + "]" for j, n in enumerate(NAMES))
    return ('{"model":"m","features":{' + cols + "}}").encode()


def driftwatch_format(port, bodies, path, ctype, runs):
    """Times one window's 20 POSTs per run on one keep-alive connection; keeps per-request latencies."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    per_run = []  # per run: [(seconds, status, body) for each POST]

    def one_window():
        out = []
        for body in bodies:
            t0 = time.perf_counter()
            conn.request("POST", path, body, {"Content-Type": ctype})
            resp = conn.getresponse()
            data = resp.read()
            out.append((time.perf_counter() - t0, resp.status, data))
        per_run.append(out)

    ts = bench(one_window, runs)
    conn.close()
    # Checked after the timing, so parsing responses is not on the clock. Only the 20th POST may fill
    # the window: otherwise the runs would not be one scored window each.
    for run_no, run in enumerate(per_run):
        for i, (t, status, data) in enumerate(run):
            assert status == 200, (run_no, i, status, data[:500])
            r = json.loads(data)
            want = 1 if i == len(bodies) - 1 else 0
            assert r["windows_scored"] == want and r["accepted"] == BATCH, (run_no, i, {k: r[k] for k in r if k != "latest"})
            run[i] = (t, r)
    timed = per_run[1:]  # the warm-up's window is scored too, but not counted
    rest = [t for run in timed for t, _ in run[:-1]]
    fill = [run[-1][0] for run in timed]
    scoring = [run[-1][1]["latest"]["scoring_seconds"] for run in timed]
    nbytes = sum(map(len, bodies))
    med = statistics.median(ts)
    return {
        "runs_ms": [t * 1e3 for t in ts], "median_ms": med * 1e3, "body_bytes": nbytes,
        "body_mb_per_s": nbytes / med / 1e6,
        "nonfilling_p50_ms": float(np.percentile(rest, 50)) * 1e3,
        "nonfilling_p99_ms": float(np.percentile(rest, 99)) * 1e3,
        "nonfilling_count": len(rest),
        "filling_median_ms": statistics.median(fill) * 1e3,
        "filling_scoring_seconds_median_ms": statistics.median(scoring) * 1e3,
    }, per_run[-1][-1][1]["latest"]


def check_scores(latest, ref, cur, fits, psi_score):
    """Largest gap between the sidecar's scores and scipy/numpy's on this window (a wrong body shows here)."""
    gap = {"ks_d": 0.0, "ks_p_rel": 0.0, "psi": 0.0}
    for feat in latest["features"]:
        j = NAMES.index(feat["name"])
        s = {x["method"]: x for x in feat["scores"]}
        r = ks_2samp(ref[:, j], cur[:, j])
        gap["ks_d"] = max(gap["ks_d"], abs(s["ks"]["score"] - r.statistic))
        gap["ks_p_rel"] = max(gap["ks_p_rel"], abs(s["ks"]["pvalue"] - r.pvalue) / max(r.pvalue, 1e-300))
        gap["psi"] = max(gap["psi"], abs(s["psi"]["score"] - psi_score(*fits[j], cur[:, j])))
    return gap


def scipy_loop(ref_cols, cur_cols, fits, psi_score, runs):
    # Edges and reference shares are fitted once outside the timing, as a sidecar holds them.
    def one():
        for j in range(F):
            ks_2samp(ref_cols[j], cur_cols[j])
            psi_score(*fits[j], cur_cols[j])
    ts = bench(one, runs)
    return {"runs_ms": [t * 1e3 for t in ts], "median_ms": statistics.median(ts) * 1e3}


def evidently_report(ref, cur, runs, preset):
    try:
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception as e:  # noqa: BLE001 - any import failure means the same: no Evidently row
        return {"error": f"not installed ({e.__class__.__name__})"}
    ref_df, cur_df = pd.DataFrame(ref, columns=NAMES), pd.DataFrame(cur, columns=NAMES)
    # "psi+ks": the scenario's two methods in one Report (one DriftedColumnsCount + 100 ValueDrift each);
    # "default": DataDriftPreset() as shipped, which picks Wasserstein for numeric columns over 1000 rows.
    presets = (lambda: [DataDriftPreset()]) if preset == "default" else \
        (lambda: [DataDriftPreset(method="psi"), DataDriftPreset(method="ks")])
    ts = bench(lambda: Report(presets()).run(current_data=cur_df, reference_data=ref_df), runs)
    return {"runs_ms": [t * 1e3 for t in ts], "median_ms": statistics.median(ts) * 1e3, "preset": preset}


def versions():
    v = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
         "pyarrow": pa.__version__}
    for name in ("pandas", "evidently"):
        try:
            v[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            v[name] = "not installed"
    v["nproc"] = len(os.sched_getaffinity(0))  # what `nproc` prints: the CPUs this process may use
    return v


def table(res):
    dw, ev, sp = res["driftwatch"], res["evidently"], res["scipy_loop"]
    ratio = lambda a, b: f"{a['median_ms'] / b['median_ms']:.1f}x" if "median_ms" in a else "n/a"  # noqa: E731
    lines = [f"Scenario: {SCENARIO}; median of {res['runs']} runs after 1 warm-up, nproc {res['versions']['nproc']}.", "",
             "| contender | median ms | Evidently / this | scipy / this | body MB/s | non-filling POST p50 / p99 ms | filling POST median ms (scoring) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for fmt in ("arrow", "json"):
        d = dw[fmt]
        lines.append(f"| driftwatch {'Arrow IPC' if fmt == 'arrow' else 'columnar JSON'} ({d['body_bytes'] / 1e6:.1f} MB) "
                     f"| {d['median_ms']:.1f} | {ratio(ev, d)} | {ratio(sp, d)} | {d['body_mb_per_s']:.0f} "
                     f"| {d['nonfilling_p50_ms']:.2f} / {d['nonfilling_p99_ms']:.2f} "
                     f"| {d['filling_median_ms']:.1f} ({d['filling_scoring_seconds_median_ms']:.1f}) |")
    lines.append(f"| scipy loop (ks_2samp + numpy PSI, edges cached) | {sp['median_ms']:.1f} | | | | | |")
    ev_cell = f"{ev['median_ms']:.1f}" if "median_ms" in ev else ev["error"]
    lines.append(f"| Evidently Report({'DataDriftPreset()' if ev.get('preset') == 'default' else 'psi + ks presets'}) "
                 f"| {ev_cell} | | | | | |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(TARGET, "release", "driftwatch"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", help="also write the numbers as JSON here")
    ap.add_argument("--evidently-preset", choices=["psi+ks", "default"], default="psi+ks")
    ap.add_argument("--skip-evidently", action="store_true")
    args = ap.parse_args()
    peers = load_peers()
    # SIGTERM to this script must still stop the sidecar (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    rng = np.random.default_rng(42)
    ref = rng.normal(0.0, 1.0, (NREF, F))
    cur = rng.normal(0.05, 1.0, (NCUR, F))
    ref_cols = [np.ascontiguousarray(ref[:, j]) for j in range(F)]
    cur_cols = [np.ascontiguousarray(cur[:, j]) for j in range(F)]
    fits = [peers.psi_fit(c) for c in ref_cols]
    chunks = [cur[i:i + BATCH] for i in range(0, NCUR, BATCH)]
    bodies = {"arrow": [arrow_body(c) for c in chunks], "json": [json_body(c) for c in chunks]}

    with open(args.binary, "rb") as f:  # the binary may be rebuilt under us: say which one ran
        binary_sha = hashlib.sha256(f.read()).hexdigest()[:16]
    res = {"scenario": SCENARIO, "runs": args.runs, "binary": args.binary, "binary_sha256_16": binary_sha,
           "binary_version": subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip(),
           "loadavg_at_start": os.getloadavg(),  # above ~0.5 on 2 cores, something else shares the machine
           "driftwatch": {}}
    proc = None
    with tempfile.TemporaryDirectory(prefix="dw-e2e-") as workdir:
        try:
            proc, port = start_sidecar(args.binary, workdir, ref)
            for fmt, path, ctype in (("arrow", "/ingest?model=m", "application/vnd.apache.arrow.stream"),
                                     ("json", "/ingest", "application/json")):
                res["driftwatch"][fmt], latest = driftwatch_format(port, bodies[fmt], path, ctype, args.runs)
                res["driftwatch"][fmt]["score_gap_vs_scipy"] = check_scores(latest, ref, cur, fits, peers.psi_score)
                print(f"[driftwatch {fmt}] {json.dumps(res['driftwatch'][fmt])}", file=sys.stderr)
        except BaseException:
            if proc is not None:
                print(tail(workdir), file=sys.stderr)
            raise
        finally:
            stop_sidecar(proc)  # before the peers, so an idle sidecar holds no memory they could use

    res["scipy_loop"] = scipy_loop(ref_cols, cur_cols, fits, peers.psi_score, args.runs)
    print(f"[scipy] {json.dumps(res['scipy_loop'])}", file=sys.stderr)
    if args.skip_evidently:
        res["evidently"] = {"error": "skipped (--skip-evidently)"}
    else:
        res["evidently"] = evidently_report(ref, cur, args.runs, args.evidently_preset)
    print(f"[evidently] {json.dumps(res['evidently'])}", file=sys.stderr)
    res["versions"] = versions()
    res["table"] = table(res)
    print(res["table"])
    print("versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()) + f", driftwatch {binary_sha}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
