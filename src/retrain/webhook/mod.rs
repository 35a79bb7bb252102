//! The retraining webhook: the JSON a retrain endpoint receives ([`RetrainRequest`]), how it is signed
//! ([`signature`]), kept on disk until delivered ([`outbox`]) and delivered with retries ([`client`]).
//!
//! Delivery is at least once: an entry is durable before the first attempt and removed only after a
//! 2xx. Receivers deduplicate with the `Idempotency-Key` header (also `idempotency_key` in the body),
//! which stays the same across retries and restarts.

pub mod client;
pub(crate) mod outbox;
pub mod signature;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Trigger;
use crate::monitor::report::ScoreReport;

/// The body POSTed to every retrain URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RetrainRequest {
    pub(crate) idempotency_key: String,
    pub(crate) model: ModelRef,
    pub(crate) trigger: Trigger,
    /// One line a human can read in the receiver's log.
    pub(crate) reason: String,
    /// The sidecar that sent it (`server.instance`, default the host name).
    pub(crate) instance: String,
    /// Unix seconds when the request was created (not when it was sent: retries keep it).
    pub(crate) timestamp: f64,
    /// The window that completed the streak (drift trigger only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) window: Option<WindowInfo>,
    /// Drifted features of that window with every method's score, p-value and threshold.
    #[serde(default)]
    pub(crate) features: Vec<DriftedFeature>,
    /// That window's multivariate verdicts (models with `[model.multivariate]`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) multivariate: Vec<crate::monitor::report::MultivariateReport>,
    /// The evaluated window of joined labels (performance trigger only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) performance: Option<crate::monitor::performance::PerformanceReport>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) alert: Option<AlertInfo>,
    /// The series and its newest point (anomaly trigger only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) anomaly: Option<AnomalyInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ModelRef {
    pub(crate) name: String,
    pub(crate) version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WindowInfo {
    pub(crate) seq: u64,
    pub(crate) samples: usize,
    /// Unix seconds: arrival of the window's first and last samples.
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) drift_share: f64,
    pub(crate) consecutive_drifted_windows: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DriftedFeature {
    pub(crate) name: String,
    pub(crate) samples: usize,
    pub(crate) scores: Vec<ScoreReport>,
}

/// The pushed series behind an anomaly-triggered request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnomalyInfo {
    pub(crate) series: String,
    pub(crate) consecutive_points: u32,
    /// The newest of them: timestamp, value, score, expected, lower, upper, ready.
    pub(crate) point: driftwatch_stats::anomaly::Observation,
}

/// The Alertmanager alert behind an alert-triggered request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlertInfo {
    pub(crate) alertname: String,
    pub(crate) fingerprint: String,
    pub(crate) starts_at: String,
    pub(crate) group_key: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
}
