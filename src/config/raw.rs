//! The config as written: TOML tables deserialised with serde, `deny_unknown_fields` so a typo is an
//! error rather than a default, with the defaults a user would expect. Nothing here is checked yet:
//! the validators of each section turn these into the checked types.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use driftwatch_stats::anomaly::Direction;
use driftwatch_stats::drift::{Correction, FeatureKind, Method};
use serde::Deserialize;

use super::Trigger;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) server: Option<RawServer>,
    #[serde(default)]
    pub(crate) model: Vec<RawModel>,
    #[serde(default)]
    pub(crate) alertmanager: Option<RawAlertmanager>,
    #[serde(default)]
    pub(crate) pull: Vec<RawSeriesSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<String>,
    pub(crate) max_body_bytes: Option<u64>,
    /// Holds the webhook outbox and the retrain policy's state (`--data-dir` overrides it).
    pub(crate) data_dir: Option<PathBuf>,
    /// Names this sidecar in retrain requests (default: the host name).
    pub(crate) instance: Option<String>,
    /// Bearer token required on /ingest, /alertmanager and /v1/* (not on /metrics, /healthz, /readyz).
    pub(crate) bearer_token_env: Option<String>,
    pub(crate) bearer_token_file: Option<PathBuf>,
    /// Serve /metrics (and the probes) on this address instead of the main listener.
    pub(crate) metrics_listen: Option<String>,
    /// Requests to /ingest and /alertmanager processed at once; more get 429 with Retry-After.
    pub(crate) max_concurrent_requests: Option<u64>,
    /// Open connections per listener; at the cap a new one displaces the connection idle longest.
    pub(crate) max_connections: Option<u64>,
    /// A connection that has not sent a whole request head within this is closed (also idle ones).
    pub(crate) header_read_timeout_seconds: Option<f64>,
    /// A request whose body has not arrived within this gets 408.
    pub(crate) body_read_timeout_seconds: Option<f64>,
    /// Memory that bodies being read and decoded may take together; past it, 429.
    pub(crate) max_decode_bytes: Option<u64>,
    /// How often the state snapshot is written to the data directory (when something changed).
    pub(crate) snapshot_interval_seconds: Option<f64>,
    /// How long a graceful shutdown may take before the process exits anyway.
    pub(crate) shutdown_grace_seconds: Option<f64>,
    /// Hard cap on exported label sets (model × feature × method): a config above it is refused.
    pub(crate) max_label_sets: Option<u64>,
    /// Threads for seasonal refits (default: half the CPUs, at least one); 0 refits inline, on the
    /// request that made a refit due (deterministic: for tests and replays).
    pub(crate) refit_threads: Option<u64>,
}

/// `[model.retrain]`: when and where to ask for a retrain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetrain {
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) urls: Vec<String>,
    #[serde(default = "default_for_windows")]
    pub(crate) for_windows: u64,
    #[serde(default = "default_cooldown")]
    pub(crate) cooldown_seconds: f64,
    #[serde(default = "default_max_per_hour")]
    pub(crate) max_per_hour: u64,
    /// Fire on these features drifting (any of them) instead of on `model_drift_detected`.
    #[serde(default)]
    pub(crate) features: Vec<String>,
    /// What may start a retrain: "drift" (this sidecar's windows), "alert" (Alertmanager).
    #[serde(default = "default_triggers")]
    pub(crate) triggers: Vec<Trigger>,
    /// The `anomaly` trigger: these pushed series, each on its own…
    #[serde(default)]
    pub(crate) anomaly_series: Vec<String>,
    /// …anomalous for this many consecutive points.
    #[serde(default = "default_anomaly_points")]
    pub(crate) anomaly_points: u64,
    pub(crate) secret_env: Option<String>,
    pub(crate) secret_file: Option<PathBuf>,
    pub(crate) bearer_token_env: Option<String>,
    pub(crate) bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub(crate) timeout_seconds: f64,
    #[serde(default = "default_initial_backoff")]
    pub(crate) initial_backoff_seconds: f64,
    #[serde(default = "default_max_backoff")]
    pub(crate) max_backoff_seconds: f64,
}

/// `[alertmanager]`: which firing alerts become retrain requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlertmanager {
    pub(crate) alerts: Vec<String>,
    pub(crate) bearer_token_env: Option<String>,
    pub(crate) bearer_token_file: Option<PathBuf>,
}

fn default_triggers() -> Vec<Trigger> {
    vec![Trigger::Drift, Trigger::Alert]
}
fn default_anomaly_points() -> u64 {
    3
}
fn default_for_windows() -> u64 {
    1
}
fn default_cooldown() -> f64 {
    3600.0
}
fn default_max_per_hour() -> u64 {
    4
}
fn default_timeout() -> f64 {
    10.0
}
fn default_initial_backoff() -> f64 {
    1.0
}
fn default_max_backoff() -> f64 {
    300.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub(crate) name: String,
    #[serde(default = "default_version")]
    pub(crate) version: String,
    pub(crate) reference: Option<String>,
    pub(crate) window: u64,
    pub(crate) step: Option<u64>,
    pub(crate) warmup: Option<u64>,
    #[serde(default = "default_bins")]
    pub(crate) bins: u32,
    #[serde(default = "default_eps")]
    pub(crate) eps: f64,
    #[serde(default)]
    pub(crate) correction: Correction,
    #[serde(default = "default_drift_share")]
    pub(crate) drift_share: f64,
    #[serde(default)]
    pub(crate) thresholds: HashMap<Method, f64>,
    #[serde(default)]
    pub(crate) features: Vec<RawFeature>,
    pub(crate) retrain: Option<RawRetrain>,
    pub(crate) anomaly: Option<RawSeriesSource>,
    pub(crate) multivariate: Option<super::multivariate::RawMultivariate>,
    pub(crate) performance: Option<super::performance::RawPerformance>,
    pub(crate) oip: Option<super::oip::RawOip>,
    #[serde(default)]
    pub(crate) export_bins: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFeature {
    pub(crate) name: String,
    pub(crate) kind: Option<FeatureKind>,
    pub(crate) methods: Option<Vec<Method>>,
}

fn default_version() -> String {
    "1".into()
}
fn default_bins() -> u32 {
    10
}
fn default_eps() -> f64 {
    1e-4
}
fn default_drift_share() -> f64 {
    0.5
}

/// `[model.anomaly]` and `[[pull]]` share one table shape: the detector settings plus what the
/// source needs (`series`/`max_series` for pushed series; `name`, `url`, `query`… for pulls).
/// One struct keeps `deny_unknown_fields` (serde cannot combine it with `flatten`); fields that do
/// not apply where they are written are reported.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSeriesSource {
    // Detector.
    pub(crate) periods: Option<Vec<u64>>,
    pub(crate) step_seconds: Option<f64>,
    pub(crate) level: Option<f64>,
    pub(crate) direction: Option<Direction>,
    pub(crate) min_deviation: Option<f64>,
    pub(crate) refit_every: Option<u64>,
    pub(crate) history_periods: Option<u64>,
    pub(crate) max_history: Option<u64>,
    pub(crate) fallback_window: Option<u64>,
    pub(crate) calibration_window: Option<u64>,
    pub(crate) max_series: Option<u64>,
    pub(crate) idle_seconds: Option<f64>,
    // [model.anomaly] only.
    pub(crate) series: Option<Vec<String>>,
    // [[pull]] only.
    pub(crate) name: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) interval_seconds: Option<f64>,
    pub(crate) timeout_seconds: Option<f64>,
    pub(crate) max_response_bytes: Option<u64>,
    pub(crate) outlier_sensitivity: Option<f64>,
    pub(crate) bearer_token_env: Option<String>,
    pub(crate) bearer_token_file: Option<String>,
}
