//! What scoring a window produced, as `/v1/models`, `/ingest`, the snapshot and retrain requests show
//! it. Plain data: the monitor writes it, the retrain layer reads it.

use serde::{Deserialize, Serialize};

use driftwatch_stats::drift::Method;

use crate::config::MultivariateMethod;

/// The scores of one window, as `/v1/models` shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowReport {
    pub seq: u64,
    pub samples: usize,
    /// Unix seconds: arrival of the window's first row, and when it was scored.
    pub started_at: f64,
    pub completed_at: f64,
    pub scoring_seconds: f64,
    pub drift_share: f64,
    pub model_drift: bool,
    pub features: Vec<FeatureReport>,
    /// One entry per configured multivariate method (empty without `[model.multivariate]`).
    pub multivariate: Vec<MultivariateReport>,
}

impl WindowReport {
    /// Whether any multivariate method flagged this window.
    pub fn multivariate_drift(&self) -> bool {
        self.multivariate.iter().any(|m| m.drifted)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureReport {
    pub name: String,
    /// Non-missing values in the window.
    pub samples: usize,
    pub drifted: Option<bool>,
    pub scores: Vec<ScoreReport>,
    /// The window's counts in the reference's bins (empty unless the model sets `export_bins`).
    pub bin_counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    pub method: Method,
    pub score: f64,
    pub pvalue: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
}

/// One multivariate method's verdict on a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultivariateReport {
    pub method: MultivariateMethod,
    /// pca: mean reconstruction error; classifier: cross-validated AUC; mmd: MMD².
    pub score: f64,
    /// What the score is compared with: pca: the upper bound of the reference band; classifier:
    /// `auc_threshold`; mmd: the permuted MMD² at `mmd_alpha` (the p-value decides).
    pub threshold: f64,
    /// pca only: the lower bound of the band, when above 0.
    pub lower_threshold: Option<f64>,
    /// mmd only: the permutation p-value.
    pub pvalue: Option<f64>,
    pub drifted: bool,
    /// Window rows the method read (after subsampling).
    pub rows: usize,
}
