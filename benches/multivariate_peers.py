#!/usr/bin/env python3
"""The Python peers of driftwatch's multivariate drift methods, per window, on the shape of
`cargo bench --bench window -- multivariate` (benches/window.rs): 20 numeric features, reference
20,000 rows ~ N(0, 1) iid, window 10,000 rows ~ N(0.05, 1). Fitting on the reference happens once,
outside the timing, as driftwatch fits once; each timed call is one window's score:

  * pca: NannyML DataReconstructionDriftCalculator(column_names, chunk_size=10000) fitted on the 20k
    reference, then .calculate() of the 10k window (one chunk; standardise on reference, PCA 0.65).
  * classifier: NannyML DomainClassifierCalculator(feature_column_names, chunk_size=2000) fitted on
    2,000 reference rows, then .calculate() of 2,000 window rows (LightGBM, stratified 5-fold CV
    AUC on the 4,000 pooled rows). Three rows: NannyML's hyperparameters as shipped (100 trees,
    31 leaves, n_jobs=-1: all cores); the same with n_jobs=1 (driftwatch's multivariate methods are
    single-threaded); and n_jobs=1 with driftwatch's trees (50 rounds of depth 2, learning rate 0.2,
    32 bins, lambda 1). All three add verbose=-1 and drop NannyML's `silent` key (LightGBM 4 only
    warns that it is unknown): both only change what LightGBM logs.
  * mmd: alibi-detect MMDDrift(x_ref_500, backend='pytorch', p_val=0.05, n_permutations=100) (σ
    from the reference by the median heuristic at init, as driftwatch), then .predict() of 500
    window rows, float32 (--mmd-dtype), torch on CPU with its default thread count (recorded).

Median of --runs (default 7) after one warm-up; a method whose warm-up takes over 5 s gets
--slow-runs (default 3). Only same-session ratios mean anything on a shared box: the load average
at start is recorded, and a 2-core machine busy with a build inflates every number here (LightGBM's
n_jobs=-1 row most: OpenMP threads spinning against other work).

    python3 -m venv /tmp/mvenv && /tmp/mvenv/bin/pip install nannyml==0.13.1 alibi-detect[torch]==0.13.0 \
      pandas==2.3.3 lightgbm && /tmp/mvenv/bin/python benches/multivariate_peers.py --out mv.json

Measured with Python 3.11, nannyml 0.13.1, alibi-detect 0.13.0, torch 2.15.0+cu132 (on CPU), lightgbm 4.5.0,
scikit-learn 1.9.1, pandas 2.3.3, numpy 1.26.4; the run's own versions are in its JSON. NannyML's
usage telemetry (an HTTPS call per fit/calculate, seconds of retries offline) is turned off with
NML_DISABLE_USAGE_LOGGING=1 before it is imported.
"""
import os

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # before nannyml is imported: its decorator checks it

import argparse
import json
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd

F, NREF, NCUR = 20, 20_000, 10_000
CLASSIFIER_ROWS, MMD_ROWS, PERMUTATIONS = 2_000, 500, 100
SLOW_S = 5.0
NAMES = [f"f{j}" for j in range(F)]
SCENARIO = (f"{F} numeric features, reference {NREF:,} rows ~ N(0,1), window {NCUR:,} rows ~ N(0.05,1); "
            f"PCA on the whole window, classifier on {CLASSIFIER_ROWS:,} rows a side (5-fold CV AUC), "
            f"MMD on {MMD_ROWS} rows a side ({PERMUTATIONS} permutations)")


def bench(fn, runs, slow_runs):
    """One warm-up, then `runs` timed calls (`slow_runs` if the warm-up took over SLOW_S)."""
    t0 = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - t0
    n = slow_runs if warm > SLOW_S else runs
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"warmup_ms": warm * 1e3, "runs_ms": [t * 1e3 for t in ts], "median_ms": statistics.median(ts) * 1e3}, out


def pca(ref_df, cur_df, runs, slow_runs):
    import nannyml as nml
    calc = nml.DataReconstructionDriftCalculator(column_names=NAMES, chunk_size=NCUR)
    calc.fit(ref_df)
    res, out = bench(lambda: calc.calculate(cur_df), runs, slow_runs)
    df = out.filter(period="analysis").to_df()
    res["score"] = float(df[("reconstruction_error", "value")].iloc[0])
    res["alert"] = bool(df[("reconstruction_error", "alert")].iloc[0])
    res["components"] = int(calc._pca.n_components_)
    res["shape"] = {"fit_rows": len(ref_df), "window_rows": len(cur_df), "chunks": len(df)}
    return res


def classifier(ref_df, cur_df, runs, slow_runs, variant):
    import nannyml as nml
    from nannyml.drift.multivariate.domain_classifier.calculator import DEFAULT_LGBM_HYPERPARAMS
    hp = {**DEFAULT_LGBM_HYPERPARAMS, "verbose": -1}
    if variant in ("n_jobs_1", "driftwatch_trees"):
        hp["n_jobs"] = 1
    if variant == "driftwatch_trees":  # driftwatch's ClassifierSettings::default(), in LightGBM's terms
        hp.update(n_estimators=50, max_depth=2, num_leaves=4, learning_rate=0.2, max_bin=32,
                  min_child_samples=20, reg_lambda=1.0)
    hp.pop("silent", None)  # LightGBM 4 only warns "Unknown parameter: silent"
    ref2, cur2 = ref_df.iloc[:CLASSIFIER_ROWS], cur_df.iloc[:CLASSIFIER_ROWS]  # iid rows: the first are a sample
    calc = nml.DomainClassifierCalculator(feature_column_names=NAMES, chunk_size=CLASSIFIER_ROWS, hyperparameters=hp)
    calc.fit(ref2)  # one reference chunk holding every reference row: its AUC is undefined (NaN), thresholds are constant
    res, out = bench(lambda: calc.calculate(cur2), runs, slow_runs)
    df = out.filter(period="analysis").to_df()
    res["score"] = float(df[("domain_classifier_auroc", "value")].iloc[0])
    res["alert"] = bool(df[("domain_classifier_auroc", "alert")].iloc[0])
    res["lightgbm"] = {k: hp[k] for k in ("n_estimators", "num_leaves", "max_depth", "learning_rate", "n_jobs")}
    res["lightgbm"]["max_bin"] = hp.get("max_bin", 255)
    res["shape"] = {"fit_rows": len(ref2), "window_rows": len(cur2), "cv_folds": calc.cv_folds_num, "chunks": len(df)}
    return res


def mmd(ref, cur, runs, slow_runs, dtype):
    import torch
    from alibi_detect.cd import MMDDrift
    x_ref, x = ref[:MMD_ROWS].astype(dtype), cur[:MMD_ROWS].astype(dtype)
    det = MMDDrift(x_ref, backend="pytorch", p_val=0.05, n_permutations=PERMUTATIONS, device="cpu")
    res, out = bench(lambda: det.predict(x), runs, slow_runs)
    d = out["data"]
    res.update(score=float(d["distance"]), pvalue=float(d["p_val"]), alert=bool(d["is_drift"]),
               sigma=float(det._detector.kernel.sigma.detach().cpu().numpy().ravel()[0]), dtype=dtype,
               torch_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads())
    res["shape"] = {"ref_rows": len(x_ref), "window_rows": len(x), "permutations": PERMUTATIONS}
    return res


def versions():
    v = {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__}
    for name in ("nannyml", "alibi_detect", "torch", "lightgbm", "sklearn"):
        try:
            v[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            v[name] = "not installed"
    v["nproc"] = len(os.sched_getaffinity(0))
    return v


def table(res):
    lines = [f"Scenario: {SCENARIO}; median after 1 warm-up, nproc {res['versions']['nproc']}, "
             f"load average at start {res['loadavg_at_start'][0]:.2f}.", "",
             "| peer | runs | median ms | score | threads |", "|---|---:|---:|---:|---|"]
    for key, label in (("pca", "NannyML DataReconstructionDriftCalculator"),
                       ("classifier_default", "NannyML DomainClassifierCalculator (as shipped)"),
                       ("classifier_n_jobs_1", "NannyML DomainClassifierCalculator, n_jobs=1"),
                       ("classifier_driftwatch_trees", "NannyML DomainClassifierCalculator, n_jobs=1, driftwatch's trees"),
                       ("mmd", "alibi-detect MMDDrift (pytorch)")):
        r = res.get(key)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"| {label} | | {r['error']} | | |")
            continue
        threads = (f"torch {r['torch_threads']}" if key == "mmd" else
                   f"LightGBM n_jobs {r['lightgbm']['n_jobs']}" if key.startswith("classifier") else "numpy BLAS")
        lines.append(f"| {label} | {len(r['runs_ms'])} | {r['median_ms']:.1f} | {r['score']:.4g} | {threads} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--slow-runs", type=int, default=3, help=f"runs for a method whose warm-up takes over {SLOW_S:.0f} s")
    ap.add_argument("--out", help="write the numbers as JSON here (default: stdout)")
    ap.add_argument("--mmd-dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--only", nargs="+", choices=["pca", "classifier", "mmd"], default=["pca", "classifier", "mmd"])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # NannyML's "too few chunks", sklearn's undefined reference AUC

    rng = np.random.default_rng(42)
    ref = rng.normal(0.0, 1.0, (NREF, F))
    cur = rng.normal(0.05, 1.0, (NCUR, F))
    ref_df, cur_df = pd.DataFrame(ref, columns=NAMES), pd.DataFrame(cur, columns=NAMES)

    res = {"scenario": SCENARIO, "runs": args.runs, "slow_runs": args.slow_runs,
           "loadavg_at_start": os.getloadavg(),  # above ~0.5 on 2 cores, something else shares the machine
           "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
           "nml_disable_usage_logging": os.environ.get("NML_DISABLE_USAGE_LOGGING")}
    jobs = []
    if "pca" in args.only:
        jobs.append(("pca", lambda: pca(ref_df, cur_df, args.runs, args.slow_runs)))
    if "classifier" in args.only:
        for variant in ("default", "n_jobs_1", "driftwatch_trees"):
            jobs.append((f"classifier_{variant}",
                         lambda v=variant: classifier(ref_df, cur_df, args.runs, args.slow_runs, v)))
    if "mmd" in args.only:
        jobs.append(("mmd", lambda: mmd(ref, cur, args.runs, args.slow_runs, args.mmd_dtype)))
    for key, job in jobs:
        try:
            res[key] = job()
        except Exception as e:  # noqa: BLE001 - one missing peer leaves the others' rows
            res[key] = {"error": f"{e.__class__.__name__}: {e}"}
        print(f"[{key}] {json.dumps(res[key])}", file=sys.stderr)
    res["loadavg_at_end"] = os.getloadavg()
    res["versions"] = versions()
    res["table"] = table(res)
    print(res["table"], file=sys.stderr)
    print("versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()), file=sys.stderr)
    text = json.dumps(res, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
