#!/usr/bin/env python3
"""Generates multivariate.json: multivariate drift answers from NannyML, alibi-detect and
scikit-learn, the oracle for the multivariate golden tests.

It computes three things on one deterministic data set (numpy default_rng, fixed seed):

- pca: NannyML's DataReconstructionDriftCalculator (n_components=0.65, chunk_size=500) fitted on
  a 2000-row reference and run on four 500-row windows (same / correlation_flip / x3_shift /
  category_shift), plus the fitted internals (imputer statistics, CountEncoder mapping,
  StandardScaler mean/scale, PCA component count, full explained-variance ratios).
- mmd: alibi-detect's MMDDrift (PyTorch backend, GaussianRBF) MMD^2 with sigma=1 and with the
  median-heuristic sigma, and its permutation p-value (200 permutations, informative only).
- auc: sklearn.metrics.roc_auc_score on a few cases (random, tied, separated, constant scores).

Inputs are stored in the JSON (unlike drift.json): every generated float is rounded to a
multiple of 2**-20, so it is a dyadic number that prints and parses exactly; missing values are
null. The library answers are float64 printed with repr (round-trips exactly).

The script also restates each algorithm in plain numpy and asserts that the restatement
reproduces the library's numbers; those restatements are what the Rust side implements.

Run it outside the repo's build, in a venv (one venv holds everything; PyPI only):

    python3 -m venv /tmp/mvenv
    /tmp/mvenv/bin/pip install nannyml==0.13.1 "alibi-detect[torch]==0.13.0" statsmodels "pandas<3"
    cd crates/driftwatch-stats && /tmp/mvenv/bin/python tests/golden/make_multivariate.py

(statsmodels is imported by nannyml 0.13.1 but not declared as its dependency.) Generated with
Python 3.11.7, numpy 1.26.4, pandas 2.3.3, scikit-learn 1.9.1, scipy 1.17.1, nannyml 0.13.1,
category-encoders 2.11.2, alibi-detect 0.13.0, torch 2.15.0 (CPU); the versions actually used
are recorded in the output. Runs in well under a minute.
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

import category_encoders  # noqa: E402
import nannyml  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from alibi_detect.cd import MMDDrift  # noqa: E402
import alibi_detect  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

SEED = 20260501
GRID = 2.0 ** -20
N_REF = 2000
N_WIN = 500
CHUNK = 500
SHARE = 0.65
RHO = 0.8
MISSING = 0.01
NUMERIC = ["x1", "x2", "x3", "x4"]
CATEGORICAL = ["c"]
COLUMNS = NUMERIC + CATEGORICAL
MMD_REF_ROWS = 400
MMD_WIN_ROWS = 200
N_PERM = 200


def q(x):
    """Round to the 2**-20 grid (numpy round: half to even)."""
    return np.round(np.asarray(x, dtype=np.float64) / GRID) * GRID


def draw(rng, n, rho=RHO, x3_range=(0.0, 10.0), cats=("a", "b", "c"), probs=(0.5, 0.3, 0.2)):
    z1 = rng.standard_normal(n)
    z2 = rng.standard_normal(n)
    x1 = q(z1)
    x2 = q(rho * z1 + np.sqrt(1.0 - rho * rho) * z2)
    x3 = q(rng.uniform(x3_range[0], x3_range[1], n))
    x4 = q(rng.exponential(2.0, n))
    c = rng.choice(np.array(cats, dtype=object), size=n, p=list(probs))
    x3[rng.random(n) < MISSING] = np.nan
    c[rng.random(n) < MISSING] = np.nan  # np.nan, not None: see pca_part
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "x4": x4, "c": c})


def make_data():
    rng = np.random.default_rng(SEED)
    reference = draw(rng, N_REF)
    windows = [
        ("same", draw(rng, N_WIN)),
        ("correlation_flip", draw(rng, N_WIN, rho=-RHO)),
        ("x3_shift", draw(rng, N_WIN, x3_range=(3.0, 13.0))),
        ("category_shift", draw(rng, N_WIN, cats=("a", "b", "c", "d"), probs=(0.2, 0.3, 0.3, 0.2))),
    ]
    return rng, reference, windows


def to_json_frame(df):
    out = {}
    for col in NUMERIC:
        out[col] = [None if np.isnan(v) else float(v) for v in df[col]]
    for col in CATEGORICAL:
        out[col] = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in df[col]]
    return out


def close(a, b, rtol=1e-9, atol=1e-12):
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------------------------
# NannyML DataReconstructionDriftCalculator


def pca_part(reference, windows):
    # Categorical missing values are np.nan: sklearn's SimpleImputer(missing_values=np.nan) masks
    # object cells with X != X, so a None cell would NOT be imputed (it would reach the
    # CountEncoder as its own category).
    analysis = pd.concat([w for _, w in windows], ignore_index=True)
    calc = nannyml.DataReconstructionDriftCalculator(column_names=COLUMNS, chunk_size=CHUNK, n_components=SHARE)
    calc.fit(reference.copy())
    result = calc.calculate(analysis).data

    ref_rows = result[result[("chunk", "period")] == "reference"]
    ana_rows = result[result[("chunk", "period")] == "analysis"]
    assert len(ref_rows) == N_REF // CHUNK, ref_rows
    assert len(ana_rows) == len(windows), ana_rows
    for i, (_, row) in enumerate(ana_rows.iterrows()):
        assert row[("chunk", "start_index")] == i * N_WIN and row[("chunk", "end_index")] == (i + 1) * N_WIN - 1
    ref_err = [float(v) for v in ref_rows[("reconstruction_error", "value")]]
    upper = calc.upper_threshold_value
    lower = calc.lower_threshold_value

    # Fitted internals.
    cont, cat = calc.continuous_column_names, calc.categorical_column_names
    assert cont == sorted(NUMERIC) and cat == CATEGORICAL, (cont, cat)
    imputed_means = {c: float(v) for c, v in zip(cont, calc._imputer_continuous.statistics_)}
    imputed_modes = {c: str(v) for c, v in zip(cat, calc._imputer_categorical.statistics_)}
    enc = calc._encoder
    encoding = {}
    for col in cat:
        encoding[col] = {str(k): float(v) for k, v in enc.mapping[col].items()}
    probe = reference[COLUMNS].iloc[:1].copy()
    probe["c"] = "d"
    encoding["c"]["__unseen__"] = float(enc.transform(probe)["c"].iloc[0])
    imputed_ref = reference.copy()
    imputed_ref[cont] = calc._imputer_continuous.transform(imputed_ref[cont])
    imputed_ref[cat] = calc._imputer_categorical.transform(imputed_ref[cat])
    encoded = enc.transform(imputed_ref[COLUMNS])
    column_order = [str(c) for c in encoded.columns]
    scaler, pca = calc._scaler, calc._pca
    z = scaler.transform(encoded.to_numpy())
    full = PCA(n_components=None).fit(z)

    # Plain-numpy restatement (what the Rust side implements) must reproduce NannyML.
    mine = restate_pca(reference, [w for _, w in windows])
    assert mine["column_order"] == column_order
    assert close(mine["means"], [imputed_means[c] for c in cont])
    assert mine["mode"] == imputed_modes["c"]
    assert close([mine["encoding"][k] for k in "abc"], [encoding["c"][k] for k in "abc"])
    assert close(mine["scaler_mean"], scaler.mean_) and close(mine["scaler_scale"], scaler.scale_)
    assert mine["k"] == pca.n_components_
    assert close(mine["ratios"], full.explained_variance_ratio_)
    assert close(mine["ref_errors"], ref_err), (mine["ref_errors"], ref_err)
    assert close(mine["win_errors"], ana_rows[("reconstruction_error", "value")].to_numpy())
    assert close(mine["upper"], upper)
    assert (mine["lower"] is None) == (lower is None) and (lower is None or close(mine["lower"], lower))

    out_windows = []
    for (name, _), (_, row) in zip(windows, ana_rows.iterrows()):
        out_windows.append({
            "name": name,
            "error": float(row[("reconstruction_error", "value")]),
            "alert": bool(row[("reconstruction_error", "alert")]),
        })
    for w in out_windows:
        print(f"pca {w['name']}: error={w['error']:.6f} alert={w['alert']}", file=sys.stderr)
    print(f"pca reference chunks {ref_err} thresholds [{lower}, {upper}] k={pca.n_components_}", file=sys.stderr)
    return {
        "variance_share": SHARE,
        "chunk_size": CHUNK,
        "column_order": column_order,
        "imputed_means": imputed_means,
        "imputed_modes": imputed_modes,
        "encoding": encoding,
        "scaler_mean": [float(v) for v in scaler.mean_],
        "scaler_scale": [float(v) for v in scaler.scale_],
        "n_components": int(pca.n_components_),
        "explained_variance_ratio": [float(v) for v in full.explained_variance_ratio_],
        "reference_chunk_errors": ref_err,
        "upper_threshold": float(upper) if upper is not None else None,
        "lower_threshold": float(lower) if lower is not None else None,
        "windows": out_windows,
    }


def restate_pca(reference, windows):
    """NannyML's algorithm in plain numpy (float64 throughout)."""
    cont = sorted(NUMERIC)
    means = [float(np.nanmean(reference[c].to_numpy(dtype=float))) for c in cont]
    cats = [v for v in reference["c"] if isinstance(v, str)]
    counts = {k: cats.count(k) for k in sorted(set(cats))}
    best = max(counts.values())
    mode = min(k for k, v in counts.items() if v == best)  # ties: smallest value

    def impute(df):
        df = df.copy()
        for c, m in zip(cont, means):
            df[c] = df[c].fillna(m)
        df["c"] = [v if isinstance(v, str) else mode for v in df["c"]]
        return df

    ref = impute(reference)
    n = len(ref)
    encoding = {k: sum(1 for v in ref["c"] if v == k) / n for k in sorted(set(ref["c"]))}

    def matrix(df):
        cols = [df[c].to_numpy(dtype=float) for c in NUMERIC]
        cols.append(np.array([encoding.get(v, 0.0) for v in df["c"]]))
        return np.column_stack(cols)

    x = matrix(ref)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)  # ddof=0; a zero sd would be replaced by 1
    sd[sd == 0.0] = 1.0
    z = (x - mu) / sd
    zm = z.mean(axis=0)
    cov = (z - zm).T @ (z - zm) / (n - 1)
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = evals[::-1].clip(min=0.0), evecs[:, ::-1]
    ratios = evals / evals.sum()
    k = int(np.searchsorted(np.cumsum(ratios), SHARE, side="right")) + 1
    v = evecs[:, :k]  # d x k, orthonormal columns (sign is irrelevant here)

    def errors(df):
        zz = (matrix(impute(df)) - mu) / sd - zm
        resid = zz - (zz @ v) @ v.T
        return np.sqrt((resid ** 2).sum(axis=1))

    def chunk_means(e):
        return [float(e[i:i + CHUNK].mean()) for i in range(0, len(e), CHUNK)]

    ref_errors = chunk_means(errors(reference))
    win_errors = [float(errors(w).mean()) for w in windows]
    centre, spread = np.mean(ref_errors), np.std(ref_errors)  # ddof=0
    lower = centre - 3.0 * spread
    return {
        "column_order": NUMERIC + ["c"], "means": means, "mode": mode, "encoding": encoding,
        "scaler_mean": mu, "scaler_scale": sd, "k": k, "ratios": ratios,
        "ref_errors": ref_errors, "win_errors": win_errors,
        "upper": centre + 3.0 * spread, "lower": None if lower <= 0.0 else lower,
    }


# --------------------------------------------------------------------------------------------
# alibi-detect MMDDrift (PyTorch backend)


def complete_rows(df, n):
    x = df[NUMERIC].to_numpy(dtype=float)
    x = x[~np.isnan(x).any(axis=1)]
    assert len(x) >= n
    return x[:n]


def restate_mmd2(x, y, gamma):
    """Unbiased MMD^2 with the Gaussian kernel exp(-gamma |a-b|^2), gamma = 1/(2 sigma^2), float64."""
    def k(a, b):
        d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
        return np.exp(-gamma * d)
    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2.0 * kxy.mean())


def alibi_sigma_gamma(detector):
    """The sigma alibi's GaussianRBF holds and the gamma it multiplies distances by.

    An inferred sigma is stored as log_sigma in a float32 nn.Parameter (torch.empty(1)), so the
    kernel uses sigma32 = exp_f32(f32(ln sigma)) and gamma = 1 / (2 * sigma32**2) evaluated in
    float32, then promoted to float64 when multiplied with the float64 distances.
    """
    kernel = detector._detector.kernel
    sigma = kernel.sigma.detach()
    gamma = 1.0 / (2.0 * sigma ** 2)
    return float(sigma.double().numpy()[0]), float(gamma.double().numpy()[0])


def restate_sigma_median(x, y):
    d = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2).ravel()
    n = min(len(x), len(y))
    n = n if x.shape == y.shape and (x[:n] == y[:n]).all() else 0
    return float(np.sqrt(0.5 * np.sort(d)[n + (d.size - n) // 2 - 1]))


def mmd_part(reference, windows):
    torch.set_num_threads(1)
    raw_ref = complete_rows(reference, MMD_REF_ROWS)
    mean, std = raw_ref.mean(axis=0), raw_ref.std(axis=0)
    x_ref = q((raw_ref - mean) / std)
    # Default detector: sigma inferred once, at construction, by the median heuristic on
    # x_ref vs x_ref; every score() then reuses it.
    torch.manual_seed(0)
    med = MMDDrift(x_ref, backend="pytorch", n_permutations=N_PERM, device="cpu")
    median_sigma, median_gamma = alibi_sigma_gamma(med)
    median_sigma_64 = restate_sigma_median(x_ref, x_ref)
    assert close(np.exp(np.float32(np.log(median_sigma_64))), median_sigma, rtol=1e-7)
    fixed = MMDDrift(x_ref, backend="pytorch", sigma=np.array([1.0]), configure_kernel_from_x_ref=False,
                     n_permutations=N_PERM, device="cpu")
    out = []
    for name, df in windows:
        x = q((complete_rows(df, MMD_WIN_ROWS) - mean) / std)
        torch.manual_seed(0)
        p_value, mmd2, _ = fixed.score(x)
        assert close(mmd2, restate_mmd2(x_ref, x, 0.5), rtol=1e-9), (mmd2, restate_mmd2(x_ref, x, 0.5))
        torch.manual_seed(0)
        p_med, mmd2_med, _ = med.score(x)
        assert close(mmd2_med, restate_mmd2(x_ref, x, median_gamma), rtol=1e-9)
        # Variant: configure_kernel_from_x_ref=False re-infers sigma on every score() call, from
        # the cross distances x_ref vs x.
        cross = MMDDrift(x_ref, backend="pytorch", configure_kernel_from_x_ref=False, n_permutations=N_PERM,
                         device="cpu")
        torch.manual_seed(0)
        _, mmd2_cross, _ = cross.score(x)
        sigma_cross, gamma_cross = alibi_sigma_gamma(cross)
        sigma_cross_64 = restate_sigma_median(x_ref, x)
        assert close(np.exp(np.float32(np.log(sigma_cross_64))), sigma_cross, rtol=1e-7)
        assert close(mmd2_cross, restate_mmd2(x_ref, x, gamma_cross), rtol=1e-9)
        out.append({
            "name": name,
            "x": [[float(v) for v in row] for row in x],
            "sigma": 1.0,
            "mmd2": float(mmd2),
            "p_value": float(p_value),
            "median_sigma": median_sigma,
            "median_sigma_float64": median_sigma_64,
            "median_gamma": median_gamma,
            "mmd2_median": float(mmd2_med),
            "p_value_median": float(p_med),
            "median_sigma_ref_vs_x": sigma_cross,
            "median_sigma_ref_vs_x_float64": sigma_cross_64,
            "median_gamma_ref_vs_x": gamma_cross,
            "mmd2_median_ref_vs_x": float(mmd2_cross),
        })
        print(f"mmd {name}: mmd2(1)={mmd2:.6g} p={p_value:.3f} sigma_med={median_sigma:.6g} "
              f"mmd2(med)={mmd2_med:.6g} p={p_med:.3f} sigma_xy={sigma_cross:.6g}", file=sys.stderr)
    return {
        "standardise_mean": [float(v) for v in mean],
        "standardise_std": [float(v) for v in std],
        "n_permutations": N_PERM,
        "x_ref": [[float(v) for v in row] for row in x_ref],
        "windows": out,
    }


# --------------------------------------------------------------------------------------------
# sklearn roc_auc_score


def mann_whitney_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    gt = (pos[:, None] > neg[None, :]).sum()
    eq = (pos[:, None] == neg[None, :]).sum()
    return (gt + 0.5 * eq) / (len(pos) * len(neg))


def auc_part(rng):
    cases = []
    y = (rng.random(300) < 0.4).astype(int)
    cases.append(("random_300", y, q(rng.standard_normal(300) + 0.5 * y)))
    y = (rng.random(400) < 0.5).astype(int)
    cases.append(("ties_1decimal_400", y, np.round(q(rng.uniform(0, 1, 400) * 0.7 + 0.3 * y), 1)))
    y = (rng.random(250) < 0.3).astype(int)
    cases.append(("ties_eighths_250", y, np.floor(rng.uniform(0, 1, 250) * 8 + 2 * y) / 8))
    y = np.array([0] * 40 + [1] * 60)
    cases.append(("perfect_100", y, q(np.concatenate([rng.uniform(0, 1, 40), rng.uniform(2, 3, 60)]))))
    y = np.array([1] * 30 + [0] * 20)
    cases.append(("perfect_inverted_50", y, q(np.concatenate([rng.uniform(0, 1, 30), rng.uniform(2, 3, 20)]))))
    y = (rng.random(120) < 0.5).astype(int)
    cases.append(("all_equal_120", y, np.full(120, 0.25)))
    out = []
    for name, y, s in cases:
        auc = float(roc_auc_score(y, s))
        assert close(auc, mann_whitney_auc(y, s), rtol=1e-12, atol=1e-15), (name, auc, mann_whitney_auc(y, s))
        out.append({"name": name, "y": [int(v) for v in y], "score": [float(v) for v in s], "auc": auc})
        print(f"auc {name}: {auc!r}", file=sys.stderr)
    return out


# --------------------------------------------------------------------------------------------


def main():
    rng, reference, windows = make_data()
    doc = {
        "generator": "tests/golden/make_multivariate.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "sklearn": sklearn.__version__,
            "nannyml": nannyml.__version__,
            "category_encoders": category_encoders.__version__,
            "alibi_detect": alibi_detect.__version__,
            "backend": "pytorch",
            "torch": torch.__version__,
        },
        "seed": SEED,
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "reference": to_json_frame(reference),
        "windows": [{"name": name, "data": to_json_frame(df)} for name, df in windows],
        "pca": pca_part(reference, windows),
        "mmd": mmd_part(reference, windows),
        "auc": auc_part(rng),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multivariate.json")
    with open(path, "w") as f:
        dump(doc, f)
        f.write("\n")
    alerts = [w["name"] for w in doc["pca"]["windows"] if w["alert"]]
    print(f"wrote {path} ({os.path.getsize(path)} bytes); pca alerts: {alerts}", file=sys.stderr)


if __name__ == "__main__":
    main()
