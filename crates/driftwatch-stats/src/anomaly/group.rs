//! Across series and along one: which series of a group (the replicas a query returns) behaves
//! differently from the rest (augurs' MAD outlier detector), and where a series' level shifted
//! (augurs' Bayesian online changepoint detector).

use augurs::changepoint::dist::NormalGamma;
use augurs::changepoint::{Detector, NormalGammaDetector};
use augurs::outlier::{MADDetector, OutlierDetector};

/// Changepoints are searched over this many newest points only: BOCPD over a whole history (a week
/// of one-minute points) would cost twice the seasonal fit it runs beside.
pub const CHANGEPOINT_POINTS: usize = 1000;

/// For each series (equal-length, aligned), whether it is an outlier of the group. Groups of fewer
/// than three cannot have a majority. The MAD detector refuses data whose median deviation is 0
/// (mostly-zero error ratios): then nobody is an outlier rather than everyone.
pub fn outliers(series: &[&[f64]], sensitivity: f64) -> Vec<bool> {
    let n = series.len();
    if n < 3 || series.iter().any(|s| s.is_empty() || s.iter().any(|v| !v.is_finite())) {
        return vec![false; n];
    }
    let Ok(detector) = MADDetector::with_sensitivity(sensitivity) else {
        return vec![false; n];
    };
    match detector.preprocess(series).and_then(|p| detector.detect(&p)) {
        Ok(out) => (0..n).map(|i| out.is_outlier(i)).collect(),
        Err(_) => vec![false; n],
    }
}

/// Indices where the level of `values` shifted. The values are standardised first so the
/// detector's prior (unit scale) fits any series.
pub fn changepoints(values: &[f64]) -> Vec<usize> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 3 {
        return Vec::new();
    }
    let n = finite.len() as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let sd = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    if sd.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Vec::new();
    }
    let z: Vec<f64> = finite.iter().map(|v| (v - mean) / sd).collect();
    let mut detector = NormalGammaDetector::normal_gamma(250.0, NormalGamma::new_unchecked(0.0, 1.0, 1.0, 1.0));
    detector.detect_changepoints(&z).into_iter().filter(|&i| i > 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replica_that_drifts_away_is_the_outlier() {
        let base: Vec<Vec<f64>> =
            (0..5).map(|r| (0..60).map(|i| 1.0 + 0.01 * ((i * (r + 3)) % 7) as f64).collect()).collect();
        let mut group = base.clone();
        for v in &mut group[2][30..] {
            *v += 5.0;
        }
        let refs: Vec<&[f64]> = group.iter().map(Vec::as_slice).collect();
        assert_eq!(outliers(&refs, 0.9), vec![false, false, true, false, false]);
    }

    #[test]
    fn mostly_zero_error_ratios_do_not_divide_by_zero() {
        let zeros = vec![0.0; 60];
        let mut one = zeros.clone();
        one[10] = 0.01;
        let refs: Vec<&[f64]> = vec![&zeros, &zeros, &one, &zeros];
        assert_eq!(outliers(&refs, 0.9).len(), 4);
        assert_eq!(outliers(&refs[..2], 0.9), vec![false, false]);
    }

    #[test]
    fn a_level_shift_is_found_near_where_it_happened() {
        let y: Vec<f64> = (0..400).map(|i| if i < 250 { 0.0 } else { 4.0 } + 0.1 * ((i * 37) % 11) as f64).collect();
        let cps = changepoints(&y);
        assert!(cps.iter().any(|&c| (245..=255).contains(&c)), "{cps:?}");
    }
}
