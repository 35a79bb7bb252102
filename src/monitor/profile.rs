//! What a window looked like beside its scores, for the drift report: per feature, the counts in the
//! reference's own bins (numeric: the PSI bins; categorical: each reference category plus one for
//! unseen ones) in the reference and in the window, the missing count and the count outside the
//! reference (numeric: below its minimum or above its maximum; categorical: unseen). The bins are the
//! ones the scores use, so a histogram and its PSI tell the same story.

use driftwatch_stats::drift::{CategoricalReference, NumericReference, psi};
use serde::Serialize;

use super::reference::FeatureReference;
use super::window::{MISSING_CODE, WindowColumn};

/// One feature of one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FeatureProfile {
    /// One label per bin: `< a`, `[a, b)`, `≥ b` for numbers, the category (or `(unseen)`).
    pub(crate) bins: Vec<String>,
    pub(crate) reference_counts: Vec<u64>,
    pub(crate) window_counts: Vec<u64>,
    /// Rows of the window, missing ones included.
    pub(crate) rows: usize,
    pub(crate) missing: usize,
    pub(crate) outside_reference: usize,
}

impl FeatureProfile {
    /// Of the window's rows.
    pub(crate) fn missing_share(&self) -> f64 {
        share(self.missing, self.rows)
    }

    /// Of the window's non-missing values.
    pub(crate) fn outside_share(&self) -> f64 {
        share(self.outside_reference, self.rows - self.missing)
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The profile of one window column (before scoring filters it); `missing` is the count the window
/// already keeps, so a column without missing values is not scanned for them again.
pub(crate) fn profile(column: &WindowColumn, missing: usize, fref: &FeatureReference) -> FeatureProfile {
    match (column, fref) {
        (WindowColumn::Numeric(v), FeatureReference::Numeric(r)) => numeric(v, missing, r),
        (WindowColumn::Categorical(c), FeatureReference::Categorical(r)) => categorical(c, r),
        _ => unreachable!("window columns are built from the reference's kinds"),
    }
}

fn numeric(values: &[f64], missing: usize, r: &NumericReference) -> FeatureProfile {
    let present: std::borrow::Cow<'_, [f64]> = if missing > 0 {
        values.iter().copied().filter(|v| !v.is_nan()).collect::<Vec<_>>().into()
    } else {
        values.into()
    };
    let (lo, hi) = (r.sorted[0], r.sorted[r.sorted.len() - 1]);
    let outside = present.iter().filter(|&&v| v < lo || v > hi).count();
    let mut bins = Vec::with_capacity(r.edges.len() + 1);
    match r.edges.as_slice() {
        [] => bins.push("all".to_owned()),
        edges => {
            bins.push(format!("< {}", short(edges[0])));
            for w in edges.windows(2) {
                bins.push(format!("[{}, {})", short(w[0]), short(w[1])));
            }
            bins.push(format!("≥ {}", short(edges[edges.len() - 1])));
        }
    }
    FeatureProfile {
        bins,
        reference_counts: r.counts.clone(),
        window_counts: psi::bin_counts(&present, &r.edges),
        rows: values.len(),
        missing: values.len() - present.len(),
        outside_reference: outside,
    }
}

fn categorical(codes: &[u32], r: &CategoricalReference) -> FeatureProfile {
    let mut counts = vec![0u64; r.bins()];
    let mut missing = 0;
    for &c in codes {
        if c == MISSING_CODE {
            missing += 1;
        } else {
            counts[c as usize] += 1;
        }
    }
    let unseen = counts[r.bins() - 1] as usize;
    let mut bins = r.categories.clone();
    bins.push("(unseen)".to_owned());
    FeatureProfile {
        bins,
        reference_counts: r.counts.clone(),
        window_counts: counts,
        rows: codes.len(),
        missing,
        outside_reference: unseen,
    }
}

/// A bin edge as a label: four significant digits.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_profile_counts_the_psi_bins_missing_and_outside_values() {
        let r = NumericReference::fit((0..100).map(f64::from).collect(), 4).unwrap();
        let window = [-5.0, 10.0, 30.0, 60.0, 99.0, 150.0, f64::NAN];
        let p = profile(&WindowColumn::Numeric(window.to_vec()), 1, &FeatureReference::Numeric(r.clone()));
        assert_eq!(p.window_counts, psi::bin_counts(&window[..6], &r.edges));
        assert_eq!(p.window_counts.iter().sum::<u64>(), 6);
        assert_eq!(p.reference_counts, r.counts);
        assert_eq!((p.rows, p.missing, p.outside_reference), (7, 1, 2));
        assert_eq!(p.bins.len(), r.edges.len() + 1);
        assert_eq!(p.bins[0], format!("< {}", r.edges[0]));
        assert!((p.outside_share() - 2.0 / 6.0).abs() < 1e-15);
    }

    #[test]
    fn categorical_profile_has_an_unseen_bin_that_counts_as_outside() {
        let r = CategoricalReference::fit(["a", "b", "b"]).unwrap();
        let codes = vec![r.code("a"), r.code("b"), r.code("z"), r.code("y"), MISSING_CODE];
        let p = profile(&WindowColumn::Categorical(codes), 1, &FeatureReference::Categorical(r));
        assert_eq!(p.bins, ["a", "b", "(unseen)"]);
        assert_eq!(p.reference_counts, [1, 2, 0]);
        assert_eq!(p.window_counts, [1, 1, 2]);
        assert_eq!((p.rows, p.missing, p.outside_reference), (5, 1, 2));
        assert_eq!(p.missing_share(), 0.2);
    }
}
