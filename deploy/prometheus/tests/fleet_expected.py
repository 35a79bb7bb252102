#!/usr/bin/env python3
"""Expected values for fleet.test.yml, computed without PromQL: plain Python floats, driftwatch's
formulas (crates/driftwatch-stats/src/drift/psi.rs).

    python3 deploy/prometheus/tests/fleet_expected.py

PSI of one window: c_i = count_i / sum(count), r_i = the reference's share, both floored at the
model's eps: PSI = sum((c - r) * ln(c / r)). Jensen-Shannon distance as
scipy.spatial.distance.jensenshannon (natural log, no floor): m = (p + q) / 2,
JS = sqrt((sum_{p>0} p ln(p/m) + sum_{q>0} q ln(q/m)) / 2), p = reference, q = window.

The fleet's window is the sum over replicas of their last windows' bin counts (a replica scraped
twice is counted once); the reference share of a bin is the largest any replica exports, 0 for a
bin no replica's reference has (a category seen only as __unseen__). A feature whose summed counts
are 0 has no window share, PSI or JS. The per-replica PSIs are printed for the test's comments.
Stdlib only; the scenario below is the input_series of fleet.test.yml's first test.
"""
import math

# model -> (eps, {feature: {bin: reference share}}, {instance: {feature: {bin: count}}})
# Every replica exports the same reference shares (they load the same file). fraud's instance
# a:9184 is scraped by two jobs in the test; the duplicate carries the same values.
SCENARIO = {
    "churn": (
        1e-4,  # the default eps
        {
            "tenure": {"0": 0.25, "1": 0.25, "2": 0.25, "3": 0.25},
            "plan": {"basic": 0.5, "pro": 0.3, "enterprise": 0.2, "__unseen__": 0.0},
            "region": {"0": 0.25, "1": 0.25, "2": 0.25, "3": 0.25},
        },
        {
            # Windows of 20 rows. tenure has really drifted towards bin 3 (a and b show it strongly,
            # c's window happens to look almost clean); plan has not drifted, but 20 rows are few:
            # each replica's own window scores >= 0.2 by chance, the 60 rows together do not;
            # region is missing in every row of every window.
            "a:9184": {
                "tenure": {"0": 1, "1": 4, "2": 5, "3": 10},
                "plan": {"basic": 10, "pro": 6, "enterprise": 3, "__unseen__": 1},
                "region": {"0": 0, "1": 0, "2": 0, "3": 0},
            },
            "b:9184": {
                "tenure": {"0": 2, "1": 3, "2": 5, "3": 10},
                "plan": {"basic": 15, "pro": 3, "enterprise": 2, "__unseen__": 0},
                "region": {"0": 0, "1": 0, "2": 0, "3": 0},
            },
            "c:9184": {
                "tenure": {"0": 3, "1": 5, "2": 5, "3": 7},
                "plan": {"basic": 5, "pro": 9, "enterprise": 6, "__unseen__": 0},
                "region": {"0": 0, "1": 0, "2": 0, "3": 0},
            },
        },
    ),
    "fraud": (
        1e-3,  # a non-default eps
        {
            "amount": {"0": 0.2, "1": 0.3, "2": 0.3, "3": 0.2},
            # fraud's reference exports no __unseen__ share at all: its share is 0.
            "merchant": {"grocery": 0.6, "travel": 0.4},
        },
        {
            # Windows of 50 rows (2 missing amounts on a). No replica saw amount's bin 3.
            "a:9184": {
                "amount": {"0": 12, "1": 18, "2": 18, "3": 0},
                "merchant": {"grocery": 30, "travel": 18, "__unseen__": 2},
            },
            "b:9184": {
                "amount": {"0": 10, "1": 15, "2": 25, "3": 0},
                "merchant": {"grocery": 28, "travel": 22, "__unseen__": 0},
            },
        },
    ),
}
THRESHOLDS = {("churn", "tenure"): 0.2, ("churn", "plan"): 0.2, ("churn", "region"): 0.2,
              ("fraud", "amount"): 0.2, ("fraud", "merchant"): 0.1}


def psi(window, reference, eps):
    """window, reference: {bin: share} over the same bins."""
    total = 0.0
    for b in sorted(window):
        c = max(window[b], eps)
        r = max(reference[b], eps)
        total += (c - r) * math.log(c / r)
    return total


def jensenshannon(window, reference):
    left = right = 0.0
    for b in sorted(window):
        p, q = reference[b], window[b]
        m = (p + q) / 2
        if p > 0:
            left += p * math.log(p / m)
        if q > 0:
            right += q * math.log(q / m)
    return math.sqrt(max((left + right) / 2, 0.0))


def shares(counts):
    n = sum(counts.values())
    return {b: c / n for b, c in counts.items()}


def labels(**kv):
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(kv.items())) + "}"


def main():
    out = {}  # record name -> [(labels, value)]

    def emit(name, value, **kv):
        out.setdefault(name, []).append((labels(**kv), value))

    per_replica = []
    for model, (eps, reference, replicas) in SCENARIO.items():
        emit("model:data_drift_psi_eps:fleet", eps, model_name=model)
        for feature, ref in reference.items():
            bins = sorted(set(ref).union(*(r[feature] for r in replicas.values())))
            counts = {b: sum(r[feature].get(b, 0) for r in replicas.values()) for b in bins}
            ref_u = {b: ref.get(b, 0.0) for b in bins}
            n = sum(counts.values())
            key = dict(model_name=model, feature=feature)
            for b in bins:
                emit("model_feature_bin:data_drift_window_count:fleet", float(counts[b]), bin=b, **key)
                emit("model_feature_bin:data_drift_reference_share:fleet", ref_u[b], bin=b, **key)
                emit("model_feature_bin:data_drift_reference_share_floored:fleet", max(ref_u[b], eps), bin=b, **key)
            if n == 0:
                continue  # no window share, PSI or JS for a feature with no values
            window = {b: counts[b] / n for b in bins}
            emit("model_feature:data_drift_window_count:fleet", float(n), **key)
            for b in bins:
                emit("model_feature_bin:data_drift_window_share:fleet", window[b], bin=b, **key)
                emit("model_feature_bin:data_drift_window_share_floored:fleet", max(window[b], eps), bin=b, **key)
            fleet_psi = psi(window, ref_u, eps)
            emit("model_feature:data_drift_psi:fleet", fleet_psi, **key)
            emit("model_feature:data_drift_jensenshannon:fleet", jensenshannon(window, ref_u), **key)
            own = {i: psi(shares({b: r[feature].get(b, 0) for b in bins}), ref_u, eps) for i, r in replicas.items()}
            per_replica.append((model, feature, fleet_psi, THRESHOLDS[(model, feature)], own))

    for name, samples in out.items():
        print(f"# {name}")
        for lab, value in sorted(samples):
            print(f"{name}{lab} {value!r}")
        print()
    print("# PSI: the fleet's, and each replica's own last window (threshold)")
    for model, feature, fleet_psi, threshold, own in per_replica:
        mark = "FIRES" if fleet_psi >= threshold else "quiet"
        replicas = ", ".join(f"{i} {v:.4f}" for i, v in own.items())
        print(f"{model}/{feature}: fleet {fleet_psi:.4f} {mark} (threshold {threshold}); own: {replicas}")

    # The second test: fraud's replicas export different merchant shares.
    a, b = {"grocery": 0.6, "travel": 0.4}, {"grocery": 0.55, "travel": 0.45}
    print()
    print("# FleetReferenceMismatch, fraud/merchant: largest share difference")
    print(repr(max(max(a[k], b[k]) - min(a[k], b[k]) for k in a)))


if __name__ == "__main__":
    main()
