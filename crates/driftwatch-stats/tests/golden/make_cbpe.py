#!/usr/bin/env python3
"""Generates cbpe.json: NannyML's confidence-based performance estimation (CBPE) of a binary
classifier's ROC AUC, F1 and accuracy, the oracle for tests/cbpe.rs.

Two cases share one deterministic data set (numpy default_rng, fixed seed). A score x ~ N(0, 1)
gives the true probability p = sigmoid(-0.4 + 1.6 x), the label is drawn from p, and the model's
probability is

- overconfident: sigmoid(1.8 logit(p) + 0.3), miscalibrated, so NannyML's needs_calibration rule
  calibrates it (isotonic regression);
- calibrated: p itself. For well-calibrated scores the rule compares two noisy expected
  calibration errors and is close to a coin flip (with 4 of the 5 seeds 20260501..20260505 it
  still calibrates); the seed is the one for which it skips calibration, so the golden covers both
  branches. Which branch each case took is stored as "needs_calibration" and printed.

y_pred = proba >= 0.5. Reference: 5000 rows (5 chunks of 1000). Analysis: three 1000-row chunks:
"same" (the reference's distribution), "boundary" (covariate shift: x ~ N(0.25, 0.3), where
p ~ 0.5, so the probabilities move toward 0.5 and accuracy drops) and "threshold" (the reference's
distribution, but y_pred = proba >= 0.7). CBPE(problem_type="classification_binary",
metrics=["roc_auc", "f1", "accuracy"], chunk_size=1000) is fitted on the reference and estimates
the analysis; every reference and analysis chunk row of its result is stored (estimate, sampling
error, realized value, confidence bounds, thresholds, alert), with the fitted internals: the
needs_calibration folds (StratifiedShuffleSplit test indices) and both expected calibration
errors, the isotonic calibrator's thresholds and the calibrated analysis probabilities, the
sampling-error components and the reference chunks' realized metrics. A few small
IsotonicRegression cases (ties in X, clipping, a single point) are stored too.

Probabilities are rounded to multiples of 2**-20 (dyadic, print and parse exactly) and clipped to
[2**-20, 1 - 2**-20]; the reference probabilities are made distinct (duplicates are nudged by one
grid step), because NumPy's np.argsort (quicksort; AVX-512 x86-simd-sort on this machine) leaves
the order of ties unspecified and NannyML's AUROC sampling error depends on it. One order-of-ties
dependence is unavoidable: the expected calibration error after calibration sorts isotonic
outputs, which are full of ties; it is stored as NannyML computes it and as it comes out with a
stable sort (which the Rust side uses), see "ece_after" / "ece_after_stable".

The script restates each algorithm in plain numpy and asserts that the restatement reproduces
NannyML's and scikit-learn's numbers; those restatements are what the Rust side implements.

Run it outside the repo's build, in the venv of make_multivariate.py (PyPI only):

    python3 -m venv /tmp/mvenv
    /tmp/mvenv/bin/pip install nannyml==0.13.1 statsmodels "pandas<3"
    cd crates/driftwatch-stats && /tmp/mvenv/bin/python tests/golden/make_cbpe.py

Generated with Python 3.11, numpy 1.26.4, pandas 2.3.3, scikit-learn 1.9.1, scipy 1.17.1,
nannyml 0.13.1; the versions actually used are recorded in the output. Runs in a few seconds.
"""
import os
import platform
import sys
import warnings

import numpy as np
import pandas as pd

from golden_json import dump

warnings.filterwarnings("ignore")
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # nannyml's usage telemetry

import nannyml  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402
from nannyml.calibration import (  # noqa: E402
    IsotonicCalibrator,
    _calculate_expected_calibration_error,
    _get_bin_index_edges,
    needs_calibration,
)
from sklearn.isotonic import IsotonicRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedShuffleSplit  # noqa: E402

SEED = 20260505
GRID = 2.0 ** -20
N_REF = 5000
N_WIN = 1000
CHUNK = 1000
METRICS = ["roc_auc", "f1", "accuracy"]


def q(x):
    """Round to the 2**-20 grid (numpy round: half to even), inside (0, 1)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / GRID) * GRID, GRID, 1.0 - GRID)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def distinct(p):
    """Nudge duplicated values up by one grid step until all are distinct."""
    p = p.copy()
    while True:
        _, first = np.unique(p, return_index=True)
        dup = np.setdiff1d(np.arange(len(p)), first)
        if dup.size == 0:
            return p
        p[dup] = np.minimum(p[dup] + GRID, 1.0 - GRID)
        if np.all(p[dup] == 1.0 - GRID):  # pragma: no cover - cannot happen with this data
            raise RuntimeError("cannot make the reference probabilities distinct")


def draw(rng, n, loc=0.0, scale=1.0):
    x = rng.normal(loc, scale, n)
    logit = -0.4 + 1.6 * x
    p_true = sigmoid(logit)
    y = (rng.random(n) < p_true).astype(int)
    return y, {"overconfident": q(sigmoid(1.8 * logit + 0.3)), "calibrated": q(p_true)}


def make_data():
    rng = np.random.default_rng(SEED)
    ref_y, ref_p = draw(rng, N_REF)
    ref_p = {k: distinct(v) for k, v in ref_p.items()}
    chunks = [("same", draw(rng, N_WIN), 0.5), ("boundary", draw(rng, N_WIN, 0.25, 0.3), 0.5),
              ("threshold", draw(rng, N_WIN), 0.7)]
    cases = {}
    for case in ("overconfident", "calibrated"):
        reference = pd.DataFrame({"y_true": ref_y, "proba": ref_p[case]})
        reference["y_pred"] = (reference["proba"] >= 0.5).astype(int)
        frames = []
        for name, (y, p), cut in chunks:
            frames.append(pd.DataFrame({"y_true": y, "proba": p[case], "y_pred": (p[case] >= cut).astype(int)}))
        cases[case] = (reference, pd.concat(frames, ignore_index=True))
    return [name for name, _, _ in chunks], [cut for _, _, cut in chunks], cases


def close(a, b, rtol=1e-12, atol=1e-15):
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol, equal_nan=True)


def num(v):
    """A float for JSON: NaN and None become null."""
    if v is None:
        return None
    v = float(v)
    return None if np.isnan(v) else v


# --------------------------------------------------------------------------------------------
# scikit-learn's IsotonicRegression(out_of_bounds="clip", increasing=True), restated


def pava(x, w):
    """scipy.optimize._pava_pybind.pava (scipy >= 1.12; Busing 2022, Algorithm 1), transcribed."""
    x = [float(v) for v in x]
    w = [float(v) for v in w]
    n = len(x)
    r = [0] * (n + 1)
    r[1] = 1
    b = 0
    xb_prev, wb_prev = x[0], w[0]
    i = 1
    while i < n:
        b += 1
        xb, wb = x[i], w[i]
        if xb_prev >= xb:
            b -= 1
            sb = wb_prev * xb_prev + wb * xb
            wb += wb_prev
            xb = sb / wb
            while i < n - 1 and xb >= x[i + 1]:
                i += 1
                sb += w[i] * x[i]
                wb += w[i]
                xb = sb / wb
            while b > 0 and x[b - 1] >= xb:
                b -= 1
                sb += w[b] * x[b]
                wb += w[b]
                xb = sb / wb
        x[b] = xb_prev = xb
        w[b] = wb_prev = wb
        r[b + 1] = i + 1
        i += 1
    f = n - 1
    for k in range(b, -1, -1):
        t = r[k]
        for j in range(f, t - 1, -1):
            x[j] = x[k]
        f = t - 1
    return np.asarray(x)


def isotonic_fit(X, y):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.lexsort((y, X))
    X, y = X[order], y[order]
    eps = np.finfo(np.float64).resolution  # sklearn._isotonic._make_unique
    ux, uy, uw = [], [], []
    cur_x, cur_y, cur_w = X[0], 0.0, 0.0
    for xv, yv in zip(X, y):
        if xv - cur_x >= eps:
            ux.append(cur_x)
            uy.append(cur_y / cur_w)
            uw.append(cur_w)
            cur_x, cur_y, cur_w = xv, yv, 1.0
        else:
            cur_w += 1.0
            cur_y += yv
    ux.append(cur_x)
    uy.append(cur_y / cur_w)
    uw.append(cur_w)
    ux = np.asarray(ux)
    fitted = pava(uy, uw)
    keep = np.ones(len(fitted), dtype=bool)
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return ux[keep], fitted[keep], ux.min(), ux.max()


def isotonic_predict(fit, t):
    xs, ys, lo, hi = fit
    t = np.clip(np.asarray(t, dtype=float), lo, hi)
    return np.repeat(ys[0], len(t)) if len(ys) == 1 else np.interp(t, xs, ys)


def check_isotonic(X, y, t):
    reg = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(X, y)
    mine = isotonic_fit(X, y)
    assert np.array_equal(mine[0], reg.X_thresholds_) and np.array_equal(mine[1], reg.y_thresholds_), (mine, reg)
    want = reg.predict(np.asarray(t, dtype=float))
    assert np.array_equal(isotonic_predict(mine, t), want)
    return reg, want


def isotonic_cases():
    cases = [
        # sklearn's isotonic_regression docstring: blocks of 2.75 and 7.33
        ("docstring", list(range(10)), [5, 3, 1, 2, 8, 10, 7, 9, 6, 4], [-1, 0, 2.5, 3.5, 4, 8.25, 9, 12]),
        ("ties_in_x", [0.1, 0.1, 0.2, 0.3, 0.3, 0.3, 0.5, 0.7, 0.7, 0.9], [1, 0, 0, 1, 0, 0, 1, 0, 1, 1],
         [0.0, 0.1, 0.15, 0.3, 0.4, 0.6, 0.7, 0.8, 1.0]),
        ("decreasing_data", [0.0, 1.0, 2.0, 3.0], [1, 1, 0, 0], [0.5, 1.5, 2.5, -3.0, 9.0]),
        ("single_x", [0.4, 0.4, 0.4], [1, 0, 0], [0.0, 0.4, 1.0]),
    ]
    out = []
    for name, X, y, t in cases:
        reg, want = check_isotonic(X, y, t)
        out.append({"name": name, "x": [float(v) for v in X], "y": [float(v) for v in y], "t": [float(v) for v in t],
                    "x_thresholds": [float(v) for v in reg.X_thresholds_],
                    "y_thresholds": [float(v) for v in reg.y_thresholds_], "predict": [float(v) for v in want]})
    return out


# --------------------------------------------------------------------------------------------
# nannyml.calibration.needs_calibration, with its folds and both expected calibration errors


def calibration_part(reference):
    y = reference["y_true"].to_numpy()
    p = reference["proba"].to_numpy()
    decision = needs_calibration(y_true=reference["y_true"], y_pred_proba=reference["proba"],
                                 calibrator=IsotonicCalibrator())
    auc = float(roc_auc_score(y, p))
    assert auc <= 0.999 and len(np.unique(y)) == 2  # so the folds below are the rule's
    sss = StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42)
    tests, ys, ps, cs = [], [], [], []
    for train, test in sss.split(p, y):
        fit = isotonic_fit(p[train], y[train])
        cal = IsotonicCalibrator()
        cal.fit(p[train], y[train])
        calibrated = cal.calibrate(p[test])
        assert np.array_equal(calibrated, isotonic_predict(fit, p[test]))
        tests.append([int(i) for i in test])
        ys.append(y[test])
        ps.append(p[test])
        cs.append(calibrated)
    vy, vp, vc = np.concatenate(ys), np.concatenate(ps), np.concatenate(cs)
    edges = _get_bin_index_edges(len(vp), 10)
    before = float(_calculate_expected_calibration_error(vy, vp, edges))
    after = float(_calculate_expected_calibration_error(vy, vc, edges))
    assert (before > after) == decision
    # The same with a stable sort (the Rust side's order of ties).
    terms = []
    for vals in (vp, vc):
        order = np.argsort(vals, kind="stable")
        sv, sy = vals[order], vy[order]
        t = [len(sv[a:b]) / len(sv) * abs(np.mean(sv[a:b]) - np.mean(sy[a:b])) for a, b in edges]
        terms.append(float(np.sum(t)))
    assert terms[0] == before, (terms[0], before)
    after_stable = terms[1]
    assert (before > after_stable) == decision
    return decision, {
        "roc_auc": auc,
        "test_indices": tests,
        "ece_before": before,
        "ece_after": after,
        "ece_after_stable": after_stable,
        "needs_calibration": bool(decision),
    }


# --------------------------------------------------------------------------------------------
# CBPE's estimators, sampling errors and thresholds, restated


def est_roc_auc(cal, raw):
    order = np.argsort(raw, kind="stable")[::-1]
    c = cal[order]
    tps = np.cumsum(c)
    fps = 1 + np.arange(len(c)) - tps
    tps = np.round(np.r_[0, tps], 5)
    fps = np.round(np.r_[0, fps], 5)
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    assert np.all(np.diff(fpr) >= 0)
    return np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)


def est_f1(pred, cal):
    tp = np.sum(np.where(pred == 1, cal, 0))
    fp = np.sum(np.where(pred == 1, 1 - cal, 0))
    fn = np.sum(np.where(pred == 0, cal, 0))
    d = tp + 0.5 * (fp + fn)
    return tp / d if d != 0 else 0


def est_accuracy(pred, cal):
    return (np.sum(np.where(pred == 1, cal, 0)) + np.sum(np.where(pred == 0, 1 - cal, 0))) / len(pred)


def components(reference):
    y = reference["y_true"].to_numpy()
    p = reference["proba"].to_numpy()
    pred = reference["y_pred"].to_numpy()
    # roc_auc (bse.auroc_sampling_error_components), on the uncalibrated probabilities
    yy, pp = (1 - y, 1 - p) if np.mean(y) > 0.5 else (y, p)
    order = np.argsort(pp, kind="stable")
    ranks = yy[order] * np.arange(len(pp))
    idx = np.unique(ranks)[1:]
    n_pos = np.sum(yy)
    ser = (idx - np.arange(len(idx))) / (len(yy) - n_pos)
    roc = (float(np.std(ser)), float(n_pos / len(yy)))
    # f1
    n_tp = int(np.sum((y == pred) & (pred == 1)))
    n_fn = int(np.sum((y != pred) & (pred == 0)))
    n_fp = int(np.sum((y != pred) & (pred == 1)))
    m = n_tp + n_fn + n_fp
    factor = m / ((n_fn + n_fp) * 0.5 + n_tp)
    obs = np.concatenate([np.ones(n_tp), np.zeros(n_fn + n_fp)]) * factor
    f1 = (float(np.std(obs)), float(m / len(y)))
    acc = float(np.std((y == pred).astype(int)))
    return {"roc_auc": list(roc), "f1": list(f1), "accuracy": [acc]}


def sampling_error(metric, comp, n):
    if metric == "accuracy":
        return comp[0] / np.sqrt(n)
    return comp[0] / np.sqrt(n * comp[1])


def realized(metric, y, pred, raw):
    if metric == "roc_auc":
        return roc_auc_score(y, raw) if len(np.unique(y)) > 1 else np.nan
    if metric == "f1":
        if len(np.unique(y)) <= 1 or len(np.unique(pred)) <= 1:
            return np.nan
        tp = np.sum((y == 1) & (pred == 1))
        return 2 * tp / (np.sum(y == 1) + np.sum(pred == 1))
    return np.mean(y == pred)


def thresholds(values):
    mean, std = np.nanmean(values), np.nanstd(values)
    lower, upper = mean - std * 3, mean + std * 3
    lower = 0.0 if lower <= 0 else lower  # calculate_threshold_values: the limit, not None
    upper = 1.0 if upper >= 1 else upper
    return lower, upper


def restate(reference, analysis, fit, comp):
    """Rows of {metric: {value, sampling_error, ...}} for the reference and the analysis chunks."""
    refs = {}
    for m in METRICS:
        vals = [realized(m, reference["y_true"].to_numpy()[a:a + CHUNK], reference["y_pred"].to_numpy()[a:a + CHUNK],
                         reference["proba"].to_numpy()[a:a + CHUNK]) for a in range(0, len(reference), CHUNK)]
        refs[m] = (vals, thresholds(np.asarray(vals)))
    rows = []
    for frame in (reference, analysis):
        for a in range(0, len(frame), CHUNK):
            raw = frame["proba"].to_numpy()[a:a + CHUNK]
            pred = frame["y_pred"].to_numpy()[a:a + CHUNK]
            y = frame["y_true"].to_numpy()[a:a + CHUNK]
            cal = isotonic_predict(fit, raw) if fit is not None else raw
            row = {}
            for m in METRICS:
                v = {"roc_auc": lambda: est_roc_auc(cal, raw), "f1": lambda: est_f1(pred, cal),
                     "accuracy": lambda: est_accuracy(pred, cal)}[m]()
                se = sampling_error(m, comp[m], len(raw))
                lower, upper = refs[m][1]
                row[m] = {"value": v, "sampling_error": se, "realized": realized(m, y, pred, raw),
                          "upper_confidence_boundary": min(1.0, v + 3 * se),
                          "lower_confidence_boundary": max(0.0, v - 3 * se),
                          "upper_threshold": upper, "lower_threshold": lower,
                          "alert": bool(v < lower or v > upper)}
            rows.append(row)
    return refs, rows


FIELDS = ["value", "sampling_error", "realized", "upper_confidence_boundary", "lower_confidence_boundary",
          "upper_threshold", "lower_threshold", "alert"]


def case_part(name, reference, analysis):
    decision, calibration = calibration_part(reference)
    est = nannyml.CBPE(problem_type="classification_binary", y_pred_proba="proba", y_pred="y_pred", y_true="y_true",
                       metrics=METRICS, chunk_size=CHUNK)
    est.fit(reference)
    result = est.estimate(analysis).data
    assert est.needs_calibration == decision
    ref_rows = result[result[("chunk", "period")] == "reference"]
    ana_rows = result[result[("chunk", "period")] == "analysis"]
    assert len(ref_rows) == N_REF // CHUNK and len(ana_rows) == len(analysis) // CHUNK

    # The calibrator NannyML fitted (when it calibrates) and the restatement's.
    fit = isotonic_fit(reference["proba"], reference["y_true"]) if decision else None
    reg = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(reference["proba"], reference["y_true"])
    if decision:
        assert np.array_equal(est.calibrator._regressor.X_thresholds_, reg.X_thresholds_)
        assert np.array_equal(est.calibrator._regressor.y_thresholds_, reg.y_thresholds_)
    check_isotonic(reference["proba"].to_numpy(), reference["y_true"].to_numpy(), analysis["proba"].to_numpy())
    calibrated = reg.predict(analysis["proba"].to_numpy())

    comp = components(reference)
    got = {}
    for m in est.metrics:
        se = m._sampling_error_components
        got[m.name] = [float(v) for v in se]
    assert close(got["roc_auc"], comp["roc_auc"], 0, 0) and close(got["f1"], comp["f1"], 0, 0), (got, comp)
    assert close(got["accuracy"], comp["accuracy"], 0, 0), (got, comp)

    refs, rows = restate(reference, analysis, fit, comp)
    lib_rows = []
    for frame_rows in (ref_rows, ana_rows):
        for _, r in frame_rows.iterrows():
            lib_rows.append({m: {f: r[(m, f)] for f in FIELDS} for m in METRICS})
    for mine, lib in zip(rows, lib_rows):
        for m in METRICS:
            for f in FIELDS:
                a, b = mine[m][f], lib[m][f]
                if f == "alert":
                    assert bool(a) == bool(b), (m, f, a, b)
                else:
                    assert close(a, b, 1e-15, 0), (name, m, f, a, b)
    thresholds_lib = {m.name: [m.lower_threshold_value, m.upper_threshold_value] for m in est.metrics}
    for m in METRICS:
        assert close(thresholds_lib[m], refs[m][1], 0, 0), (m, thresholds_lib[m], refs[m][1])

    def rows_json(frame_rows):
        return [{m: {f: (bool(row[m][f]) if f == "alert" else num(row[m][f])) for f in FIELDS} for m in METRICS}
                for row in frame_rows]

    print(f"{name}: needs_calibration={decision} ece before {calibration['ece_before']:.6f} after "
          f"{calibration['ece_after']:.6f} (stable sort {calibration['ece_after_stable']:.6f}); "
          f"{len(reg.X_thresholds_)} isotonic thresholds", file=sys.stderr)
    for row, chunk in zip(lib_rows[N_REF // CHUNK:], ["same", "boundary", "threshold"]):
        text = ", ".join(f"{m} {row[m]['value']:.4f}±{row[m]['sampling_error']:.4f} (realized {row[m]['realized']:.4f}"
                         f"{', ALERT' if row[m]['alert'] else ''})" for m in METRICS)
        print(f"  {chunk}: {text}", file=sys.stderr)
    print(f"  thresholds: {thresholds_lib}", file=sys.stderr)
    return {
        "name": name,
        "reference": {"y_true": [int(v) for v in reference["y_true"]], "y_pred": [int(v) for v in reference["y_pred"]],
                      "proba": [float(v) for v in reference["proba"]]},
        "analysis": {"y_true": [int(v) for v in analysis["y_true"]], "y_pred": [int(v) for v in analysis["y_pred"]],
                     "proba": [float(v) for v in analysis["proba"]]},
        "calibration": calibration,
        "isotonic": {"x_thresholds": [float(v) for v in reg.X_thresholds_],
                     "y_thresholds": [float(v) for v in reg.y_thresholds_],
                     "x_min": float(reg.X_min_), "x_max": float(reg.X_max_),
                     "calibrated_analysis": [float(v) for v in calibrated]},
        "sampling_error_components": comp,
        "reference_realized": {m: [num(v) for v in refs[m][0]] for m in METRICS},
        "thresholds": {m: [num(v) for v in thresholds_lib[m]] for m in METRICS},
        "reference_chunks": rows_json(lib_rows[:N_REF // CHUNK]),
        "analysis_chunks": rows_json(lib_rows[N_REF // CHUNK:]),
    }


# --------------------------------------------------------------------------------------------


def main():
    chunk_names, cuts, cases = make_data()
    doc = {
        "generator": "tests/golden/make_cbpe.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "sklearn": sklearn.__version__,
            "scipy": scipy.__version__,
            "nannyml": nannyml.__version__,
        },
        "seed": SEED,
        "chunk_size": CHUNK,
        "metrics": METRICS,
        "analysis_chunks": chunk_names,
        "analysis_thresholds": cuts,
        "isotonic_cases": isotonic_cases(),
        "cases": [case_part(name, ref, ana) for name, (ref, ana) in cases.items()],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cbpe.json")
    with open(path, "w") as f:
        dump(doc, f)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
