//! `[model.anomaly]` (the series a model pushes) and `[[pull]]` (a PromQL query polled from
//! Prometheus), which share one table shape: the detector settings plus what the source needs. The
//! detector's bounds are written once here; `driftwatch replay` and `nab` check their flags with
//! [`validate_detector`] too.

use std::path::Path;

use driftwatch_stats::anomaly::{DetectorSettings, Level};
use driftwatch_stats::bounds::Bound;
use serde::Serialize;

use super::check::Scope;
use super::raw::RawSeriesSource;
use super::{Base, Secret, check_name};

const PERIOD: Bound<u64> = Bound::between(2, 1_000_000);
const STEP_SECONDS: Bound<f64> = Bound::between(0.001, 31_536_000.0);
const MIN_DEVIATION: Bound<f64> = Bound::at_least(0.0);
const REFIT_EVERY: Bound<u64> = Bound::between(1, 1_000_000);
const HISTORY_PERIODS: Bound<u64> = Bound::between(2, 100);
const MAX_HISTORY: Bound<u64> = Bound::between(16, 1_000_000);
const FALLBACK_WINDOW: Bound<u64> = Bound::between(3, 100_000);
const CALIBRATION_WINDOW: Bound<u64> = Bound::between(30, 1_000_000);
const MAX_SERIES: Bound<u64> = Bound::between(1, 100_000);
const PULL_STEP_SECONDS: Bound<f64> = Bound::between(1.0, 86_400.0);
const PULL_INTERVAL_SECONDS: Bound<f64> = Bound::between(1.0, 86_400.0);
const PULL_TIMEOUT_SECONDS: Bound<f64> = Bound::between(0.1, 600.0);
const PULL_MAX_RESPONSE_BYTES: Bound<u64> = Bound::between(1 << 10, 1 << 30);
const IDLE_SECONDS: Bound<f64> = Bound::between(1.0, 31_536_000.0);
/// An hour: past Prometheus' five-minute staleness and a few missed pushes, well before a fleet's
/// pod churn fills `max_series`.
const DEFAULT_IDLE_SECONDS: f64 = 3600.0;
const OUTLIER_SENSITIVITY: Bound<f64> = Bound::strictly_between(0.0, 1.0);

/// Pushed series of one model.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyConfig {
    pub detector: DetectorSettings,
    /// Accepted series names; empty accepts any name, up to `max_series`.
    pub series: Vec<String>,
    pub max_series: usize,
    /// A series without a point for this long (and three of its steps) is dropped with its gauges.
    pub idle_seconds: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            detector: Default::default(),
            series: Vec::new(),
            max_series: 100,
            idle_seconds: DEFAULT_IDLE_SECONDS,
        }
    }
}

/// A PromQL query polled from Prometheus' `query_range`; every series it returns is scored.
#[derive(Debug, Clone, Serialize)]
pub struct PullConfig {
    pub name: String,
    pub url: String,
    pub query: String,
    pub detector: DetectorSettings,
    pub step_seconds: f64,
    pub interval_seconds: f64,
    pub timeout_seconds: f64,
    /// A query_range answer longer than this is refused unread past the limit: a pull costs at
    /// most about twice this in memory whatever the query returns.
    pub max_response_bytes: usize,
    pub max_series: usize,
    /// A series the query has not returned for this long (and three steps) is dropped.
    pub idle_seconds: f64,
    pub outlier_sensitivity: f64,
    #[serde(skip)]
    pub bearer_token: Option<Secret>,
}

/// The detector settings of a `[model.anomaly]`, a `[[pull]]` or the replay flags; `None` if any is
/// out of its bound (each reported).
pub(crate) fn validate_detector(r: &RawSeriesSource, at: &mut Scope<'_>) -> Option<DetectorSettings> {
    let before = at.count();
    let mut d = DetectorSettings::default();
    if let Some(p) = &r.periods {
        if p.is_empty() {
            at.report("periods", "must be a non-empty list of periods in steps");
        }
        for &v in p {
            at.bounded("periods", v, PERIOD);
        }
        d.periods = Some(p.iter().map(|&v| v as usize).collect());
    }
    d.step_seconds = r.step_seconds.and_then(|v| at.bounded("step_seconds", v, STEP_SECONDS));
    if let Some(v) = r.level {
        d.level = at.ok("level", Level::try_from(v)).unwrap_or(d.level);
    }
    d.direction = r.direction.unwrap_or(d.direction);
    d.min_deviation = at.setting("min_deviation", r.min_deviation, MIN_DEVIATION, d.min_deviation);
    let count = |at: &mut Scope<'_>, field: &str, v: Option<u64>, bound: Bound<u64>, default: usize| {
        at.setting(field, v, bound, default as u64) as usize
    };
    d.refit_every = count(at, "refit_every", r.refit_every, REFIT_EVERY, d.refit_every);
    d.history_periods = count(at, "history_periods", r.history_periods, HISTORY_PERIODS, d.history_periods);
    d.max_history = count(at, "max_history", r.max_history, MAX_HISTORY, d.max_history);
    d.fallback_window = count(at, "fallback_window", r.fallback_window, FALLBACK_WINDOW, d.fallback_window);
    d.calibration_window =
        count(at, "calibration_window", r.calibration_window, CALIBRATION_WINDOW, d.calibration_window);
    if at.count() > before {
        return None;
    }
    if let Some(p) = &d.periods {
        let longest = p.iter().copied().max().unwrap_or(0);
        if 2 * longest > d.max_history {
            at.report(
                "periods",
                format!("two of the longest period ({longest}) must fit in max_history ({})", d.max_history),
            );
            return None;
        }
    }
    Some(d)
}

pub(crate) fn validate_anomaly(raw: Option<RawSeriesSource>, at: &mut Scope<'_>) -> Option<AnomalyConfig> {
    let Some(r) = raw else {
        return Some(AnomalyConfig::default());
    };
    let mut at = at.nested("anomaly");
    let before = at.count();
    for (field, set) in [
        ("name", r.name.is_some()),
        ("url", r.url.is_some()),
        ("query", r.query.is_some()),
        ("interval_seconds", r.interval_seconds.is_some()),
        ("timeout_seconds", r.timeout_seconds.is_some()),
        ("max_response_bytes", r.max_response_bytes.is_some()),
        ("outlier_sensitivity", r.outlier_sensitivity.is_some()),
        ("bearer_token_env", r.bearer_token_env.is_some()),
        ("bearer_token_file", r.bearer_token_file.is_some()),
    ] {
        if set {
            at.report(field, "applies to [[pull]] only");
        }
    }
    let detector = validate_detector(&r, &mut at);
    let defaults = AnomalyConfig::default();
    let max_series = at.setting("max_series", r.max_series, MAX_SERIES, defaults.max_series as u64) as usize;
    let idle_seconds = at.setting("idle_seconds", r.idle_seconds, IDLE_SECONDS, defaults.idle_seconds);
    for (i, name) in r.series.iter().flatten().enumerate() {
        at.ok(&format!("series[{i}]"), check_name(name));
    }
    if at.count() > before {
        return None;
    }
    Some(AnomalyConfig { detector: detector?, series: r.series.unwrap_or_default(), max_series, idle_seconds })
}

pub(crate) fn validate_pull(r: RawSeriesSource, base: &Base, at: &mut Scope<'_>) -> Option<PullConfig> {
    let before = at.count();
    if r.series.is_some() {
        at.report("series", "applies to [model.anomaly] only: a pull scores every series its query returns");
    }
    let name = r.name.clone().unwrap_or_default();
    at.ok("name", check_name(&name));
    let url = r.url.clone().unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        at.report("url", format!("must be the Prometheus base URL (http:// or https://), got {url:?}"));
    }
    let query = r.query.clone().unwrap_or_default();
    if query.trim().is_empty() {
        at.report("query", "required: the PromQL expression to score");
    }
    let step_seconds = match r.step_seconds {
        Some(v) => at.bounded("step_seconds", v, PULL_STEP_SECONDS),
        None => {
            at.report("step_seconds", "required: the query_range step");
            None
        }
    };
    let interval_seconds =
        r.interval_seconds.or(step_seconds).and_then(|v| at.bounded("interval_seconds", v, PULL_INTERVAL_SECONDS));
    let timeout_seconds = at.bounded("timeout_seconds", r.timeout_seconds.unwrap_or(10.0), PULL_TIMEOUT_SECONDS);
    let max_response_bytes =
        at.bounded("max_response_bytes", r.max_response_bytes.unwrap_or(64 << 20), PULL_MAX_RESPONSE_BYTES);
    let outlier_sensitivity =
        at.bounded("outlier_sensitivity", r.outlier_sensitivity.unwrap_or(0.9), OUTLIER_SENSITIVITY);
    let max_series = at.bounded("max_series", r.max_series.unwrap_or(1000), MAX_SERIES);
    let idle_seconds = at.setting("idle_seconds", r.idle_seconds, IDLE_SECONDS, DEFAULT_IDLE_SECONDS);
    let token = Secret::resolve(r.bearer_token_env.as_deref(), r.bearer_token_file.as_deref().map(Path::new), base);
    let bearer_token = at.ok("bearer_token_env", token).flatten();
    let detector = validate_detector(&r, at);
    if at.count() > before {
        return None;
    }
    let step_seconds = step_seconds?;
    let mut detector = detector?;
    detector.step_seconds = Some(step_seconds);
    Some(PullConfig {
        name,
        url: url.trim_end_matches('/').to_owned(),
        query,
        detector,
        step_seconds,
        interval_seconds: interval_seconds?,
        timeout_seconds: timeout_seconds?,
        max_response_bytes: max_response_bytes? as usize,
        max_series: max_series? as usize,
        idle_seconds,
        outlier_sensitivity: outlier_sensitivity?,
        bearer_token,
    })
}
