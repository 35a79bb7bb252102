//! What scoring a window produced, as `/v1/models`, `/ingest`, the snapshot and retrain requests show
//! it. Plain data: the monitor writes it, the retrain layer reads it.

use serde::{Deserialize, Serialize};

use driftwatch_stats::drift::Method;

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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureReport {
    pub name: String,
    /// Non-missing values in the window.
    pub samples: usize,
    pub drifted: Option<bool>,
    pub scores: Vec<ScoreReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    pub method: Method,
    pub score: f64,
    pub pvalue: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
}
