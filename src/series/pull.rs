//! Pulled series (what vmanomaly does): each `[[pull]]` query is polled from Prometheus'
//! `/api/v1/query_range` every `interval_seconds`; every series it returns is scored by its own
//! detector and exported with its labels plus `query="<pull name>"` (a returned `query` label
//! becomes `exported_query`, as Prometheus does on a clash). The first poll back-fills a history's
//! worth of points; later polls overlap the last one by a step and late points are ignored.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::SeriesSource;
use crate::config::PullConfig;
use crate::metrics::{Metrics, PullLabels, SeriesLabels, SourceLabels};

/// Prometheus caps a query_range at 11,000 points per series.
const MAX_POINTS: f64 = 10_999.0;
/// Points compared across the series of a query for `anomaly_outlier`.
const OUTLIER_POINTS: usize = 60;

#[derive(Debug, Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Vec<Matrix>,
}

#[derive(Debug, Deserialize)]
struct Matrix {
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<(f64, SampleValue)>,
}

/// A sample value, which Prometheus sends as a string (`"0.25"`, `"NaN"`, `"+Inf"`), parsed as it is
/// read: 8 bytes a point instead of a `String` each, so the parsed answer is smaller than its text.
/// What does not parse, and ±Inf, is a gap (NaN), as a missing scrape would be.
#[derive(Debug, Clone, Copy)]
struct SampleValue(f64);

impl<'de> Deserialize<'de> for SampleValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SampleValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sample value as a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SampleValue, E> {
                Ok(SampleValue(v.parse::<f64>().ok().filter(|v| v.is_finite()).unwrap_or(f64::NAN)))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PullError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("Prometheus answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("Prometheus said: {0}")]
    Query(String),
    #[error("unexpected answer: {0}")]
    Shape(String),
    #[error("the answer is longer than max_response_bytes ({limit}); narrow the query or raise the limit")]
    TooLarge { limit: usize },
}

/// The body, read up to `limit` bytes: a longer one is refused as soon as it passes the limit,
/// without reading (or holding) the rest.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, PullError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(PullError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(PullError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The points of one returned series that a grid can hold and that are newer than `after`, in
/// order; the number dropped for a timestamp out of range or not after the previous one (a
/// Prometheus answers in order; anything else is not a Prometheus to trust point by point).
fn checked_points(values: &[(f64, SampleValue)], after: f64) -> (Vec<(f64, f64)>, u64) {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(values.len());
    let mut dropped = 0;
    let mut last = f64::NEG_INFINITY;
    for &(t, SampleValue(v)) in values {
        if !(0.0..=driftwatch_stats::anomaly::MAX_TIMESTAMP).contains(&t) || t <= last {
            dropped += 1;
            continue;
        }
        last = t;
        if t > after {
            out.push((t, v));
        }
    }
    (out, dropped)
}

/// Label names rewritten on the way from Prometheus to `/metrics`, for the pull's counter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewritten {
    pub(crate) renamed: u64,
    pub(crate) dropped: u64,
}

/// A label name from outside as one `/metrics` can carry: characters outside `[a-zA-Z0-9_]` become
/// `_` (Prometheus 3 and OpenTelemetry allow `service.name`; the text format does not), a leading
/// digit gets a `_` before it. `None` for names reserved to Prometheus (`__*`) and empty ones.
fn exposable(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with("__") {
        return None;
    }
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    Some(out)
}

/// The labels a pulled series is exported with: `query="<pull name>"` and the series' own labels
/// (`__name__` dropped, a returned `query` label as `exported_query`, as Prometheus does on a clash),
/// each name made exposable; a name that still clashes with one already there is dropped, so one
/// bad series can never make the exposition invalid.
pub(crate) fn labels(pull: &str, metric: &std::collections::BTreeMap<String, String>) -> (SeriesLabels, Rewritten) {
    let mut out: SeriesLabels = vec![("query".into(), pull.into())];
    let mut rewritten = Rewritten::default();
    for (k, v) in metric {
        if k == "__name__" {
            continue;
        }
        let name = if k == "query" { Some("exported_query".to_owned()) } else { exposable(k) };
        match name {
            Some(n) if !out.iter().any(|(have, _)| *have == n) => {
                rewritten.renamed += u64::from(n != *k && k != "query");
                out.push((n, v.clone()));
            }
            _ => rewritten.dropped += 1,
        }
    }
    (out, rewritten)
}

/// One poll: fetch `[start, end]`, score every returned series (up to `max_series`), mark
/// outliers. Returns the number of points scored.
pub(crate) async fn poll_once(
    client: &reqwest::Client,
    pull: &PullConfig,
    source: &Arc<SeriesSource>,
    metrics: &Metrics,
    now: f64,
) -> Result<usize, PullError> {
    let step = pull.step_seconds;
    let end = (now / step).floor() * step;
    let history = {
        let d = &pull.detector;
        let longest = d.periods_for(step).into_iter().max().unwrap_or(0);
        (d.history_periods * longest).clamp(d.fallback_window, d.max_history.max(d.fallback_window)) as f64
    };
    let start = end - (history - 1.0).min(MAX_POINTS) * step;
    let mut request = client.get(format!("{}/api/v1/query_range", pull.url)).query(&[
        ("query", pull.query.as_str()),
        ("start", &format!("{start}")),
        ("end", &format!("{end}")),
        ("step", &format!("{step}")),
    ]);
    if let Some(token) = &pull.bearer_token {
        request = request.bearer_auth(String::from_utf8_lossy(&token.0));
    }
    let response = request.send().await?;
    let status = response.status();
    let body = read_capped(response, pull.max_response_bytes).await?;
    if !status.is_success() && status.as_u16() != 400 && status.as_u16() != 422 {
        return Err(PullError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    let parsed: Response = serde_json::from_slice(&body).map_err(|e| PullError::Shape(e.to_string()))?;
    if parsed.status != "success" {
        return Err(PullError::Query(parsed.error.unwrap_or(parsed.status)));
    }
    let data = parsed.data.ok_or_else(|| PullError::Shape("no data".into()))?;
    if data.result_type != "matrix" {
        return Err(PullError::Shape(format!("resultType {} (query_range returns a matrix)", data.result_type)));
    }
    let source = source.clone();
    let metrics = metrics.clone();
    let name = pull.name.clone();
    let sensitivity = pull.outlier_sensitivity;
    // Scoring is CPU work: off the reactor.
    let scored = tokio::task::spawn_blocking(move || {
        let mut scored = 0;
        for m in data.result {
            let (labels, rewritten) = labels(&name, &m.metric);
            for (action, n) in [("renamed", rewritten.renamed), ("dropped", rewritten.dropped)] {
                if n > 0 {
                    metrics
                        .pull_label_names
                        .get_or_create(&PullLabels { query: name.clone(), outcome: action.into() })
                        .inc_by(n);
                }
            }
            let now = crate::clock::unix_now();
            if source.admit(std::iter::once(("", labels.clone())), now).is_err() {
                metrics.anomaly_series_rejected.get_or_create(&SourceLabels::new(&name)).inc();
                continue;
            }
            let after = source.last_timestamp(&labels).unwrap_or(f64::NEG_INFINITY);
            let (points, dropped) = checked_points(&m.values, after);
            if dropped > 0 {
                metrics
                    .pull_points_dropped
                    .get_or_create(&PullLabels { query: name.clone(), outcome: "bad_timestamp".into() })
                    .inc_by(dropped);
            }
            scored += source.push(&labels, &points, now).scored;
        }
        source.mark_outliers(OUTLIER_POINTS, sensitivity);
        scored
    })
    .await
    .map_err(|e| PullError::Shape(format!("scoring task failed: {e}")))?;
    Ok(scored)
}

/// Polls `pull` forever (until the runtime stops); failures are logged and counted, never fatal.
pub(crate) async fn run(pull: PullConfig, source: Arc<SeriesSource>, metrics: Metrics) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs_f64(pull.timeout_seconds)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(pull = %pull.name, error = %e, "cannot build the HTTP client; pull disabled");
            return;
        }
    };
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(pull.interval_seconds));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = match poll_once(&client, &pull, &source, &metrics, crate::clock::unix_now()).await {
            Ok(points) => {
                tracing::debug!(pull = %pull.name, points, series = source.len(), "pulled");
                "ok"
            }
            Err(e) => {
                tracing::warn!(pull = %pull.name, error = %e, "pull failed");
                "error"
            }
        };
        metrics.pull_requests.get_or_create(&PullLabels { query: pull.name.clone(), outcome: outcome.into() }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulled_labels_drop_the_name_and_rename_a_clashing_query_label() {
        let metric = [("__name__", "up"), ("job", "api"), ("query", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            labels("latency", &metric).0,
            vec![
                ("query".to_string(), "latency".to_string()),
                ("job".into(), "api".into()),
                ("exported_query".into(), "x".into())
            ]
        );
    }

    #[test]
    fn label_names_from_outside_are_made_exposable_and_clashes_dropped_and_counted() {
        let metric = [
            ("service.name", "api"),
            ("service_name", "other"),
            ("0day", "a"),
            ("__meta_x", "b"),
            ("x=\"1\"} evil{", "c"),
            ("exported_query", "d"),
            ("query", "e"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (labels, rewritten) = labels("q", &metric);
        let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        // BTreeMap order: "0day", "__meta_x", "exported_query", "query", "service.name", "service_name", "x=…".
        assert_eq!(names, ["query", "_0day", "exported_query", "service_name", "x__1___evil_"]);
        // "query" → exported_query clashes with the series' own; service_name with service.name's rewrite.
        assert_eq!(rewritten, Rewritten { renamed: 3, dropped: 3 });
        let valid = |n: &str| {
            n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !n.starts_with(|c: char| c.is_ascii_digit())
        };
        assert!(names.iter().all(|n| valid(n)));
    }
}
