//! Data reconstruction drift, as NannyML's `DataReconstructionDriftCalculator` computes it: PCA
//! fitted on the standardised reference keeps the fewest components whose explained variance
//! exceeds a share of the total (scikit-learn's rule for a fractional `n_components`); a row's
//! error is the Euclidean distance between it and its reconstruction from those components, a
//! window's error the mean over its rows. A window whose error leaves the reference's band — the
//! mean ± `sigmas` standard deviations of the errors of reference chunks of the window's size — has
//! drifted: a change in how features move together moves rows off the reference's principal
//! subspace even when no single feature's distribution changes.

use super::Matrix;
use super::linalg::symmetric_eigen;

/// The fitted principal subspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    mean: Vec<f64>,
    /// `n_components × d`, row-major: the kept unit eigenvectors of the covariance.
    components: Vec<f64>,
    pub n_components: usize,
    /// Every component's share of the total variance, descending.
    pub explained_variance_ratio: Vec<f64>,
}

impl Pca {
    /// Fits on `x` (at least two rows), keeping the fewest components whose cumulative explained
    /// variance ratio exceeds `variance_share` (in (0, 1]).
    pub fn fit(x: &Matrix, variance_share: f64) -> Pca {
        let (n, d) = (x.rows, x.cols);
        assert!(n >= 2 && d >= 1, "PCA needs two rows and a column");
        let mut mean = vec![0.0; d];
        for row in x.data.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut cov = vec![0.0; d * d];
        let mut centred = vec![0.0; d];
        for row in x.data.chunks_exact(d) {
            for (c, (v, m)) in centred.iter_mut().zip(row.iter().zip(&mean)) {
                *c = v - m;
            }
            for a in 0..d {
                let ca = centred[a];
                let out = &mut cov[a * d..a * d + d];
                for (o, cb) in out[a..].iter_mut().zip(&centred[a..]) {
                    *o += ca * cb;
                }
            }
        }
        for a in 0..d {
            for b in a..d {
                let v = cov[a * d + b] / (n - 1) as f64;
                cov[a * d + b] = v;
                cov[b * d + a] = v;
            }
        }
        let (values, vectors) = symmetric_eigen(&cov, d);
        let values: Vec<f64> = values.into_iter().map(|v| v.max(0.0)).collect();
        let total: f64 = values.iter().sum();
        let explained_variance_ratio: Vec<f64> =
            values.iter().map(|v| if total > 0.0 { v / total } else { 1.0 / d as f64 }).collect();
        // np.searchsorted(np.cumsum(ratio), share, side="right") + 1: the first prefix whose sum
        // is strictly above the share.
        let mut cumulative = 0.0;
        let mut k = d;
        for (i, r) in explained_variance_ratio.iter().enumerate() {
            cumulative += r;
            if cumulative > variance_share {
                k = i + 1;
                break;
            }
        }
        let k = k.min(d);
        Pca { mean, components: vectors[..k * d].to_vec(), n_components: k, explained_variance_ratio }
    }

    /// The Euclidean distance of each row of `x` from its reconstruction.
    pub fn row_errors(&self, x: &Matrix) -> Vec<f64> {
        let d = self.mean.len();
        assert_eq!(x.cols, d, "the matrix has the fitted columns");
        let mut centred = vec![0.0; d];
        let mut residual = vec![0.0; d];
        x.data
            .chunks_exact(d)
            .map(|row| {
                for (c, (v, m)) in centred.iter_mut().zip(row.iter().zip(&self.mean)) {
                    *c = v - m;
                }
                residual.copy_from_slice(&centred);
                for comp in self.components.chunks_exact(d) {
                    let t: f64 = comp.iter().zip(&centred).map(|(a, b)| a * b).sum();
                    for (r, c) in residual.iter_mut().zip(comp) {
                        *r -= t * c;
                    }
                }
                residual.iter().map(|r| r * r).sum::<f64>().sqrt()
            })
            .collect()
    }

    /// The mean reconstruction error of the rows of `x` (NaN for no rows).
    pub fn error(&self, x: &Matrix) -> f64 {
        let e = self.row_errors(x);
        e.iter().sum::<f64>() / e.len() as f64
    }
}

/// The mean errors of consecutive chunks of `chunk` rows of `x`; a last, smaller chunk is kept as
/// its own chunk (NannyML's `SizeBasedChunker` with `incomplete="keep"`).
pub fn chunk_errors(pca: &Pca, x: &Matrix, chunk: usize) -> Vec<f64> {
    assert!(chunk >= 1);
    let errors = pca.row_errors(x);
    errors.chunks(chunk).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect()
}

/// A band of normal errors: a window is flagged at or outside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// `None` when mean − sigmas·sd is not above 0 (an error is a distance: NannyML then drops
    /// the lower threshold rather than clamping it).
    pub lower: Option<f64>,
    pub upper: f64,
}

impl Band {
    /// NannyML's `StandardDeviationThreshold`: mean ± `sigmas` × the population standard deviation
    /// of `values` (the reference chunks' errors). `None` for no values.
    pub fn from_errors(values: &[f64], sigmas: f64) -> Option<Band> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let lower = mean - sigmas * sd;
        Some(Band { lower: (lower > 0.0).then_some(lower), upper: mean + sigmas * sd })
    }

    /// NannyML's alert: `not (lower < error < upper)`, so an error equal to a bound is flagged.
    pub fn flags(&self, error: f64) -> bool {
        !(self.lower.is_none_or(|l| l < error) && error < self.upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_on_the_kept_plane_reconstruct_exactly_and_off_it_by_their_distance() {
        // Points on the line y = x (plus a little noise off it): one component explains almost all.
        let pts: Vec<f64> = (0..50)
            .flat_map(|i| {
                let t = i as f64 / 10.0;
                let e = if i % 2 == 0 { 0.01 } else { -0.01 };
                [t + e, t - e]
            })
            .collect();
        let x = Matrix::new(50, 2, pts);
        let pca = Pca::fit(&x, 0.65);
        assert_eq!(pca.n_components, 1);
        // A point at distance 1 from the line through the mean.
        let mean = 2.45;
        let off = Matrix::new(1, 2, vec![mean + 0.5f64.sqrt(), mean - 0.5f64.sqrt()]);
        assert!((pca.error(&off) - 1.0).abs() < 1e-3, "{}", pca.error(&off));
        // The noise tilts the fitted axis a little off y = x, so a point on y = x is off it by
        // about its distance from the mean times that tilt.
        let on = Matrix::new(1, 2, vec![3.0, 3.0]);
        assert!(pca.error(&on) < 1e-2, "{}", pca.error(&on));
    }

    #[test]
    fn the_share_picks_the_first_prefix_strictly_above_it() {
        // Independent columns with variances 4, 1, 1 (ratios 2/3, 1/6, 1/6): 0.65 keeps one, 0.9
        // keeps three (2/3 + 1/6 is not above it).
        let mut data = Vec::new();
        for i in 0..8 {
            let s = |b: usize| if (i >> b) & 1 == 1 { 1.0 } else { -1.0 };
            data.extend([2.0 * s(0), s(1), s(2)]);
        }
        let x = Matrix::new(8, 3, data);
        assert_eq!(Pca::fit(&x, 0.65).n_components, 1);
        assert_eq!(Pca::fit(&x, 0.9).n_components, 3);
        assert!((Pca::fit(&x, 0.5).explained_variance_ratio[0] - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn the_band_is_mean_plus_minus_sigmas_population_sd_without_a_lower_bound_at_or_below_zero() {
        let band = Band::from_errors(&[1.0, 2.0, 3.0], 3.0).unwrap();
        let sd = (2.0f64 / 3.0).sqrt();
        assert!((band.upper - (2.0 + 3.0 * sd)).abs() < 1e-15);
        assert_eq!(band.lower, None);
        assert!(band.flags(band.upper) && !band.flags(0.0));
        let narrow = Band::from_errors(&[1.0, 1.1], 1.0).unwrap();
        assert!(narrow.lower.is_some() && narrow.flags(narrow.lower.unwrap()) && !narrow.flags(1.05));
    }
}
