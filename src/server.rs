//! HTTP surface: [`app`] builds the router over shared [`AppState`] (tests drive it with `oneshot`, no
//! socket), [`run`] serves it on a listener until the shutdown future resolves, then drains in-flight
//! requests (and the scoring they wait on) before returning.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

use crate::alertmanager::{self, Outcome, Status};
use crate::batch::Batch;
use crate::config::{AlertmanagerConfig, Config};
use crate::engine::{ModelState, WindowReport, score_window, unix_now};
use crate::error::ApiError;
use crate::ingest::{self, Format};
use crate::metrics::{AlertLabels, FeatureLabels, Metrics};
use crate::reference::{self, ReferenceError};
use crate::retrain::{Retrainer, Target};
use crate::webhook::client::{Delivery, Sleeper, TokioSleeper};
use crate::webhook::outbox::Outbox;

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("{0}")]
    Config(String),
    #[error("data directory {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
}

/// Everything the handlers share.
pub struct AppState {
    pub models: BTreeMap<String, Arc<ModelState>>,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    pub retrain: Option<Arc<Retrainer>>,
    pub alertmanager: Option<AlertmanagerConfig>,
    delivery: Option<Delivery>,
}

impl AppState {
    /// [`AppState::build_with`] on real time.
    pub fn build(config: &Config) -> Result<AppState, StartError> {
        Self::build_with(config, Arc::new(TokioSleeper))
    }

    /// Loads every model's reference and registers its series; opens the data directory's outbox and
    /// policy state when a model has `[model.retrain]` or `[alertmanager]` is set. Fails on the first
    /// unreadable reference: a sidecar that silently skips a model is worse than one that refuses to
    /// start. Webhook delivery starts with [`AppState::start_background`] (`run` calls it).
    pub fn build_with(config: &Config, sleeper: Arc<dyn Sleeper>) -> Result<AppState, StartError> {
        let metrics = Metrics::new();
        let mut models = BTreeMap::new();
        for mc in &config.models {
            let (spec, reference) = reference::load_model(mc.clone())?;
            let ml = Metrics::model(&spec.config.name);
            metrics.reference_samples.get_or_create(&ml).set(reference.as_ref().map_or(0, |r| r.samples) as i64);
            // Create the model's series up front so dashboards and alerts see zeros, not absence.
            metrics.samples.get_or_create(&ml).inc_by(0);
            metrics.windows.get_or_create(&ml).inc_by(0);
            metrics.window_samples.get_or_create(&ml).set(0);
            metrics.model_drift.get_or_create(&ml).set(0);
            metrics.drift_share.get_or_create(&ml).set(0.0);
            tracing::info!(
                model = %spec.config.name,
                features = spec.features.len(),
                reference_rows = reference.as_ref().map_or(0, |r| r.samples),
                window = spec.config.window,
                "model loaded"
            );
            models.insert(spec.config.name.clone(), Arc::new(ModelState::new(spec, reference)));
        }
        let (retrain, delivery) = if config.needs_data_dir() {
            let (retrainer, delivery) = Self::open_retrain(config, &models, &metrics, sleeper)?;
            (Some(Arc::new(retrainer)), Some(delivery))
        } else {
            (None, None)
        };
        Ok(AppState {
            models,
            metrics,
            max_body_bytes: config.server.max_body_bytes,
            retrain,
            alertmanager: config.alertmanager.clone(),
            delivery,
        })
    }

    fn open_retrain(
        config: &Config,
        models: &BTreeMap<String, Arc<ModelState>>,
        metrics: &Metrics,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<(Retrainer, Delivery), StartError> {
        let Some(dir) = &config.server.data_dir else {
            return Err(StartError::Config(
                "[model.retrain] and [alertmanager] keep their outbox on disk: pass --data-dir DIR (or set \
                 server.data_dir)"
                    .into(),
            ));
        };
        let io = |source| StartError::DataDir { dir: dir.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut targets = HashMap::new();
        for (name, model) in models {
            let Some(rc) = &model.spec.config.retrain else { continue };
            let features = if rc.features.is_empty() {
                None
            } else {
                let idx = rc
                    .features
                    .iter()
                    .map(|f| {
                        model.spec.feature_index(f).ok_or_else(|| {
                            StartError::Config(format!("model {name:?}: retrain.features names unknown feature {f:?}"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(idx)
            };
            let target = Target { config: rc.clone(), version: model.spec.config.version.clone(), features };
            targets.insert(name.clone(), target);
        }
        let outbox = Arc::new(Outbox::open(dir, metrics.webhook_pending.clone()).map_err(io)?);
        let configs = Arc::new(targets.iter().map(|(k, t)| (k.clone(), t.config.clone())).collect());
        let delivery = Delivery::new(outbox.clone(), configs, metrics.clone(), sleeper);
        let retrainer =
            Retrainer::open(dir, targets, outbox, metrics.clone(), config.server.instance.clone()).map_err(io)?;
        Ok((retrainer, delivery))
    }

    /// Starts delivering the outbox (requests left from before a restart first). Idempotent.
    pub fn start_background(&self) {
        if let Some(d) = &self.delivery {
            d.clone().spawn();
        }
    }
}

pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ingest", post(ingest_handler))
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(get_model))
        .route("/alertmanager", post(alertmanager_handler))
        // Bodies are read with our own limit so an oversized one gets a JSON 413 like every other error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting and waits for in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "listening");
    state.start_background();
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

#[derive(Debug, Deserialize)]
struct IngestQuery {
    model: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct IngestResponse {
    pub model: String,
    pub accepted: usize,
    pub missing: u64,
    pub windows_scored: usize,
    pub window_samples: usize,
    /// The newest window this request scored, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<WindowReport>,
}

async fn ingest_handler(
    State(state): State<Arc<AppState>>,
    Query(query): Query<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let result = ingest(&state, query.model, &headers, body).await;
    if let Err(e) = &result {
        state.metrics.reject(e.reason());
    }
    result.map(Json)
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::payload_too_large(limit, "")
        } else {
            ApiError::bad_request("invalid_body", Some("body"), format!("could not read the body: {e}"))
        }
    })
}

async fn ingest(
    state: &Arc<AppState>,
    query_model: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<IngestResponse, ApiError> {
    let format = Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok()) {
        if len > state.max_body_bytes {
            return Err(ApiError::payload_too_large(state.max_body_bytes, &format!(" of {len} bytes")));
        }
    }
    let bytes = read_body(body, state.max_body_bytes).await?;
    let state = state.clone();
    // Decoding, appending and scoring are CPU work: keep them off the async reactor.
    tokio::task::spawn_blocking(move || ingest_blocking(&state, format, query_model, &bytes))
        .await
        .map_err(|e| ApiError::Internal(format!("ingest task failed: {e}")))?
}

fn model_for(state: &AppState, name: Option<String>) -> Result<&Arc<ModelState>, ApiError> {
    let name = name.ok_or_else(|| {
        ApiError::bad_request(
            "missing_model",
            Some("model"),
            "name the model: \"model\" in the JSON body or ?model= in the URL",
        )
    })?;
    state.models.get(&name).ok_or(ApiError::UnknownModel(name))
}

fn ingest_blocking(
    state: &AppState,
    format: Format,
    query_model: Option<String>,
    bytes: &[u8],
) -> Result<IngestResponse, ApiError> {
    let (model, batch): (&Arc<ModelState>, Batch) = match format {
        Format::Json => {
            let mut body = ingest::json::parse(bytes)?;
            let model = model_for(state, body.model.take().or(query_model))?;
            (model, ingest::json::to_batch(&model.spec, body)?)
        }
        Format::Ndjson => {
            let model = model_for(state, query_model)?;
            (model, ingest::ndjson::to_batch(&model.spec, bytes)?)
        }
        Format::ArrowStream => {
            let model = model_for(state, query_model)?;
            (model, ingest::arrow::to_batch(&model.spec, bytes)?)
        }
    };
    let appended = model.append(&batch).map_err(ApiError::Internal)?;
    let metrics = &state.metrics;
    let name = model.name();
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
    let windows_scored = appended.windows.len();
    let mut latest = None;
    for (reference, window) in appended.windows {
        let report = score_window(&model.spec, &reference, window);
        tracing::debug!(model = name, seq = report.seq, share = report.drift_share, "window scored");
        if model.publish(metrics, report.clone()) {
            if let Some(retrain) = &state.retrain {
                retrain.on_window(name, &report, unix_now());
            }
        }
        latest = Some(report);
    }
    Ok(IngestResponse {
        model: name.to_owned(),
        accepted: batch.rows,
        missing: batch.missing.iter().sum(),
        windows_scored,
        window_samples: appended.window_samples,
        latest,
    })
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], state.metrics.encode()).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let waiting: Vec<&str> = state.models.values().filter(|m| !m.ready()).map(|m| m.name()).collect();
    if waiting.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "warming_up", "models": waiting}))).into_response()
    }
}

fn describe(m: &ModelState) -> serde_json::Value {
    let (reference_samples, window_samples, window_bytes) = m.fill();
    json!({
        "name": m.spec.config.name,
        "version": m.spec.config.version,
        "ready": m.ready(),
        "config": m.spec.config,
        "features": m.spec.features,
        "reference_samples": reference_samples,
        "window_samples": window_samples,
        "window_bytes": window_bytes,
        "latest": m.latest().as_deref(),
    })
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({ "models": state.models.values().map(|m| describe(m)).collect::<Vec<_>>() }))
}

async fn get_model(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = state.models.get(&name).ok_or(ApiError::UnknownModel(name))?;
    Ok(Json(describe(model)))
}

fn bearer_matches(headers: &HeaderMap, token: &crate::config::Secret) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| token.matches(given.trim().as_bytes()))
}

async fn alertmanager_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let result = receive_alerts(&state, &headers, body).await;
    if let Err(e) = &result {
        state.metrics.reject(e.reason());
    }
    result.map(Json)
}

async fn receive_alerts(state: &Arc<AppState>, headers: &HeaderMap, body: Body) -> Result<serde_json::Value, ApiError> {
    let Some(am) = &state.alertmanager else {
        return Err(ApiError::Invalid {
            status: StatusCode::NOT_FOUND,
            reason: "alertmanager_not_configured",
            field: None,
            message: "this sidecar has no [alertmanager] section: it does not act on alerts".into(),
        });
    };
    if let Some(token) = &am.bearer_token {
        if !bearer_matches(headers, token) {
            return Err(ApiError::unauthorized());
        }
    }
    let bytes = read_body(body, state.max_body_bytes).await?;
    let payload = alertmanager::parse(&bytes)?;
    let state = state.clone();
    // Retrain requests are fsynced before we answer, so Alertmanager retries if we fail.
    tokio::task::spawn_blocking(move || process_alerts(&state, payload))
        .await
        .map_err(|e| ApiError::Internal(format!("alert task failed: {e}")))?
}

fn process_alerts(state: &AppState, payload: alertmanager::Payload) -> Result<serde_json::Value, ApiError> {
    let am = state.alertmanager.as_ref().expect("checked by the caller");
    let mut outcomes = Vec::with_capacity(payload.alerts.len());
    for alert in &payload.alerts {
        let model = alert.labels.get("model_name");
        let action = match (alert.status, model) {
            (Status::Resolved, _) => "resolved",
            (Status::Firing, _) if !am.alerts.iter().any(|a| a == alert.alertname()) => "not_configured",
            (Status::Firing, None) => "no_model_name",
            (Status::Firing, Some(m)) if !state.models.contains_key(m) => "unknown_model",
            (Status::Firing, Some(m)) => match &state.retrain {
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
        state
            .metrics
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
