//! The retraining webhook: the JSON a retrain endpoint receives ([`RetrainRequest`]), how it is signed
//! ([`signature`]), kept on disk until delivered ([`outbox`]) and delivered with retries ([`client`]).
//!
//! Delivery is at least once: an entry is durable before the first attempt and removed only after a
//! 2xx. Receivers deduplicate with the `Idempotency-Key` header (also `idempotency_key` in the body),
//! which stays the same across retries and restarts.

pub mod client;
pub mod outbox;
pub mod signature;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::ScoreReport;

/// What made driftwatch ask for a retrain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `model_drift_detected` (or the configured features) held for `for_windows` windows.
    Drift,
    /// A firing Alertmanager alert named in `[alertmanager] alerts`.
    Alert,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Drift => "drift",
            Trigger::Alert => "alert",
        }
    }
}

/// The body POSTed to every retrain URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainRequest {
    pub idempotency_key: String,
    pub model: ModelRef,
    pub trigger: Trigger,
    /// One line a human can read in the receiver's log.
    pub reason: String,
    /// The sidecar that sent it (`server.instance`, default the host name).
    pub instance: String,
    /// Unix seconds when the request was created (not when it was sent: retries keep it).
    pub timestamp: f64,
    /// The window that completed the streak (drift trigger only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub window: Option<WindowInfo>,
    /// Drifted features of that window with every method's score, p-value and threshold.
    #[serde(default)]
    pub features: Vec<DriftedFeature>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alert: Option<AlertInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowInfo {
    pub seq: u64,
    pub samples: usize,
    /// Unix seconds: arrival of the window's first and last samples.
    pub start: f64,
    pub end: f64,
    pub drift_share: f64,
    pub consecutive_drifted_windows: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftedFeature {
    pub name: String,
    pub samples: usize,
    pub scores: Vec<ScoreReport>,
}

/// The Alertmanager alert behind an alert-triggered request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInfo {
    pub alertname: String,
    pub fingerprint: String,
    pub starts_at: String,
    pub group_key: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// 32 hex characters of SHA-256 over the parts: a key that is safe as a file name and a header.
pub fn key_from(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}
