#!/usr/bin/env python3
"""Generates performance.json: scikit-learn's realised model-quality metrics, the oracle for
tests/performance.rs (driftwatch_stats::performance::metrics).

Cases (each one's inputs and sklearn's answers are stored together):

- binary: accuracy_score; precision_score / recall_score / f1_score (average="binary",
  pos_label=<positive>, zero_division=0); roc_auc_score of the positive class's probability;
  log_loss(truth, probabilities, labels=[0, 1]); the expected calibration error (below). Cases:
  balanced, imbalanced, no positive predicted (precision 0), probabilities of exactly 0 and 1
  (log-loss clipping, confidently wrong rows), tied probabilities, positive class 0, a single
  class in truth (ROC AUC undefined), probabilities on the bin edge 0.5.
- multiclass: accuracy; precision / recall / f1 with average="macro", zero_division=0 and
  labels=None (the union of the classes seen in truth or predictions); roc_auc_score(
  multi_class="ovr", average="macro"); log_loss(labels=0..classes); the top-label ECE. Cases:
  3 classes, 5 classes with one class never predicted, 4 classes with one class in neither
  truth nor predictions and one only predicted (ROC AUC undefined: sklearn raises), one-hot
  and tied probability rows.
- regression: mean_absolute_error, root_mean_squared_error, mean_absolute_percentage_error,
  r2_score (force_finite=True). Cases: ordinary, zeros in truth (MAPE divides by f64 eps),
  negative truth, constant truth (imperfect -> 0, perfect -> 1), perfect fit, one sample (R^2
  NaN, stored as null).

The expected calibration error has no sklearn function. It is computed here in plain numpy
from its definition, independently of the Rust code: 10 equal-width bins on [0, 1], the bin of
p is min(floor(10 p), 9), ECE = sum_b (n_b / n) |mean(y in b) - mean(p in b)|. Binary: p is the
positive class's probability and y the positive indicator. Multiclass (Guo et al. 2017): p is
the row's largest probability and y whether the row's argmax (first on ties) is the truth. For
binary cases it is cross-checked against sklearn.calibration.calibration_curve(
strategy="uniform", n_bins=10) weighted by np.histogram's bin counts; that check is skipped
for a case with a probability of exactly 0.5, the only dyadic interior bin edge, because the
two conventions disagree there: calibration_curve's bins are closed on the right ((0.4, 0.5])
while min(floor(10 p), 9) and np.histogram close them on the left ([0.5, 0.6)).

Every generated float is rounded to a multiple of 2**-20 (a dyadic number that prints and
parses exactly); binary rows are (1 - p, p), so they sum to 1 exactly, and multiclass rows are
rounded and then their largest entry set to 1 minus the others, which is also exact. sklearn's
answers are float64 printed with repr (round-trips exactly); NaN is stored as null.

Run it outside the repo's build, in a venv (PyPI only):

    python3 -m venv /tmp/perfenv
    /tmp/perfenv/bin/pip install numpy scikit-learn
    cd crates/driftwatch-stats && /tmp/perfenv/bin/python tests/golden/make_performance.py

Generated with Python 3.11.7, numpy 2.4.6, scikit-learn 1.9.1, scipy 1.17.1; the versions
actually used are recorded in the output. Runs in a second or two.
"""
import os
import platform
import sys
import warnings

import numpy as np
import scipy
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from golden_json import dump

# sklearn warns (and returns 0) on zero division, and on undefined ROC AUC; both are cases here.
warnings.filterwarnings("ignore")

SEED = 20260512
GRID = 2.0 ** -20
N_BINS = 10


def q(x):
    """Round to the 2**-20 grid (numpy round: half to even)."""
    return np.round(np.asarray(x, dtype=np.float64) / GRID) * GRID


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def close(a, b, rtol=1e-12, atol=1e-15):
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def num(x):
    """A float for the JSON: NaN as None (null)."""
    x = float(x)
    return None if np.isnan(x) else x


# --------------------------------------------------------------------------------------------
# Expected calibration error, from its definition


def ece(y, p):
    """sum_b (n_b / n) |mean(y in b) - mean(p in b)|, bin = min(floor(10 p), 9)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    bins = np.minimum(np.floor(p * N_BINS), N_BINS - 1).astype(int)
    n = len(p)
    total = 0.0
    for b in range(N_BINS):
        inside = bins == b
        nb = int(inside.sum())
        if nb == 0:
            continue
        total += nb / n * abs(y[inside].mean() - p[inside].mean())
    return total


def ece_by_calibration_curve(y, p):
    prob_true, prob_pred = calibration_curve(y, p, n_bins=N_BINS, strategy="uniform")
    counts, _ = np.histogram(p, bins=np.linspace(0.0, 1.0, N_BINS + 1))
    counts = counts[counts > 0]
    assert len(counts) == len(prob_true)
    return float(np.sum(counts / len(p) * np.abs(prob_true - prob_pred)))


def top_label(truth, probabilities):
    """(confidence, correct) of each row's top label: numpy's argmax takes the first maximum."""
    top = np.argmax(probabilities, axis=1)
    return probabilities[np.arange(len(truth)), top], (top == truth).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Binary


def binary_rows(p1):
    p1 = q(p1)
    return np.column_stack([1.0 - p1, p1])


def binary_cases(rng):
    cases = []

    n = 500
    y = (rng.random(n) < 0.5).astype(int)
    p1 = sigmoid(1.6 * (2 * y - 1) + rng.standard_normal(n) * 1.3)
    probs = binary_rows(p1)
    cases.append(("balanced_500", 1, y, (probs[:, 1] >= 0.5).astype(int), probs))

    n = 1000
    y = (rng.random(n) < 0.08).astype(int)
    p1 = sigmoid(-2.5 + 2.2 * y + rng.standard_normal(n))
    probs = binary_rows(p1)
    cases.append(("imbalanced_1000", 1, y, (probs[:, 1] >= 0.3).astype(int), probs))

    n = 200
    y = (rng.random(n) < 0.3).astype(int)
    p1 = 0.45 * sigmoid(-1.0 + 1.5 * y + rng.standard_normal(n))
    probs = binary_rows(p1)
    pred = (probs[:, 1] >= 0.5).astype(int)
    assert pred.sum() == 0
    cases.append(("no_positive_predicted_200", 1, y, pred, probs))

    # A confident model: a third of the rows get exactly 0 or 1, some of them confidently wrong.
    n = 300
    y = (rng.random(n) < 0.4).astype(int)
    p1 = sigmoid(2.0 * (2 * y - 1) + rng.standard_normal(n) * 1.5)
    hard = rng.random(n) < 0.35
    flip = rng.random(n) < 0.1
    p1[hard] = np.where(flip[hard], 1 - y[hard], y[hard]).astype(float)
    probs = binary_rows(p1)
    assert (probs == 0.0).any() and (probs == 1.0).any()
    cases.append(("clipped_probabilities_300", 1, y, (probs[:, 1] >= 0.5).astype(int), probs))

    # Few distinct probabilities (none of them a bin edge): ties everywhere in the AUC.
    n = 400
    y = (rng.random(n) < 0.45).astype(int)
    levels = np.array([0.0, 0.125, 0.25, 0.375, 0.625, 0.75, 0.875, 1.0])
    idx = np.clip(rng.integers(0, 6, n) + 2 * y, 0, 7)
    probs = binary_rows(levels[idx])
    cases.append(("tied_probabilities_400", 1, y, (probs[:, 1] >= 0.5).astype(int), probs))

    # Positive class 0, the minority.
    n = 250
    y = (rng.random(n) < 0.7).astype(int)
    p1 = sigmoid(1.2 * (2 * y - 1) + rng.standard_normal(n))
    probs = binary_rows(p1)
    cases.append(("positive_class_zero_250", 0, y, np.where(probs[:, 0] >= 0.4, 0, 1), probs))

    # Only negatives in truth: ROC AUC undefined, recall 0 (zero division).
    n = 100
    y = np.zeros(n, dtype=int)
    p1 = sigmoid(-1.5 + rng.standard_normal(n))
    probs = binary_rows(p1)
    pred = (probs[:, 1] >= 0.5).astype(int)
    assert pred.sum() > 0
    cases.append(("one_class_in_truth_100", 1, y, pred, probs))

    # Probabilities of exactly 0.5 (the bin edge): bin 5 by the definition.
    n = 160
    y = (rng.random(n) < 0.5).astype(int)
    levels = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    idx = np.clip(rng.integers(0, 4, n) + y, 0, 4)
    probs = binary_rows(levels[idx])
    assert (probs[:, 1] == 0.5).any()
    cases.append(("bin_edge_half_160", 1, y, (probs[:, 1] > 0.5).astype(int), probs))

    out = []
    for name, positive, y, pred, probs in cases:
        pos_truth = (y == positive).astype(int)
        p = probs[:, positive]
        if len(np.unique(pos_truth)) == 2:
            auc = float(roc_auc_score(pos_truth, p))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                auc = float(roc_auc_score(pos_truth, p))
            assert np.isnan(auc), (name, auc)  # sklearn 1.9: warns and returns NaN
        calibration = ece(pos_truth, p)
        crosschecked = not (p == 0.5).any()
        if crosschecked:
            other = ece_by_calibration_curve(pos_truth, p)
            assert close(calibration, other, rtol=1e-12, atol=1e-15), (name, calibration, other)
        kw = {"pos_label": positive, "average": "binary", "zero_division": 0}
        expected = {
            "accuracy": float(accuracy_score(y, pred)),
            "precision": float(precision_score(y, pred, **kw)),
            "recall": float(recall_score(y, pred, **kw)),
            "f1": float(f1_score(y, pred, **kw)),
            "roc_auc": num(auc),
            "log_loss": float(log_loss(y, probs, labels=[0, 1])),
            "calibration_error": float(calibration),
        }
        if name == "no_positive_predicted_200":
            assert expected["precision"] == 0.0 and expected["recall"] == 0.0
        print(f"binary {name}: {expected}", file=sys.stderr)
        out.append({
            "name": name,
            "classes": 2,
            "positive": positive,
            "truth": [int(v) for v in y],
            "predicted": [int(v) for v in pred],
            "probabilities": [[float(v) for v in row] for row in probs],
            "ece_crosschecked_with_calibration_curve": crosschecked,
            "expected": expected,
        })
    return out


# --------------------------------------------------------------------------------------------
# Multiclass


def softmax_rows(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = q(z / z.sum(axis=1, keepdims=True))
    return exact_rows(probs)


def exact_rows(probs):
    """Sets each row's largest entry to 1 minus the others: exact on the grid, sums to 1."""
    probs = probs.copy()
    rows = np.arange(len(probs))
    top = np.argmax(probs, axis=1)
    probs[rows, top] = 0.0
    probs[rows, top] = 1.0 - probs.sum(axis=1)
    assert (probs >= 0).all() and (probs.sum(axis=1) == 1.0).all()
    return probs


def multiclass_cases(rng):
    cases = []

    n, k = 600, 3
    y = rng.choice(k, size=n, p=[0.5, 0.3, 0.2])
    logits = rng.standard_normal((n, k)) * 1.2
    logits[np.arange(n), y] += 1.5
    probs = softmax_rows(logits)
    cases.append(("three_classes_600", k, y, np.argmax(probs, axis=1), probs))

    # Class 3 never predicted: its logit is pushed down and predictions skip it, so a few rows'
    # predictions differ from their probabilities' argmax (the ECE uses the argmax).
    n, k = 1000, 5
    y = rng.choice(k, size=n, p=[0.3, 0.25, 0.2, 0.1, 0.15])
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), y] += 1.8
    logits[:, 3] -= 1.0
    probs = softmax_rows(logits)
    masked = probs.copy()
    masked[:, 3] = -1.0
    pred = np.argmax(masked, axis=1)
    assert not (pred == 3).any() and (np.argmax(probs, axis=1) == 3).any()
    cases.append(("five_classes_one_never_predicted_1000", k, y, pred, probs))

    # 4 classes: class 2 is predicted but never true, class 3 is neither (so the macro average is
    # over {0, 1, 2}); ROC AUC is undefined (class 2 has no positive).
    n, k = 300, 4
    y = rng.choice(2, size=n, p=[0.6, 0.4])
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), y] += 1.4
    logits[:, 3] -= 6.0
    probs = softmax_rows(logits)
    masked = probs.copy()
    masked[:, 3] = -1.0
    pred = np.argmax(masked, axis=1)
    assert (pred == 2).any() and not (y == 2).any() and not (pred == 3).any()
    cases.append(("four_classes_unseen_and_predicted_only_300", k, y, pred, probs))

    # Rows that are one-hot (exactly 0 and 1, some confidently wrong) or tied at the top.
    n, k = 240, 3
    y = rng.choice(k, size=n)
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), y] += 1.0
    probs = softmax_rows(logits)
    kind = rng.integers(0, 4, n)
    for i in range(n):
        if kind[i] == 0:  # one-hot, on the truth or (one time in four) elsewhere
            c = y[i] if rng.random() < 0.75 else (y[i] + 1 + rng.integers(0, k - 1)) % k
            probs[i] = np.eye(k)[c]
        elif kind[i] == 1:  # two classes tied at the top
            a, b = rng.choice(k, size=2, replace=False)
            probs[i] = 0.0
            probs[i, a] = probs[i, b] = 0.375
            probs[i, 3 - a - b] = 0.25
    assert (probs.sum(axis=1) == 1.0).all()
    cases.append(("three_classes_one_hot_and_tied_240", k, y, np.argmax(probs, axis=1), probs))

    out = []
    for name, k, y, pred, probs in cases:
        if len(np.unique(y)) == k:
            auc = float(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
        else:
            try:
                roc_auc_score(y, probs, multi_class="ovr", average="macro")
                raise AssertionError(f"{name}: sklearn did not refuse the ROC AUC")
            except ValueError:
                pass
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nan = roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=list(range(k)))
            assert np.isnan(nan), (name, nan)
            auc = float("nan")
        confidence, correct = top_label(y, probs)
        kw = {"average": "macro", "zero_division": 0}
        expected = {
            "accuracy": float(accuracy_score(y, pred)),
            "precision": float(precision_score(y, pred, **kw)),
            "recall": float(recall_score(y, pred, **kw)),
            "f1": float(f1_score(y, pred, **kw)),
            "roc_auc": num(auc),
            "log_loss": float(log_loss(y, probs, labels=list(range(k)))),
            "calibration_error": float(ece(correct, confidence)),
        }
        print(f"multiclass {name}: {expected}", file=sys.stderr)
        out.append({
            "name": name,
            "classes": k,
            "truth": [int(v) for v in y],
            "predicted": [int(v) for v in pred],
            "probabilities": [[float(v) for v in row] for row in probs],
            "expected": expected,
        })
    return out


# --------------------------------------------------------------------------------------------
# Regression


def regression_cases(rng):
    cases = []
    n = 500
    y = q(rng.normal(10.0, 3.0, n))
    cases.append(("ordinary_500", y, q(y + rng.normal(0.3, 1.0, n))))
    n = 200
    y = q(rng.normal(2.0, 1.0, n))
    y[rng.random(n) < 0.05] = 0.0
    assert (y == 0).any()
    cases.append(("zeros_in_truth_200", y, q(y + rng.normal(0.0, 0.5, n))))
    n = 300
    y = q(rng.standard_t(3, n) * 5.0 - 2.0)
    cases.append(("negative_heavy_tailed_300", y, q(0.8 * y + rng.normal(0.0, 2.0, n))))
    n = 100
    y = np.full(n, 3.25)
    cases.append(("constant_truth_imperfect_100", y, q(y + rng.normal(0.0, 0.2, n))))
    n = 50
    y = np.full(n, -1.5)
    cases.append(("constant_truth_perfect_50", y, y.copy()))
    n = 80
    y = q(rng.uniform(-5.0, 5.0, n))
    cases.append(("perfect_fit_80", y, y.copy()))
    cases.append(("one_sample", np.array([2.0]), np.array([2.5])))

    out = []
    for name, y, pred in cases:
        expected = {
            "mae": float(mean_absolute_error(y, pred)),
            "rmse": float(root_mean_squared_error(y, pred)),
            "mape": float(mean_absolute_percentage_error(y, pred)),
            "r2": num(r2_score(y, pred)),
        }
        print(f"regression {name}: {expected}", file=sys.stderr)
        out.append({
            "name": name,
            "truth": [float(v) for v in y],
            "predicted": [float(v) for v in pred],
            "expected": expected,
        })
    return out


# --------------------------------------------------------------------------------------------


def main():
    rng = np.random.default_rng(SEED)
    doc = {
        "generator": "tests/golden/make_performance.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "scipy": scipy.__version__,
        },
        "seed": SEED,
        "ece_bins": N_BINS,
        "binary": binary_cases(rng),
        "multiclass": multiclass_cases(rng),
        "regression": regression_cases(rng),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "performance.json")
    with open(path, "w") as f:
        dump(doc, f)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
