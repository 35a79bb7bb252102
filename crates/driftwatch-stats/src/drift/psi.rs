//! Population Stability Index and Jensen–Shannon distance over reference-quantile bins.
//!
//! Fitting (once, when the reference is loaded) computes the bin edges at the reference's quantiles the
//! way `numpy.quantile` does by default (linear interpolation), drops duplicate edges as `numpy.unique`
//! would, and counts the reference into those bins. Scoring a window is one branch-free pass over its
//! values ([`crate::kernels::bin_counts`]) followed by a sum over at most a few hundred bins.

use crate::kernels;

/// Interior bin edges of `bins` equal-probability bins of an ascending, NaN-free, non-empty sample:
/// `np.unique(np.quantile(sorted, np.linspace(0, 1, bins + 1)[1:-1]))`.
pub fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    assert!(!sorted.is_empty(), "quantiles of an empty sample");
    // np.linspace(0, 1, bins + 1) computes i * step with step = 1 / bins.
    let step = 1.0 / bins as f64;
    let mut edges: Vec<f64> = (1..bins).map(|i| numpy_quantile_linear(sorted, i as f64 * step)).collect();
    edges.dedup();
    edges
}

/// `np.quantile(sorted, q)` with the default `method="linear"`, including numpy's two-sided lerp that
/// interpolates from the upper neighbour once the weight reaches 0.5.
pub fn numpy_quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * q;
    let prev = virtual_index.floor();
    let gamma = virtual_index - prev;
    let lo = (prev as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma }
}

/// Counts of `values` in the bins delimited by `edges` (see [`kernels::bin_counts`]).
pub fn bin_counts(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let mut counts = vec![0; edges.len() + 1];
    kernels::bin_counts(values, edges, &mut counts);
    counts
}

/// PSI = Σ (cur − ref) · ln(cur / ref) over bin proportions, each floored at `eps` so that an empty bin
/// contributes a large but finite term.
pub fn psi_from_counts(reference: &[u64], current: &[u64], eps: f64) -> f64 {
    assert_eq!(reference.len(), current.len());
    let rn: u64 = reference.iter().sum();
    let cn: u64 = current.iter().sum();
    let (rn, cn) = (rn as f64, cn as f64);
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = (r as f64 / rn).max(eps);
            let c = (c as f64 / cn).max(eps);
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Jensen–Shannon distance between the two histograms (natural log, no flooring), equal to
/// `scipy.spatial.distance.jensenshannon(reference, current)`: the square root of the divergence.
pub fn jensenshannon_from_counts(reference: &[u64], current: &[u64]) -> f64 {
    assert_eq!(reference.len(), current.len());
    let rn: u64 = reference.iter().sum();
    let cn: u64 = current.iter().sum();
    let (rn, cn) = (rn as f64, cn as f64);
    let rel_entr = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let (mut left, mut right) = (0.0, 0.0);
    for (&r, &c) in reference.iter().zip(current) {
        let p = r as f64 / rn;
        let q = c as f64 / cn;
        let m = (p + q) / 2.0;
        left += rel_entr(p, m);
        right += rel_entr(q, m);
    }
    // Rounding can leave the divergence a hair below zero for identical histograms.
    ((left + right) / 2.0).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_on_hand_checked_values() {
        // np.quantile([1, 2, 3, 4], [0.1, 0.5, 0.9]) == [1.3, 2.5, 3.7]
        let s = [1.0, 2.0, 3.0, 4.0];
        assert!((numpy_quantile_linear(&s, 0.1) - 1.3).abs() < 1e-15);
        assert_eq!(numpy_quantile_linear(&s, 0.5), 2.5);
        assert!((numpy_quantile_linear(&s, 0.9) - 3.7).abs() < 1e-15);
        assert_eq!(numpy_quantile_linear(&[5.0], 0.3), 5.0);
    }

    #[test]
    fn constant_reference_collapses_to_one_edge() {
        assert_eq!(quantile_edges(&[2.0; 50], 10), vec![2.0]);
    }

    #[test]
    fn identical_histograms_score_zero() {
        let c = [10, 0, 5, 7];
        assert_eq!(psi_from_counts(&c, &c, 1e-4), 0.0);
        assert_eq!(jensenshannon_from_counts(&c, &c), 0.0);
    }

    #[test]
    fn psi_published_example() {
        // Two-bin example worked by hand: ref (0.5, 0.5), cur (0.7, 0.3):
        // 0.2·ln(1.4) + (−0.2)·ln(0.6) = 0.16946...
        let v = psi_from_counts(&[50, 50], &[70, 30], 1e-4);
        assert!((v - (0.2 * 1.4f64.ln() - 0.2 * 0.6f64.ln())).abs() < 1e-15);
    }
}
