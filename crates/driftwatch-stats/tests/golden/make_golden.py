#!/usr/bin/env python3
"""Generates drift.json: expected drift statistics computed by scipy/numpy, the oracle for
tests/golden.rs.

Inputs are not stored: both this script and tests/support/gen.rs draw them from the same
deterministic generator (splitmix64 -> uniform -> inverse transforms, scalar libm calls, then
rounded to a dyadic grid so a last-ulp libm difference cannot change a value). Only the
generator parameters and scipy's answers go into the JSON.

    pip install numpy scipy && cd crates/driftwatch-stats && python3 tests/golden/make_golden.py

Versions used are recorded in the output.
"""
import json
import math
import os
import sys

import numpy as np
import scipy
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo, wasserstein_distance

MASK = (1 << 64) - 1
EPS = 1e-4
BINS = 10


def splitmix64(seed):
    state = seed & MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def uniforms(seed):
    for z in splitmix64(seed):
        yield ((z >> 11) + 0.5) * 2.0 ** -53


def sample(spec):
    """spec: {dist, n, seed, q, a, b}; mirrors gen::sample in tests/support/gen.rs."""
    dist, n, q, a, b = spec["dist"], spec["n"], spec["q"], spec["a"], spec["b"]
    u = uniforms(spec["seed"])
    out = []
    scale = 2.0 ** q
    for _ in range(n):
        if dist == "normal":
            u1, u2 = next(u), next(u)
            x = a + b * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        elif dist == "lognormal":
            u1, u2 = next(u), next(u)
            x = math.exp(a + b * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2))
        elif dist == "cauchy":
            x = a + b * math.tan(math.pi * (next(u) - 0.5))
        elif dist == "exponential":
            x = a - b * math.log(next(u))
        elif dist == "int":
            x = a + math.floor(next(u) * b)
        elif dist == "constant":
            x = a
        else:
            raise ValueError(dist)
        out.append(math.floor(x * scale + 0.5) / scale)
    return np.array(out, dtype=np.float64)


def numpy_psi_counts(ref, cur):
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, BINS + 1)[1:-1]))
    rc = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    return rc, cc


def psi(rc, cc):
    rp = np.maximum(rc / rc.sum(), EPS)
    cp = np.maximum(cc / cc.sum(), EPS)
    return float(np.sum((cp - rp) * np.log(cp / rp)))


def spec(dist, n, seed, a=0.0, b=1.0, q=16):
    return {"dist": dist, "n": n, "seed": seed, "a": a, "b": b, "q": q}


def numeric_cases():
    cases = []
    seed = 1

    def add(name, ref, cur):
        nonlocal seed
        ref = dict(ref, seed=seed)
        cur = dict(cur, seed=seed + 1)
        seed += 2
        cases.append((name, ref, cur))

    # Tiny samples, exact p-values on both branches (equal and unequal sizes).
    for n1, n2 in [(10, 10), (10, 15), (7, 5), (13, 13), (40, 60), (100, 333), (999, 1000), (3000, 4500)]:
        for shift in [0.0, 0.7]:
            add(f"normal_{n1}x{n2}_shift{shift}", spec("normal", n1, 0), spec("normal", n2, 0, a=shift))
    add("ties_int5_50x37", spec("int", 50, 0, 0, 5, q=0), spec("int", 37, 0, 1, 5, q=0))
    add("ties_int3_20000x20000", spec("int", 20000, 0, 0, 3, q=0), spec("int", 20000, 0, 0, 3, q=0))
    add("ties_int10_5000x7000_shift", spec("int", 5000, 0, 0, 10, q=0), spec("int", 7000, 0, 1, 10, q=0))
    add("cauchy_1000x800", spec("cauchy", 1000, 0), spec("cauchy", 800, 0, a=0.5))
    add("cauchy_100000x10000", spec("cauchy", 100000, 0), spec("cauchy", 10000, 0, b=1.5))
    add("lognormal_5000x5000", spec("lognormal", 5000, 0), spec("lognormal", 5000, 0, a=0.1))
    add("normal_10000x10000_exact_boundary", spec("normal", 10000, 0), spec("normal", 10000, 0, a=0.05))
    add("normal_10001x10000_asymp", spec("normal", 10001, 0), spec("normal", 10000, 0, a=0.05))
    add("normal_100000x10000_null", spec("normal", 100000, 0), spec("normal", 10000, 0))
    add("normal_100000x10000_small", spec("normal", 100000, 0), spec("normal", 10000, 0, a=0.03))
    add("normal_100000x10000_drift", spec("normal", 100000, 0), spec("normal", 10000, 0, a=0.1))
    add("normal_100000x10000_strong", spec("normal", 100000, 0), spec("normal", 10000, 0, a=0.25))
    add("constant_ref_vs_normal", spec("constant", 500, 0, a=1.0), spec("normal", 400, 0, a=1.0))
    add("constant_vs_same_constant", spec("constant", 300, 0, a=2.0), spec("constant", 200, 0, a=2.0))
    add("constant_vs_other_constant", spec("constant", 300, 0, a=2.0), spec("constant", 200, 0, a=3.0))
    for n2, shift in [(30, 0.0), (30, 0.4), (30, 1.2), (100, 0.15), (100, 0.5), (141, 0.2), (500, 0.05), (500, 0.3)]:
        add(f"normal_20000x{n2}_shift{shift}", spec("normal", 20000, 0), spec("normal", n2, 0, a=shift))
    add("exponential_1000000x50000", spec("exponential", 1000000, 0), spec("exponential", 50000, 0, b=1.02))
    add("normal_1000000x1000000", spec("normal", 1000000, 0), spec("normal", 1000000, 0, a=0.002))
    add("normal_10x1000000", spec("normal", 10, 0), spec("normal", 1000000, 0, a=0.3))

    out = []
    for name, rs, cs in cases:
        ref, cur = sample(rs), sample(cs)
        rc, cc = numpy_psi_counts(ref, cur)
        ks = ks_2samp(ref, cur, method="auto")
        out.append({
            "name": name,
            "reference": rs,
            "current": cs,
            "psi": psi(rc, cc),
            "jensenshannon": float(jensenshannon(rc, cc)),
            "ks_statistic": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
            "wasserstein": float(wasserstein_distance(ref, cur)),
        })
        print(f"{name}: psi={out[-1]['psi']:.6g} ks={ks.statistic:.6g} p={ks.pvalue:.6g}", file=sys.stderr)
    return out


def categorical_cases():
    """Codes from gen 'int'; categories are named f"c{code}" so both sides sort them alike."""
    out = []
    seed = 10_000
    for n1, k1, n2, k2, off in [(20, 2, 15, 2, 0), (200, 2, 300, 2, 0), (100, 3, 80, 3, 0), (1000, 5, 1000, 5, 0),
                                (1000, 5, 1000, 6, 0), (5000, 8, 4000, 8, 1), (50, 4, 40, 2, 2), (100000, 12, 10000, 12, 0),
                                (30, 1, 30, 1, 0), (30, 1, 30, 2, 0)]:
        rs = spec("int", n1, seed, 0, k1, q=0)
        cs = spec("int", n2, seed + 1, off, k2, q=0)
        seed += 2
        ref = [f"c{int(v)}" for v in sample(rs)]
        cur = [f"c{int(v)}" for v in sample(cs)]
        cats = sorted(set(ref))
        idx = {c: i for i, c in enumerate(cats)}
        rc = np.zeros(len(cats) + 1, dtype=np.int64)
        cc = np.zeros(len(cats) + 1, dtype=np.int64)
        for c in ref:
            rc[idx[c]] += 1
        for c in cur:
            cc[idx.get(c, len(cats))] += 1
        table = np.array([rc, cc])
        table = table[:, table.sum(axis=0) > 0]
        stat, p, dof, _ = chi2_contingency(table)
        out.append({
            "name": f"cat_{n1}k{k1}_vs_{n2}k{k2}_off{off}",
            "reference": rs,
            "current": cs,
            "psi": psi(rc, cc),
            "jensenshannon": float(jensenshannon(rc, cc)),
            "chi2_statistic": float(stat),
            "chi2_pvalue": float(p),
            "chi2_dof": int(dof),
        })
    return out


def kstwo_cases():
    """kstwo.sf over a grid that reaches every branch of scipy's _kolmogn."""
    grid = []
    for n in [1, 2, 5, 10, 37, 100, 140, 141, 500, 1000, 9091, 50000, 100000, 100001, 1000000]:
        for x in [0.0005, 0.001, 0.004, 0.01, 0.02, 0.05, 0.08, 0.12, 0.2, 0.3, 0.45, 0.5, 0.6, 0.8, 0.95]:
            grid.append({"n": n, "x": x, "sf": float(kstwo.sf(x, n))})
    return grid


def main():
    doc = {
        "generator": "tests/golden/make_golden.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "bins": BINS,
        "eps": EPS,
        "numeric": numeric_cases(),
        "categorical": categorical_cases(),
        "kstwo": kstwo_cases(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drift.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
