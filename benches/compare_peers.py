#!/usr/bin/env python3
"""Runs the Python peers and driftwatch's criterion benches in one session and prints the ratios
BENCHMARKS.md quotes (medians; the machine is shared, so only same-run ratios mean anything).

    pip install numpy scipy && python3 benches/compare_peers.py

Needs ../shared/peers/drift_baseline.py beside the repository (or PEERS=path/to/drift_baseline.py).
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.environ.get("PEERS", os.path.join(ROOT, "..", "shared", "peers", "drift_baseline.py"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/driftwatch-target"))

# criterion id -> (peer label prefix, elements per iteration, what is compared)
PAIRS = [
    ("psi/score_one_feature_100k", "(b2) PSI score only", 100_000, "PSI score, 1 feature x 100k, edges cached"),
    ("psi/score_window_100_features_10k", "(c4) PSI 100 feats, score only, vectorised", 1_000_000,
     "PSI score, 100 features x 10k window (numpy vectorised matrix)"),
    ("psi/score_window_100_features_10k", "(c2) PSI 100 feats, score only (edges cached), loop", 1_000_000,
     "PSI score, 100 features x 10k window (numpy loop)"),
    ("ks/score_window_100_features_ref100k_cur10k", "(c) KS 100 feats, loop of ks_2samp", 1_000_000,
     "KS D + p-value, 100 features, ref 100k, cur 10k (scipy ks_2samp loop)"),
    ("ks/score_window_100_features_ref100k_cur10k", "(c3) same + asymptotic p-value", 1_000_000,
     "KS D + p-value, 100 features (numpy with cached sorted ref + kstwo.sf)"),
    ("ks/ks_2samp_one_feature/100k_vs_100k", "(a) ks_2samp 100k vs 100k", 200_000,
     "KS D + p-value, 1 feature, 100k vs 100k (scipy ks_2samp)"),
]


def run_peers():
    out = subprocess.run([sys.executable, PEERS], capture_output=True, text=True, check=True).stdout
    sys.stderr.write(out)
    medians = {}
    for line in out.splitlines():
        m = re.match(r"^(\(.*?)\s+median\s+([\d.]+) ms", line)
        if m:
            medians[m.group(1).strip()] = float(m.group(2)) / 1e3
    return medians


def run_criterion():
    # The one-feature kernels are the statistics crate's bench, the 100-feature window path the sidecar's.
    for bench in (["-p", "driftwatch-stats", "--bench", "drift"], ["-p", "driftwatch", "--bench", "window"]):
        subprocess.run(["cargo", "bench", *bench, "--", "--noplot"], cwd=ROOT, check=True, stdout=sys.stderr,
                       env=dict(os.environ, CARGO_TARGET_DIR=TARGET))
    medians = {}
    for cid, *_ in PAIRS:
        path = os.path.join(TARGET, "criterion", *cid.split("/"), "new", "estimates.json")
        with open(path) as f:
            medians[cid] = json.load(f)["median"]["point_estimate"] / 1e9
    return medians


def main():
    peers = run_peers()
    ours = run_criterion()
    print("| comparison | peer median | driftwatch median | driftwatch M values/s | ratio (peer / driftwatch) |")
    print("|---|---:|---:|---:|---:|")
    for cid, label, elements, what in PAIRS:
        peer = next((v for k, v in peers.items() if k.startswith(label)), None)
        if peer is None:
            print(f"| {what} | (peer line {label!r} missing) | | | |")
            continue
        mine = ours[cid]
        print(f"| {what} | {peer * 1e3:.2f} ms | {mine * 1e3:.3f} ms | {elements / mine / 1e6:.0f} | {peer / mine:.1f}x |")


if __name__ == "__main__":
    main()
