//! Property tests: each kernel against a slow, obviously-correct reference written separately, over
//! random shapes, sizes and tie patterns (proptest, seeded by its own persistence rules).

use driftwatch_stats::drift::{self, Method, NumericReference, distance, ks};
use proptest::prelude::*;

/// Values on a coarse grid so that ties are common.
fn sample(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((-20i32..20).prop_map(|v| v as f64 / 4.0), 1..max_len)
}

fn ecdf(sample: &[f64], x: f64) -> f64 {
    sample.iter().filter(|&&v| v <= x).count() as f64 / sample.len() as f64
}

fn slow_ks_d(a: &[f64], b: &[f64]) -> f64 {
    a.iter().chain(b).map(|&x| (ecdf(a, x) - ecdf(b, x)).abs()).fold(0.0, f64::max)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// P(D >= d) by counting, in exact integers, the monotone lattice paths from (0,0) to (m,n) whose
/// point (i, j) ever satisfies |i/m − j/n| >= d (with d on the lattice h/(m·n)).
fn slow_exact_pvalue(m: usize, n: usize, d: f64) -> f64 {
    let h = (d * (m * n) as f64).round() as i64;
    let outside = |i: usize, j: usize| ((i * n) as i64 - (j * m) as i64).abs() >= h;
    // paths[i][j] counts paths to (i, j) that stayed inside so far.
    let mut inside = vec![vec![0u128; n + 1]; m + 1];
    for i in 0..=m {
        for j in 0..=n {
            if outside(i, j) {
                continue;
            }
            inside[i][j] = if i == 0 && j == 0 {
                1
            } else {
                (if i > 0 { inside[i - 1][j] } else { 0 }) + (if j > 0 { inside[i][j - 1] } else { 0 })
            };
        }
    }
    let mut total = vec![vec![0u128; n + 1]; m + 1];
    for i in 0..=m {
        for j in 0..=n {
            total[i][j] = if i == 0 || j == 0 { 1 } else { total[i - 1][j] + total[i][j - 1] };
        }
    }
    1.0 - inside[m][n] as f64 / total[m][n] as f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn ks_statistic_equals_the_supremum_over_all_points(a in sample(80), b in sample(80)) {
        let (a, b) = (sorted(a), sorted(b));
        let got = ks::ks_statistic_sorted(&a, &b);
        prop_assert!((got - slow_ks_d(&a, &b)).abs() < 1e-12, "{got} vs {}", slow_ks_d(&a, &b));
    }

    #[test]
    fn exact_ks_pvalue_equals_lattice_path_count(a in sample(24), b in sample(24)) {
        let (a, b) = (sorted(a), sorted(b));
        let r = ks::ks_2samp_sorted(&a, &b);
        // Equal sizes at the smallest step d = 1/n: scipy's alternating sum rounds to 1 + 2^-52,
        // not a probability, so scipy (and ks_pvalue with it) takes the asymptotic branch there
        // (0.99996 for n = 7 where the count says 1; a CI proptest case found it).
        let scipy_falls_back = a.len() == b.len() && (r.statistic * a.len() as f64 - 1.0).abs() < 1e-9;
        if r.statistic > 0.0 && !scipy_falls_back {
            let want = slow_exact_pvalue(a.len(), b.len(), r.statistic);
            prop_assert!((r.pvalue - want).abs() < 1e-9, "n=({}, {}) d={} got {} want {}",
                a.len(), b.len(), r.statistic, r.pvalue, want);
        } else if r.statistic == 0.0 {
            prop_assert_eq!(r.pvalue, 1.0);
        }
    }

    #[test]
    fn wasserstein_equals_integral_of_ecdf_gap(a in sample(60), b in sample(60)) {
        let (a, b) = (sorted(a), sorted(b));
        let mut xs: Vec<f64> = a.iter().chain(&b).copied().collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let slow: f64 = xs.windows(2).map(|w| (ecdf(&a, w[0]) - ecdf(&b, w[0])).abs() * (w[1] - w[0])).sum();
        let got = distance::wasserstein_sorted(&a, &b);
        prop_assert!((got - slow).abs() < 1e-9 * slow.max(1.0));
    }

    #[test]
    fn psi_equals_a_linear_scan_over_textbook_quantile_bins(a in sample(200), b in sample(200), bins in 2usize..20) {
        let r = sorted(a.clone());
        // Textbook quantile (linear interpolation between order statistics), independent of numpy's lerp.
        let q = |p: f64| {
            let h = (r.len() - 1) as f64 * p;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(r.len() - 1);
            r[lo] + (h - lo as f64) * (r[hi] - r[lo])
        };
        let textbook: Vec<f64> = (1..bins).map(|i| q(i as f64 / bins as f64)).collect();
        let reference = NumericReference::fit(a.clone(), bins).unwrap();
        // Every fitted edge is one of the textbook quantiles (numpy's lerp differs by rounding only),
        // edges are strictly increasing, and every distinct quantile is represented.
        for e in &reference.edges {
            prop_assert!(textbook.iter().any(|t| (t - e).abs() < 1e-12), "edge {e} not a quantile");
        }
        prop_assert!(reference.edges.windows(2).all(|w| w[0] < w[1]));
        for t in &textbook {
            prop_assert!(reference.edges.iter().any(|e| (t - e).abs() < 1e-12), "quantile {t} lost");
        }
        let edges = reference.edges.clone();
        let count = |s: &[f64]| {
            let mut c = vec![0u64; edges.len() + 1];
            for &v in s {
                c[edges.iter().filter(|&&e| e <= v).count()] += 1;
            }
            c
        };
        let (rc, bc) = (count(&a), count(&b));
        let slow: f64 = rc.iter().zip(&bc).map(|(&x, &y)| {
            let p = (x as f64 / a.len() as f64).max(1e-4);
            let c = (y as f64 / b.len() as f64).max(1e-4);
            (c - p) * (c / p).ln()
        }).sum();
        let mut window = b.clone();
        let got = drift::score_numeric(&reference, &mut window, &[Method::Psi], 1e-4)[0].score;
        prop_assert!((got - slow).abs() < 1e-9, "{got} vs {slow}");
    }

    #[test]
    fn chi2_statistic_equals_pearson_sum_without_yates_above_one_dof(
        r in prop::collection::vec(1u64..50, 3..8), c in prop::collection::vec(1u64..50, 3..8)
    ) {
        let k = r.len().min(c.len());
        let (r, c) = (&r[..k], &c[..k]);
        let (rs, cs) = (r.iter().sum::<u64>() as f64, c.iter().sum::<u64>() as f64);
        let t = rs + cs;
        let slow: f64 = r.iter().zip(c).map(|(&x, &y)| {
            let col = (x + y) as f64;
            let (ex, ey) = (rs * col / t, cs * col / t);
            (x as f64 - ex).powi(2) / ex + (y as f64 - ey).powi(2) / ey
        }).sum();
        let got = drift::chi2::chi2_contingency_2xk(r, c).statistic;
        prop_assert!((got - slow).abs() < 1e-9 * slow.max(1.0));
    }
}
