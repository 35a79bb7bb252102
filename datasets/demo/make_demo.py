#!/usr/bin/env python3
"""Generates reference.csv: 20,000 rows of a synthetic churn model's inputs, the demo's reference.

    pip install numpy && python3 datasets/demo/make_demo.py

Seeded, so the file is reproducible byte for byte with the same numpy version. About 1 % of
monthly_charges is left empty (missing) so the missing-value counters have something to count.
`driftwatch demo` bootstraps rows from this file and injects drift into them over time.
"""
import os

import numpy as np

N = 20_000
rng = np.random.default_rng(20261125)

age = np.clip(np.round(rng.normal(41, 12, N)), 18, 90).astype(int)
tenure = np.round(rng.exponential(24, N)).astype(int)
charges = np.round(rng.lognormal(np.log(60), 0.35, N), 2)
calls = rng.poisson(1.5, N)
plan = rng.choice(["basic", "standard", "premium"], N, p=[0.5, 0.3, 0.2])
region = rng.choice(["north", "south", "east", "west"], N, p=[0.3, 0.3, 0.25, 0.15])
missing = rng.random(N) < 0.01

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.csv")
with open(path, "w") as f:
    f.write("age,tenure_months,monthly_charges,support_calls,plan,region\n")
    for i in range(N):
        c = "" if missing[i] else f"{charges[i]:.2f}"
        f.write(f"{age[i]},{tenure[i]},{c},{calls[i]},{plan[i]},{region[i]}\n")
print(f"wrote {path}")
