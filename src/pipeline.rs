//! The data path of a request, apart from HTTP: `/ingest` bodies are decoded ([`crate::ingest`]),
//! admitted (series caps), appended to their model ([`crate::monitor`]), every window that filled is
//! scored and published, each published window goes to the retrain policy ([`crate::retrain`]), and
//! series points go to their detectors ([`crate::series`]). Alertmanager payloads go to the policy the
//! same way. `server` only turns HTTP into these calls and their results into responses.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use crate::clock::unix_now;
use crate::config::AlertmanagerConfig;
use crate::error::ApiError;
use crate::ingest::{self, Format};
use crate::metrics::{AlertLabels, FeatureLabels, Metrics};
use crate::monitor::Models;
use crate::monitor::batch::Batch;
use crate::monitor::model::ModelState;
use crate::monitor::profile::profile;
use crate::monitor::report::WindowReport;
use crate::monitor::score::score_window;
use crate::retrain::alertmanager::{self, Outcome, Status};
use crate::retrain::planner::Retrainer;
use crate::series::{PushError, SeriesSource};

/// What a request acts on.
pub(crate) struct Pipeline {
    pub(crate) models: Arc<Models>,
    pub(crate) metrics: Metrics,
    /// Each model's pushed series.
    pub(crate) series: BTreeMap<String, Arc<SeriesSource>>,
    pub(crate) retrain: Option<Arc<Retrainer>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct IngestResponse {
    pub(crate) model: String,
    pub(crate) accepted: usize,
    pub(crate) missing: u64,
    pub(crate) windows_scored: usize,
    pub(crate) window_samples: usize,
    /// The newest window this request scored, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) latest: Option<WindowReport>,
    /// Series points scored and ignored as late, when the request had series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) series: Option<SeriesResponse>,
    /// Predictions kept for their labels, when the request had predictions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) predictions: Option<PredictionsResponse>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PredictionsResponse {
    pub(crate) accepted: usize,
    /// Waiting for a label now.
    pub(crate) pending: usize,
    /// Expired to make room or for age while this request was applied.
    pub(crate) expired: u64,
    /// Windows of predictions this request completed for the label-free estimate.
    pub(crate) windows_estimated: usize,
}

/// What a push of series did: points scored, points ignored as late, and each series' newest score.
#[derive(Debug, Default, Serialize)]
pub(crate) struct SeriesResponse {
    pub(crate) scored: usize,
    pub(crate) late: usize,
    pub(crate) latest: BTreeMap<String, driftwatch_stats::anomaly::Observation>,
}

impl Pipeline {
    fn model(&self, name: Option<String>) -> Result<&Arc<ModelState>, ApiError> {
        let name = name.ok_or_else(|| {
            ApiError::bad_request(
                "missing_model",
                Some("model"),
                "name the model: \"model\" in the JSON body or ?model= in the URL",
            )
        })?;
        self.models.get(&name).ok_or(ApiError::UnknownModel(name))
    }

    /// Decodes a request body and applies it: features to the model's window (scoring every window
    /// that filled, publishing, telling the retrain policy), series to their detectors. Everything
    /// that can refuse the request is checked before anything is applied. CPU work: call it on a
    /// blocking thread.
    pub(crate) fn ingest(
        &self,
        format: Format,
        query_model: Option<String>,
        bytes: &[u8],
    ) -> Result<IngestResponse, ApiError> {
        let (model, decoded) = match format {
            Format::Json => ingest::decode_json_for(bytes, query_model, |name| self.model(name), |m| &m.spec)?,
            Format::Ndjson | Format::ArrowStream => {
                let model = self.model(query_model)?;
                (model, ingest::decode(&model.spec, format, bytes)?)
            }
        };
        self.apply(model, &decoded)
    }

    /// `POST /ingest/oip/{model}`: an Open Inference Protocol (or KServe v1) request, response, or
    /// both, decoded and applied like an `/ingest` body.
    pub(crate) fn ingest_oip(&self, model: String, bytes: &[u8]) -> Result<IngestResponse, ApiError> {
        let model = self.model(Some(model))?;
        let decoded = ingest::oip::decode(&model.spec, bytes)?;
        self.apply(model, &decoded)
    }

    /// `POST /ingest/kserve`: a KServe inference logger CloudEvent (read by the caller in binary or
    /// structured mode), for the model `?model=` names, else its `inferenceservicename`.
    pub(crate) fn ingest_cloudevent(
        &self,
        query_model: Option<String>,
        event: ingest::oip::CloudEvent,
    ) -> Result<IngestResponse, ApiError> {
        let name = query_model.or_else(|| event.model.clone()).ok_or_else(|| {
            ApiError::bad_request(
                "missing_model",
                Some(event.model_field),
                format!("name the model: the event's {} or ?model= in the URL", event.model_field),
            )
        })?;
        let model = self.models.get(&name).ok_or(ApiError::UnknownModel(name))?;
        let decoded = ingest::oip::decode_event(&model.spec, event)?;
        self.apply(model, &decoded)
    }

    /// Applies a decoded body: series admitted (the one check left that can refuse it), then
    /// features, predictions and series applied.
    fn apply(&self, model: &Arc<ModelState>, decoded: &ingest::Decoded) -> Result<IngestResponse, ApiError> {
        let name = model.name();
        let source = &self.series[name];
        let now = unix_now();
        // Everything that can refuse the request is checked before anything is applied.
        if let Some(s) = &decoded.series {
            source
                .admit(s.series.iter().map(|(n, _)| (n.as_str(), SeriesSource::pushed_labels(name, n))), now)
                .map_err(|e| self.series_refused(name, e))?;
        }
        let mut response = match &decoded.batch {
            Some(batch) => self.ingest_features(model, batch)?,
            None => IngestResponse {
                model: name.to_owned(),
                accepted: 0,
                missing: 0,
                windows_scored: 0,
                window_samples: model.fill().1,
                latest: None,
                series: None,
                predictions: None,
            },
        };
        if let Some(p) = &decoded.predictions {
            let out = model.add_predictions(&self.metrics, p).expect("decoding checked [model.performance]");
            response.predictions = Some(PredictionsResponse {
                accepted: p.predictions.len(),
                pending: out.pending,
                expired: out.expired,
                windows_estimated: out.estimates.len(),
            });
        }
        if let Some(s) = &decoded.series {
            let mut total = SeriesResponse::default();
            for (n, points) in &s.series {
                let labels = SeriesSource::pushed_labels(name, n);
                let r = source.push(&labels, points, now);
                total.scored += r.scored;
                total.late += r.late;
                if let Some(o) = source.last(&labels) {
                    if let Some(retrain) = &self.retrain {
                        retrain.on_anomaly(name, n, r.streak, o, now);
                    }
                    total.latest.insert(n.clone(), o);
                }
            }
            response.series = Some(total);
        }
        Ok(response)
    }

    fn series_refused(&self, model: &str, e: PushError) -> ApiError {
        match e {
            PushError::UnknownSeries(n) => ApiError::unprocessable(
                "unknown_series",
                Some(&format!("series.{n}")),
                format!("series {n:?} is not in model {model:?}'s anomaly.series list"),
            ),
            PushError::TooManySeries { max } => {
                self.metrics.anomaly_series_rejected.get_or_create(&crate::metrics::SourceLabels::new(model)).inc();
                ApiError::unprocessable(
                    "too_many_series",
                    Some("series"),
                    format!("model {model:?} would have more than anomaly.max_series = {max} series"),
                )
            }
        }
    }

    fn ingest_features(&self, model: &Arc<ModelState>, batch: &Batch) -> Result<IngestResponse, ApiError> {
        let metrics = &self.metrics;
        let name = model.name();
        // Each window is scored as it fills and its buffers go back to the model's window for the
        // next one: memory holds one window and one spare, however many a batch fills. Retrain decisions (disk I/O) wait until the model's lock is released.
        let mut published = Vec::new();
        let mut latest = None;
        let appended = model
            .append(batch, |reference, window| {
                // Before scoring, which filters the columns in place.
                let profiles: Vec<_> = (window.columns.iter().zip(&window.missing))
                    .zip(&reference.features)
                    .map(|((c, &missing), r)| profile(c, missing, r))
                    .collect();
                let mut report = score_window(&model.spec, reference, window);
                if model.exports_bins() {
                    for (fr, p) in report.features.iter_mut().zip(&profiles) {
                        fr.bin_counts.clone_from(&p.window_counts);
                    }
                }
                model.keep_profiles(report.seq, profiles);
                tracing::debug!(model = name, seq = report.seq, share = report.drift_share, "window scored");
                if model.publish(metrics, report.clone()) {
                    published.push(report.clone());
                }
                latest = Some(report);
            })
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Some(retrain) = &self.retrain {
            for report in &published {
                retrain.on_window(name, report, unix_now());
            }
        }
        let ml = Metrics::model(name);
        metrics.samples.get_or_create(&ml).inc_by(batch.rows as u64);
        for (feature, &m) in model.spec.features.iter().zip(&batch.missing) {
            if m > 0 {
                metrics
                    .missing
                    .get_or_create(&FeatureLabels { model_name: name.into(), feature: feature.name.clone() })
                    .inc_by(m);
            }
        }
        metrics.window_samples.get_or_create(&ml).set(appended.window_samples as i64);
        metrics.reference_samples.get_or_create(&ml).set(appended.reference_samples as i64);
        let windows_scored = appended.windows;
        Ok(IngestResponse {
            model: name.to_owned(),
            accepted: batch.rows,
            missing: batch.missing.iter().sum(),
            windows_scored,
            window_samples: appended.window_samples,
            latest,
            series: None,
            predictions: None,
        })
    }

    /// `POST /labels`: joins each (id, label) to its waiting prediction; every window of joined rows
    /// that fills is evaluated, published, and put to the retrain policy's accuracy target.
    pub(crate) fn labels(
        &self,
        ndjson: bool,
        query_model: Option<String>,
        bytes: &[u8],
    ) -> Result<serde_json::Value, ApiError> {
        let parsed = ingest::predictions::parse_labels(bytes, ndjson)?;
        let model = self.model(parsed.model.clone().or(query_model))?;
        let labels = parsed.decode(&model.spec)?;
        let out = model.add_labels(&self.metrics, &parsed.ids, &labels).expect("decoding checked [model.performance]");
        if let Some(retrain) = &self.retrain {
            for report in &out.reports {
                retrain.on_performance(model.name(), report, unix_now());
            }
        }
        Ok(json!({
            "model": model.name(),
            "joined": out.joined,
            "unmatched": out.unmatched,
            "expired": out.expired,
            "pending": out.pending,
            "windows_evaluated": out.reports.len(),
            "latest": out.reports.last(),
        }))
    }

    /// Acts on an Alertmanager payload: each firing alert named in `[alertmanager] alerts` and
    /// labelled with a known `model_name` goes to that model's retrain policy (made durable before
    /// this returns, so Alertmanager retries if it fails). Disk I/O: call it on a blocking thread.
    pub(crate) fn alerts(
        &self,
        am: &AlertmanagerConfig,
        payload: alertmanager::Payload,
    ) -> Result<serde_json::Value, ApiError> {
        let mut outcomes = Vec::with_capacity(payload.alerts.len());
        for alert in &payload.alerts {
            let model = alert.labels.get("model_name");
            let action = match (alert.status, model) {
                (Status::Resolved, _) => "resolved",
                (Status::Firing, _) if !am.alerts.iter().any(|a| a == alert.alertname()) => "not_configured",
                (Status::Firing, None) => "no_model_name",
                (Status::Firing, Some(m)) if !self.models.contains_key(m) => "unknown_model",
                (Status::Firing, Some(m)) => match &self.retrain {
                    None => "no_retrain_config",
                    Some(r) => r
                        .on_alert(m, alert.info(&payload.group_key), unix_now())
                        .map_err(|e| ApiError::Internal(format!("outbox write failed: {e}")))?
                        .as_str(),
                },
            };
            let status = match alert.status {
                Status::Firing => "firing",
                Status::Resolved => "resolved",
            };
            self.metrics
                .alertmanager_alerts
                .get_or_create(&AlertLabels { status: status.into(), action: action.into() })
                .inc();
            tracing::info!(
                alertname = alert.alertname(), fingerprint = %alert.fingerprint, status,
                model = model.map(String::as_str), action, ends_at = %alert.ends_at, "alert received"
            );
            outcomes.push(Outcome {
                alertname: alert.alertname().to_owned(),
                fingerprint: alert.fingerprint.clone(),
                status: alert.status,
                model_name: model.cloned(),
                action,
            });
        }
        Ok(json!({ "receiver": payload.receiver, "alerts": outcomes }))
    }
}
