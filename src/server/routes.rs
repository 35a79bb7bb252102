//! The routes: [`app`] puts every endpoint on one router over the shared [`AppState`] (tests drive it
//! with `oneshot`, no socket). Handlers read the body under the request limits and hand it to the
//! [`Pipeline`](crate::pipeline::Pipeline) on a blocking thread; nothing here decides anything about
//! the data.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth;
use super::state::AppState;
use crate::error::ApiError;
use crate::ingest::Format;
use crate::monitor::model::ModelState;
use crate::pipeline::IngestResponse;
use crate::report::Report;
use crate::retrain::alertmanager;

/// Every endpoint on one router (what a single listener serves).
pub fn app(state: Arc<AppState>) -> Router {
    with_fallbacks(api_app(state.clone()).merge(metrics_app(state.clone())), state)
}

/// Unknown paths and methods get the same JSON error shape as everything else, and are counted.
pub(crate) fn with_fallbacks(router: Router, state: Arc<AppState>) -> Router {
    let refuse = |status: StatusCode, reason: &'static str, message: &'static str| {
        let state = state.clone();
        move || {
            let e = ApiError::Invalid { status, reason, field: None, message: message.into() };
            state.metrics().reject(e.reason());
            std::future::ready(e)
        }
    };
    router.fallback(refuse(StatusCode::NOT_FOUND, "not_found", "no such endpoint")).method_not_allowed_fallback(refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    ))
}

/// Everything but /metrics: /ingest, /alertmanager, /v1/* (behind the bearer token when one is set)
/// and the probes.
pub(crate) fn api_app(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/ingest", post(ingest_handler))
        // Model-server payloads: Open Inference Protocol / KServe v1 bodies, KServe logger events.
        .route("/ingest/oip/{model}", post(oip_handler))
        .route("/ingest/kserve", post(kserve_handler))
        .route("/labels", post(labels_handler))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(get_model))
        .route("/models/{name}/report", get(model_report))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .merge(protected)
        // Checks its own token ([alertmanager] bearer_token, else the server's).
        .route("/alertmanager", post(alertmanager_handler))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        // Bodies are read with our own limit so an oversized one gets a JSON 413 like every other error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// /metrics for Prometheus (unauthenticated, as scrapers expect), on its own listener if configured.
pub(crate) fn metrics_app(state: Arc<AppState>) -> Router {
    Router::new().route("/metrics", get(metrics_handler)).with_state(state)
}

/// The probes and /metrics, for a separate metrics listener.
pub(crate) fn metrics_listener_app(state: Arc<AppState>) -> Router {
    let probes = metrics_app(state.clone())
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .merge(Router::new().route("/readyz", get(readyz)).with_state(state.clone()));
    with_fallbacks(probes, state)
}

#[derive(Debug, Deserialize)]
struct IngestQuery {
    model: Option<String>,
}

/// A query string that does not parse (a repeated `model=`, bad percent-encoding): the JSON 400, not
/// axum's text.
fn query_rejected(e: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", Some("model"), format!("invalid query string: {}", e.body_text()))
}

fn path_rejected(e: PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", Some("name"), format!("invalid path: {}", e.body_text()))
}

/// Every refused request is counted in `driftwatch_requests_rejected_total`, by reason.
fn counted<T>(state: &AppState, result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(e) = &result {
        state.metrics().reject(e.reason());
    }
    result
}

async fn ingest_handler(
    State(state): State<Arc<AppState>>,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let result = match query {
        Ok(Query(query)) => ingest(&state, query.model, &headers, body).await,
        Err(e) => Err(query_rejected(e)),
    };
    counted(&state, result).map(Json)
}

/// Reads a body of at most `limit` bytes within `server.body_read_timeout_seconds`, reserving
/// `factor` times each chunk against the decode budget as it arrives (what decoding it will take at
/// most, see [`Format::decode_factor`]): a stalled body costs a connection, never a request slot,
/// and bodies in flight never hold more than `server.max_decode_bytes` together.
async fn read_body(
    state: &AppState,
    body: Body,
    limit: usize,
    factor: usize,
) -> Result<(Bytes, crate::server::state::Reservation), ApiError> {
    use http_body_util::BodyExt;
    let mut reservation = state.reservation();
    let read = async {
        let mut body = body;
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ApiError::bad_request("invalid_body", Some("body"), format!("could not read the body: {e}"))
            })?;
            let Ok(data) = frame.into_data() else { continue };
            if out.len() + data.len() > limit {
                return Err(ApiError::payload_too_large(limit, ""));
            }
            reservation.grow(data.len() * factor)?;
            out.extend_from_slice(&data);
        }
        Ok(Bytes::from(out))
    };
    match tokio::time::timeout(state.body_read_timeout, read).await {
        Ok(bytes) => Ok((bytes?, reservation)),
        Err(_) => Err(ApiError::Invalid {
            status: StatusCode::REQUEST_TIMEOUT,
            reason: "body_timeout",
            field: Some("body".into()),
            message: format!(
                "the body did not arrive within {} s (server.body_read_timeout_seconds)",
                state.body_read_timeout.as_secs_f64()
            ),
        }),
    }
}

async fn ingest(
    state: &Arc<AppState>,
    query_model: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<IngestResponse, ApiError> {
    let format = Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    let (bytes, mut reservation) = read_limited(state, headers, body, format).await?;
    // What the body's bytes do not cover (an Arrow stream's cells), now that the whole of it is here.
    let needed = format.decode_reservation(&bytes);
    if needed > state.max_decode_bytes {
        return Err(ApiError::decode_too_large(needed, state.max_decode_bytes));
    }
    reservation.grow(needed.saturating_sub(bytes.len() * format.decode_factor()))?;
    off_the_reactor(state, reservation, "ingest", move |state| state.pipeline.ingest(format, query_model, &bytes)).await
}

/// Rejects a declared length over `server.max_body_bytes`, then reads the body, reserving what
/// decoding `format` takes (see [`read_body`]).
async fn read_limited(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    format: Format,
) -> Result<(Bytes, crate::server::state::Reservation), ApiError> {
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok()) {
        if len > state.max_body_bytes {
            return Err(ApiError::payload_too_large(state.max_body_bytes, &format!(" of {len} bytes")));
        }
    }
    read_body(state, body, state.max_body_bytes, format.decode_factor()).await
}

/// Decoding, appending and scoring are CPU work: `work` runs on a blocking thread, holding a
/// request slot and the body's reservation, which move along so a client that hangs up does not
/// free them while the work runs.
async fn off_the_reactor<T: Send + 'static>(
    state: &Arc<AppState>,
    reservation: crate::server::state::Reservation,
    what: &'static str,
    work: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let slot = state.slot()?;
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let _held = (slot, reservation);
        work(&state)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("{what} task failed: {e}")))?
}

async fn oip_handler(
    State(state): State<Arc<AppState>>,
    model: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let result = match model {
        Ok(Path(model)) => ingest_oip(&state, model, &headers, body).await,
        Err(e) => Err(path_rejected(e)),
    };
    counted(&state, result).map(Json)
}

/// `POST /ingest/oip/{model}`: an Open Inference Protocol or KServe v1 JSON body (same limits,
/// budget and slots as `/ingest`).
async fn ingest_oip(
    state: &Arc<AppState>,
    model: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<IngestResponse, ApiError> {
    let format = Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    if format != Format::Json {
        return Err(ApiError::Invalid {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: "unsupported_media_type",
            field: Some("Content-Type".into()),
            message: "Open Inference Protocol and KServe v1 bodies are application/json".into(),
        });
    }
    let (bytes, reservation) = read_limited(state, headers, body, Format::Json).await?;
    off_the_reactor(state, reservation, "ingest", move |state| state.pipeline.ingest_oip(model, &bytes)).await
}

async fn kserve_handler(
    State(state): State<Arc<AppState>>,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let result = match query {
        Ok(Query(query)) => ingest_kserve(&state, query.model, &headers, body).await,
        Err(e) => Err(query_rejected(e)),
    };
    counted(&state, result).map(Json)
}

/// A `ce-*` header as text; one that is not is named.
fn ce_header(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                ApiError::bad_request("invalid_cloudevent", Some(name), "a CloudEvents attribute header is ASCII text")
            })
        })
        .transpose()
}

/// `POST /ingest/kserve`: a KServe inference logger CloudEvent. `Content-Type:
/// application/cloudevents+json` is structured mode; anything else (the logger passes on the
/// model request's own Content-Type, which may be none) is binary mode, attributes in `ce-*`.
async fn ingest_kserve(
    state: &Arc<AppState>,
    query_model: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<IngestResponse, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/cloudevents-batch+json" {
        return Err(ApiError::Invalid {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: "unsupported_media_type",
            field: Some("Content-Type".into()),
            message: "batched CloudEvents are not read: send one event per request (binary or structured mode)".into(),
        });
    }
    let binary = (essence != "application/cloudevents+json").then(|| {
        Ok::<_, ApiError>(crate::ingest::oip::BinaryHeaders {
            ty: ce_header(headers, "ce-type")?,
            id: ce_header(headers, "ce-id")?,
            inferenceservicename: ce_header(headers, "ce-inferenceservicename")?,
        })
    });
    let binary = binary.transpose()?;
    let (bytes, reservation) = read_limited(state, headers, body, Format::Json).await?;
    off_the_reactor(state, reservation, "ingest", move |state| {
        let event = match binary {
            Some(headers) => crate::ingest::oip::binary_event(headers, &bytes)?,
            None => crate::ingest::oip::structured_event(&bytes)?,
        };
        state.pipeline.ingest_cloudevent(query_model, event)
    })
    .await
}

async fn labels_handler(
    State(state): State<Arc<AppState>>,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let result = match query {
        Ok(Query(query)) => labels(&state, query.model, &headers, body).await,
        Err(e) => Err(query_rejected(e)),
    };
    counted(&state, result).map(Json)
}

/// `POST /labels`: JSON or NDJSON (same limits, budget and slots as `/ingest`).
async fn labels(
    state: &Arc<AppState>,
    query_model: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
    let format = Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    if format == Format::ArrowStream {
        return Err(ApiError::Invalid {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: "unsupported_media_type",
            field: Some("Content-Type".into()),
            message: "labels are application/json or application/x-ndjson".into(),
        });
    }
    let (bytes, reservation) = read_limited(state, headers, body, format).await?;
    off_the_reactor(state, reservation, "labels", move |state| {
        state.pipeline.labels(format == Format::Ndjson, query_model, &bytes)
    })
    .await
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], state.metrics().encode()).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if let Some(error) = state.snapshot_health.failure() {
        let body = json!({"status": "snapshot_failing", "error": error});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let waiting: Vec<&str> = state.pipeline.models.values().filter(|m| !m.ready()).map(|m| m.name()).collect();
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
        "performance": m.spec.config.performance.as_ref().map(|_| json!({
            "latest": m.latest_performance(),
            "estimated": m.latest_estimate(),
            "pending": m.pending_predictions(),
        })),
    })
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({ "models": state.pipeline.models.values().map(|m| describe(m)).collect::<Vec<_>>() }))
}

/// The drift report page of a model's newest window (and its pushed series).
async fn model_report(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let result = render_report(&state, name).await;
    counted(&state, result)
}

async fn render_report(state: &AppState, name: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let Path(name) = name.map_err(path_rejected)?;
    let model = state.pipeline.models.get(&name).ok_or(ApiError::UnknownModel(name.clone()))?.clone();
    let series = state.pipeline.series.get(&name).cloned();
    // Drawing the charts is CPU work: off the reactor.
    let html = tokio::task::spawn_blocking(move || Report::live(&model, series.as_deref()).render())
        .await
        .map_err(|e| ApiError::Internal(format!("report task failed: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

async fn get_model(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let result = name.map_err(path_rejected).and_then(|Path(name)| {
        state.pipeline.models.get(&name).map(|m| Json(describe(m))).ok_or(ApiError::UnknownModel(name))
    });
    counted(&state, result)
}

async fn alertmanager_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let result = receive_alerts(&state, &headers, body).await;
    counted(&state, result).map(Json)
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
    if let Some(token) = am.bearer_token.as_ref().or(state.bearer_token.as_ref()) {
        if !auth::bearer_matches(headers, token) {
            return Err(ApiError::unauthorized());
        }
    }
    let (bytes, reservation) = read_body(state, body, state.max_body_bytes, Format::Json.decode_factor()).await?;
    let payload = alertmanager::parse(&bytes)?;
    let am = am.clone();
    // Retrain requests are fsynced before we answer, so Alertmanager retries if we fail.
    off_the_reactor(state, reservation, "alert", move |state| state.pipeline.alerts(&am, payload)).await
}
