//! Multivariate drift: changes in how features move together, which per-feature tests cannot see
//! (a correlation that flips while every marginal stays the same). Three detectors, each fitted on
//! the reference once and then scoring a window:
//!
//! - [`pca`]: NannyML's data reconstruction drift — standardise on the reference, keep the principal
//!   components that explain a share of its variance, and compare the window's mean reconstruction
//!   error with the spread of that error over reference chunks of the window's size.
//! - [`classifier`]: a classifier two-sample test — how well boosted depth-2 trees tell reference
//!   rows from window rows, as the cross-validated ROC AUC ([`auc`]).
//! - [`mmd`]: alibi-detect's maximum mean discrepancy with a Gaussian kernel and a permutation
//!   p-value, on bounded subsamples.
//!
//! All three read the same numeric matrix, built by [`encode`] from the model's columns the way
//! the reference fixes them (imputation, category encoding, scaling).

pub mod auc;
pub mod classifier;
pub mod encode;
pub(crate) mod linalg;
pub mod mmd;
pub mod pca;

/// A dense row-major matrix of `rows × cols` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows}×{cols} matrix needs {} values", rows * cols);
        Matrix { rows, cols, data }
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows at `index`, in that order.
    pub fn select(&self, index: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(index.len() * self.cols);
        for &i in index {
            data.extend_from_slice(self.row(i));
        }
        Matrix { rows: index.len(), cols: self.cols, data }
    }

    /// Rows `range` as their own matrix.
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Matrix {
        Matrix {
            rows: range.len(),
            cols: self.cols,
            data: self.data[range.start * self.cols..range.end * self.cols].to_vec(),
        }
    }
}

/// A small deterministic generator (splitmix64) for subsampling, fold assignment and
/// permutations: the same window always gets the same answer, and the crate stays free of
/// dependencies beyond the statistics.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for the sizes here).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }

    /// `k` distinct indices of `0..n` in ascending order (all of them when `k >= n`).
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        if k >= n {
            return idx;
        }
        // Partial Fisher–Yates: the first k slots end up a uniform sample.
        for i in 0..k {
            let j = i + self.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx.sort_unstable();
        idx
    }
}
