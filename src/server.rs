//! HTTP surface: [`app`] builds the router over shared [`AppState`] (tests drive it with `oneshot`, no
//! socket), [`run`] serves it on a listener until the shutdown future resolves, then drains in-flight
//! requests (and the scoring they wait on) before returning.

use std::collections::BTreeMap;
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

use crate::batch::Batch;
use crate::config::Config;
use crate::engine::{ModelState, WindowReport, score_window};
use crate::error::ApiError;
use crate::ingest::{self, Format};
use crate::metrics::{FeatureLabels, Metrics};
use crate::reference::{self, ReferenceError};

/// Everything the handlers share.
pub struct AppState {
    pub models: BTreeMap<String, Arc<ModelState>>,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
}

impl AppState {
    /// Loads every model's reference and registers its series. Fails on the first unreadable reference:
    /// a sidecar that silently skips a model is worse than one that refuses to start.
    pub fn build(config: &Config) -> Result<AppState, ReferenceError> {
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
        Ok(AppState { models, metrics, max_body_bytes: config.server.max_body_bytes })
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
        model.publish(metrics, report.clone());
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
