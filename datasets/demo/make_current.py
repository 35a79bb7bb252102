#!/usr/bin/env python3
"""Generates current.csv: 5,000 rows of the demo model's inputs after a drift, for the drift report
example (`driftwatch report --reference datasets/demo/reference.csv --current datasets/demo/current.csv`).

    python3 datasets/demo/make_current.py

Pure standard library (random.Random is seeded and stable across Python versions), so the file is
reproducible without numpy. Against reference.csv: customers are older (age +6), the plan mix moved
to premium, monthly charges rose 8 %, a region the reference never saw appears ("central", 5 %), and
2 % of monthly_charges are missing (1 % in the reference). Tenure and support calls are unchanged.
"""
import math
import os
import random

N = 5_000
rng = random.Random(20261202)


def pick(options):
    u, acc = rng.random(), 0.0
    for value, p in options:
        acc += p
        if u < acc:
            return value
    return options[-1][0]


def poisson(lam):
    # Knuth's method: exact for the small rate used here.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "current.csv")
with open(path, "w") as f:
    f.write("age,tenure_months,monthly_charges,support_calls,plan,region\n")
    for _ in range(N):
        age = min(90, max(18, round(rng.gauss(47, 12))))
        tenure = round(rng.expovariate(1 / 24))
        charges = round(rng.lognormvariate(math.log(60 * 1.08), 0.35), 2)
        calls = poisson(1.5)
        plan = pick([("basic", 0.35), ("standard", 0.3), ("premium", 0.35)])
        region = pick([("north", 0.28), ("south", 0.28), ("east", 0.24), ("west", 0.15), ("central", 0.05)])
        c = "" if rng.random() < 0.02 else f"{charges:.2f}"
        f.write(f"{age},{tenure},{c},{calls},{plan},{region}\n")
