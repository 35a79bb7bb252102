//! driftwatch's statistics, as pure functions over slices: no async runtime, HTTP, file formats,
//! locks or metrics, so the numbers can be checked (and benchmarked) on their own, and the sidecar's
//! layering is the compiler's, not a comment's.
//!
//! # Layout
//! - [`kernels`]: the hot loops the statistics share (branch-free binning, galloping search, sorting
//!   with NaN last, sums with independent accumulators).
//! - [`drift`]: PSI, KS (exact and asymptotic p-values, ported from scipy), chi-squared, Wasserstein,
//!   Jensen–Shannon; a reference is fitted once and each window scored against it; the
//!   multiple-testing decision across a model's features.
//! - [`multivariate`]: drift in how features move together — PCA reconstruction error (NannyML's),
//!   a boosted-tree classifier two-sample test with its cross-validated AUC, and MMD with a
//!   permutation p-value (alibi-detect's) — over one matrix the reference's encoder fixes.
//! - [`performance`]: model quality from predictions and labels (scikit-learn's metrics) and its
//!   label-free estimate for binary classifiers (NannyML's CBPE).
//! - [`anomaly`]: one series' seasonal anomaly detector (augurs MSTL/AutoETS, median/MAD cold start,
//!   split-conformal interval), the period search, outliers across series and changepoints, causal
//!   replay of a whole series, and the Numenta Anomaly Benchmark scorer.
//! - [`bounds`]: the error a bounded parameter reports when a value is outside its bound.

pub mod anomaly;
pub mod bounds;
pub mod drift;
pub mod kernels;
pub mod multivariate;
pub mod performance;
