#!/usr/bin/env python3
"""Generates reference.csv: 20,000 rows of a synthetic churn model's inputs, the demo's reference,
with the demo model's labelled predictions on them.

    pip install numpy scikit-learn && python3 datasets/demo/make_demo.py

Seeded, so the file is reproducible byte for byte with the same numpy and scikit-learn versions
(numpy 2.4.6, scikit-learn 1.9.1). About 1 % of monthly_charges is left empty (missing) so the
missing-value counters have something to count. `driftwatch demo` bootstraps rows from this file
and injects drift into them over time.

The last three columns are what CBPE calibrates on (`[model.performance] estimate = true`):
`label`, drawn from the demo world's true churn probability (the function
`true_churn_probability` of src/tools/model_server.rs); `probability`, P(churn) of a logistic
regression on the same design the demo model server uses, fitted here by scikit-learn on these
labels; `prediction`, that probability >= 0.5. The model server fits its own (linfa) on the
`label` column at start; a unit test there checks its probabilities equal this column's within
0.01, so the reference's predictions are the served model's.
"""
import os

import numpy as np
from sklearn.linear_model import LogisticRegression

N = 20_000
rng = np.random.default_rng(20261125)

age = np.clip(np.round(rng.normal(41, 12, N)), 18, 90).astype(int)
tenure = np.round(rng.exponential(24, N)).astype(int)
charges = np.round(rng.lognormal(np.log(60), 0.35, N), 2)
calls = rng.poisson(1.5, N)
plan = rng.choice(["basic", "standard", "premium"], N, p=[0.5, 0.3, 0.2])
region = rng.choice(["north", "south", "east", "west"], N, p=[0.3, 0.3, 0.25, 0.15])
missing = rng.random(N) < 0.01
# Drawn after the features, so those stay what they were before labels were added.
u = rng.random(N)

charges_or_mean = np.where(missing, 64.0, charges)
z = 3.0 * (-1.0 + 1.5 * (calls - 1.5) - 0.1 * (tenure - 24.0) + 0.06 * (charges_or_mean - 64.0)
           + np.where(plan == "basic", 0.5, 0.0))
label = (u < 1.0 / (1.0 + np.exp(-z))).astype(int)

# The model server's design: numeric columns standardised by the mean and population standard
# deviation of their present values (a missing value is 0 after it), one-hot plan and region.
numeric = np.column_stack([age, tenure, np.where(missing, np.nan, charges), calls]).astype(float)
mean = np.nanmean(numeric, axis=0)
scale = np.nanstd(numeric, axis=0)
design = np.nan_to_num((numeric - mean) / scale, nan=0.0)
onehot = [plan == p for p in ("basic", "standard")] + [region == r for r in ("north", "east", "west")]
design = np.column_stack([design] + [c.astype(float) for c in onehot])
# linfa's LogisticRegression default: an L2 penalty of 1.0 on the summed log loss, intercept free.
fitted = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(design, label)
probability = fitted.predict_proba(design)[:, list(fitted.classes_).index(1)]

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.csv")
with open(path, "w") as f:
    f.write("age,tenure_months,monthly_charges,support_calls,plan,region,label,prediction,probability\n")
    for i in range(N):
        c = "" if missing[i] else f"{charges[i]:.2f}"
        f.write(f"{age[i]},{tenure[i]},{c},{calls[i]},{plan[i]},{region[i]},"
                f"{label[i]},{int(probability[i] >= 0.5)},{probability[i]:.6f}\n")
print(f"wrote {path}")
