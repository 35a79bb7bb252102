//! `[model.retrain]` (when and where to ask for a retrain) and `[alertmanager]` (which firing alerts
//! become retrain requests).

use std::path::Path;

use driftwatch_stats::bounds::Bound;
use serde::{Deserialize, Serialize};

use super::check::Scope;
use super::raw::{RawAlertmanager, RawRetrain};
use super::{Base, Secret, check_name};

const FOR_WINDOWS: Bound<u64> = Bound::between(1, 10_000);
const COOLDOWN_SECONDS: Bound<f64> = Bound::between(0.0, 30.0 * 86_400.0);
const MAX_PER_HOUR: Bound<u64> = Bound::between(1, 3600);
const TIMEOUT_SECONDS: Bound<f64> = Bound::above_up_to(0.0, 300.0);
const ANOMALY_POINTS: Bound<u64> = Bound::between(1, 100_000);
const MAX_BACKOFF_SECONDS: Bound<f64> = Bound::above_up_to(0.0, 86_400.0);

/// What made driftwatch ask for a retrain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `model_drift_detected` (or the configured features) held for `for_windows` windows.
    Drift,
    /// A firing Alertmanager alert named in `[alertmanager] alerts`.
    Alert,
    /// A `[model.multivariate]` method flagged the window, for `for_windows` windows (the same
    /// streak as `drift`: either condition keeps it going).
    Multivariate,
    /// An evaluated window of joined labels scored an accuracy below `[model.performance]
    /// accuracy_target`.
    Performance,
    /// One of `anomaly_series` scored above 1 on `anomaly_points` consecutive points.
    Anomaly,
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Drift => "drift",
            Trigger::Alert => "alert",
            Trigger::Multivariate => "multivariate",
            Trigger::Performance => "performance",
            Trigger::Anomaly => "anomaly",
        }
    }
}

/// A model's validated `[model.retrain]`.
#[derive(Debug, Clone, Serialize)]
pub struct RetrainConfig {
    pub urls: Vec<String>,
    pub for_windows: u32,
    pub cooldown_seconds: f64,
    pub max_per_hour: u32,
    /// Empty: fire on `model_drift_detected`; else on any of these features drifting.
    pub features: Vec<String>,
    pub triggers: Vec<Trigger>,
    /// The pushed series the `anomaly` trigger watches (empty without it).
    pub anomaly_series: Vec<String>,
    /// Consecutive anomalous points of one of them that ask for a retrain.
    pub anomaly_points: u32,
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// Extra request headers (a bearer token among them); only their names are shown.
    #[serde(skip)]
    pub headers: Vec<(String, Secret)>,
    pub header_names: Vec<String>,
    pub signed: bool,
    pub timeout_seconds: f64,
    pub initial_backoff_seconds: f64,
    pub max_backoff_seconds: f64,
}

/// The validated `[alertmanager]` section.
#[derive(Debug, Clone, Serialize)]
pub struct AlertmanagerConfig {
    pub alerts: Vec<String>,
    #[serde(skip)]
    pub bearer_token: Option<Secret>,
}

pub(crate) fn validate_retrain(r: RawRetrain, base: &Base, at: &mut Scope<'_>) -> Option<RetrainConfig> {
    let mut at = at.nested("retrain");
    let before = at.count();
    let urls: Vec<String> = r.url.into_iter().chain(r.urls).collect();
    if urls.is_empty() {
        at.report("url", "set url (or urls) to the endpoint that starts a retrain");
    }
    for (i, u) in urls.iter().enumerate() {
        match reqwest::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            Ok(_) => at.report(&format!("urls[{i}]"), format!("{u:?} must be an http or https URL with a host")),
            Err(e) => at.report(&format!("urls[{i}]"), format!("{u:?} is not a URL: {e}")),
        }
    }
    let for_windows = at.bounded("for_windows", r.for_windows, FOR_WINDOWS);
    at.bounded("cooldown_seconds", r.cooldown_seconds, COOLDOWN_SECONDS);
    if r.triggers.is_empty() {
        at.report(
            "triggers",
            "name at least one of \"drift\", \"alert\", \"multivariate\", \"performance\", \"anomaly\"",
        );
    }
    let max_per_hour = at.bounded("max_per_hour", r.max_per_hour, MAX_PER_HOUR);
    let anomaly_points = at.bounded("anomaly_points", r.anomaly_points, ANOMALY_POINTS);
    let wants_anomaly = r.triggers.contains(&Trigger::Anomaly);
    if wants_anomaly && r.anomaly_series.is_empty() {
        at.report(
            "anomaly_series",
            "name the pushed series whose anomalies ask for a retrain (triggers has \"anomaly\")",
        );
    }
    if !wants_anomaly && !r.anomaly_series.is_empty() {
        at.report("anomaly_series", "applies only when triggers includes \"anomaly\"");
    }
    for (i, name) in r.anomaly_series.iter().enumerate() {
        at.ok(&format!("anomaly_series[{i}]"), check_name(name));
    }
    at.bounded("timeout_seconds", r.timeout_seconds, TIMEOUT_SECONDS);
    let max_backoff = at.bounded("max_backoff_seconds", r.max_backoff_seconds, MAX_BACKOFF_SECONDS);
    // The initial backoff is bounded by the maximum actually configured (when that one is valid).
    let initial_bound = max_backoff.map_or(Bound::above(0.0), |max| Bound::above_up_to(0.0, max));
    at.bounded("initial_backoff_seconds", r.initial_backoff_seconds, initial_bound);
    let secret =
        at.ok("secret_env", Secret::resolve(r.secret_env.as_deref(), r.secret_file.as_deref(), base)).flatten();
    let mut headers = Vec::new();
    for (name, value) in r.headers {
        let valid_name = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
        let valid_value = axum::http::HeaderValue::from_str(&value).is_ok();
        if valid_name && valid_value {
            headers.push((name, Secret(value.into_bytes())));
        } else {
            at.report(&format!("headers.{name}"), "not a valid HTTP header name and value");
        }
    }
    let token = Secret::resolve(r.bearer_token_env.as_deref(), r.bearer_token_file.as_deref().map(Path::new), base);
    if let Some(token) = at.ok("bearer_token_env", token).flatten() {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(&token.0);
        headers.push(("Authorization".into(), Secret(value)));
    }
    if at.count() > before {
        return None;
    }
    Some(RetrainConfig {
        urls,
        for_windows: for_windows? as u32,
        cooldown_seconds: r.cooldown_seconds,
        max_per_hour: max_per_hour? as u32,
        features: r.features,
        triggers: r.triggers,
        anomaly_series: r.anomaly_series,
        anomaly_points: anomaly_points? as u32,
        signed: secret.is_some(),
        secret,
        header_names: headers.iter().map(|(n, _)| n.clone()).collect(),
        headers,
        timeout_seconds: r.timeout_seconds,
        initial_backoff_seconds: r.initial_backoff_seconds,
        max_backoff_seconds: r.max_backoff_seconds,
    })
}

pub(crate) fn validate_alertmanager(a: RawAlertmanager, base: &Base, at: &mut Scope<'_>) -> Option<AlertmanagerConfig> {
    let mut at = at.nested("alertmanager");
    let before = at.count();
    if a.alerts.is_empty() {
        at.report("alerts", "name at least one alert (e.g. \"DataDriftDetected\")");
    }
    for (i, name) in a.alerts.iter().enumerate() {
        at.ok(&format!("alerts[{i}]"), check_name(name));
    }
    let bearer_token = at
        .ok("bearer_token_env", Secret::resolve(a.bearer_token_env.as_deref(), a.bearer_token_file.as_deref(), base))
        .flatten();
    (at.count() == before).then_some(AlertmanagerConfig { alerts: a.alerts, bearer_token })
}
