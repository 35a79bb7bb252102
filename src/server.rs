//! HTTP surface: [`app`] builds the router over shared [`AppState`] (tests drive it with `oneshot`, no
//! socket), [`run`] serves it on a listener until the shutdown future resolves, then drains in-flight
//! requests (and the scoring they wait on) before returning.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

use crate::alertmanager::{self, Outcome, Status};
use crate::batch::Batch;
use crate::config::{AlertmanagerConfig, Config, PullConfig, Secret};
use crate::engine::{ModelState, WindowReport, score_window, unix_now};
use crate::error::ApiError;
use crate::ingest::{self, Format};
use crate::metrics::{AlertLabels, FeatureLabels, Metrics};
use crate::reference::{self, ReferenceError};
use crate::retrain::{Retrainer, Target};
use crate::series::{PushError, RefitPool, SeriesSource};
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
    /// Where snapshots go; `None`: state is in memory only.
    pub data_dir: Option<PathBuf>,
    pub snapshot_interval: Duration,
    pub shutdown_grace: Duration,
    bearer_token: Option<Secret>,
    /// One permit per request being processed on /ingest or /alertmanager.
    request_slots: Arc<tokio::sync::Semaphore>,
    /// Each model's pushed series.
    pub series: BTreeMap<String, Arc<SeriesSource>>,
    /// Pull queries and their series; polled by [`crate::anomaly::pull`] once started.
    pub pulls: Vec<(PullConfig, Arc<SeriesSource>)>,
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
        let label_sets: usize =
            models.values().map(|m| m.spec.features.iter().map(|f| f.methods.len() + 1).sum::<usize>()).sum();
        if label_sets > config.server.max_label_sets {
            return Err(StartError::Config(format!(
                "the models export {label_sets} feature label sets (feature × method), over server.max_label_sets = {}",
                config.server.max_label_sets
            )));
        }
        if let Some(dir) = &config.server.data_dir {
            std::fs::create_dir_all(dir)
                .map_err(|source| StartError::DataDir { dir: dir.display().to_string(), source })?;
        }
        let (retrain, delivery) = if config.needs_data_dir() {
            let (retrainer, delivery) = Self::open_retrain(config, &models, &metrics, sleeper)?;
            (Some(Arc::new(retrainer)), Some(delivery))
        } else {
            (None, None)
        };
        let refits = Arc::new(match config.server.refit_threads {
            0 => RefitPool::inline(),
            n => RefitPool::new(n),
        });
        let series = config
            .models
            .iter()
            .map(|mc| {
                let a = &mc.anomaly;
                let source = SeriesSource::new(
                    &mc.name,
                    a.detector.clone(),
                    &a.series,
                    a.max_series,
                    metrics.clone(),
                    refits.clone(),
                );
                (mc.name.clone(), source)
            })
            .collect();
        let pulls = config
            .pulls
            .iter()
            .map(|p| {
                let source =
                    SeriesSource::new(&p.name, p.detector.clone(), &[], p.max_series, metrics.clone(), refits.clone());
                (p.clone(), source)
            })
            .collect();
        let state = AppState {
            series,
            pulls,
            models,
            metrics,
            max_body_bytes: config.server.max_body_bytes,
            retrain,
            alertmanager: config.alertmanager.clone(),
            delivery,
            data_dir: config.server.data_dir.clone(),
            snapshot_interval: Duration::from_secs_f64(config.server.snapshot_interval_seconds),
            shutdown_grace: Duration::from_secs_f64(config.server.shutdown_grace_seconds),
            bearer_token: config.server.bearer_token.clone(),
            request_slots: Arc::new(tokio::sync::Semaphore::new(config.server.max_concurrent_requests)),
        };
        if let Some(dir) = &state.data_dir {
            let restored = crate::snapshot::restore(&state, dir)
                .map_err(|source| StartError::DataDir { dir: dir.display().to_string(), source })?;
            if let Some(t) = restored.taken_at {
                tracing::info!(models = ?restored.models, taken_at = t, "state restored from the snapshot");
            }
        }
        Ok(state)
    }

    /// Takes one request slot, or says the sidecar is overloaded.
    fn slot(&self) -> Result<Slot, ApiError> {
        let permit =
            self.request_slots.clone().try_acquire_owned().map_err(|_| ApiError::Overloaded { retry_after: 1 })?;
        self.metrics.in_flight.inc();
        Ok(Slot(permit, self.metrics.in_flight.clone()))
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
        // build_with created it.
        let io = |source| StartError::DataDir { dir: dir.display().to_string(), source };
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
        for (pull, source) in &self.pulls {
            tokio::spawn(crate::anomaly::pull::run(pull.clone(), source.clone(), self.metrics.clone()));
        }
    }
}

/// Holds a request slot for the life of a request's work (also on a blocking thread), and keeps
/// `driftwatch_requests_in_flight` in step with it.
struct Slot(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit, prometheus_client::metrics::gauge::Gauge);

impl Drop for Slot {
    fn drop(&mut self) {
        self.1.dec();
    }
}

/// Every endpoint on one router (what a single listener serves).
pub fn app(state: Arc<AppState>) -> Router {
    api_app(state.clone()).merge(metrics_app(state)).fallback(not_found).method_not_allowed_fallback(method_not_allowed)
}

/// Unknown paths and methods get the same JSON error shape as everything else.
async fn not_found() -> ApiError {
    ApiError::Invalid {
        status: StatusCode::NOT_FOUND,
        reason: "not_found",
        field: None,
        message: "no such endpoint".into(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::Invalid {
        status: StatusCode::METHOD_NOT_ALLOWED,
        reason: "method_not_allowed",
        field: None,
        message: "method not allowed on this endpoint".into(),
    }
}

/// Everything but /metrics: /ingest, /alertmanager, /v1/* (behind the bearer token when one is set)
/// and the probes.
pub fn api_app(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/ingest", post(ingest_handler))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(get_model))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
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
pub fn metrics_app(state: Arc<AppState>) -> Router {
    Router::new().route("/metrics", get(metrics_handler)).with_state(state)
}

/// The probes and /metrics, for a separate metrics listener.
fn metrics_listener_app(state: Arc<AppState>) -> Router {
    metrics_app(state.clone())
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .merge(Router::new().route("/readyz", get(readyz)).with_state(state))
        .fallback(not_found)
}

async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.bearer_token {
        if !bearer_matches(request.headers(), token) {
            state.metrics.reject("unauthorized");
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

/// Serves every endpoint on `listener` until `shutdown` resolves; see [`serve`].
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(listener, None, state, shutdown).await
}

/// Serves until `shutdown` resolves (with /metrics on `metrics_listener` if given), then stops
/// accepting, lets in-flight requests and the scoring they wait on finish — for at most the
/// configured grace period — and writes a final snapshot. Starts webhook delivery and periodic
/// snapshots.
pub async fn serve(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "listening");
    state.start_background();
    let snapshots = state
        .data_dir
        .clone()
        .map(|dir| tokio::spawn(crate::snapshot::periodic(state.clone(), dir, state.snapshot_interval)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let main_router = if metrics_listener.is_some() {
        api_app(state.clone()).fallback(not_found).method_not_allowed_fallback(method_not_allowed)
    } else {
        app(state.clone())
    };
    let main = axum::serve(listener, main_router).with_graceful_shutdown(stopped());
    let metrics = async {
        match metrics_listener {
            Some(l) => {
                tracing::info!(addr = %l.local_addr()?, "serving /metrics");
                axum::serve(l, metrics_listener_app(state.clone())).with_graceful_shutdown(stopped()).await
            }
            None => Ok(()),
        }
    };
    let grace = state.shutdown_grace;
    let expired = {
        let stopped = stopped();
        async move {
            stopped.await;
            tokio::time::sleep(grace).await;
        }
    };
    let result = tokio::select! {
        r = async { tokio::try_join!(main, metrics) } => r.map(|_| ()),
        _ = expired => {
            tracing::warn!(grace_seconds = grace.as_secs_f64(), "shutdown grace period over: exiting with requests in flight");
            Ok(())
        }
    };
    if let Some(task) = snapshots {
        task.abort();
    }
    if let Some(dir) = state.data_dir.clone() {
        let s = state.clone();
        match tokio::task::spawn_blocking(move || crate::snapshot::write(&s, &dir)).await {
            Ok(Ok(bytes)) => tracing::info!(bytes, "final snapshot written"),
            Ok(Err(e)) => tracing::error!(error = %e, "could not write the final snapshot"),
            Err(e) => tracing::error!(error = %e, "final snapshot task failed"),
        }
    }
    result
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
    /// Series points scored and ignored as late, when the request had series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesResponse>,
}

/// What a push of series did: points scored, points ignored as late, and each series' newest score.
#[derive(Debug, Default, Serialize)]
pub struct SeriesResponse {
    pub scored: usize,
    pub late: usize,
    pub latest: BTreeMap<String, crate::anomaly::Observation>,
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
    let slot = state.slot()?;
    let bytes = read_body(body, state.max_body_bytes).await?;
    let state = state.clone();
    // Decoding, appending and scoring are CPU work: keep them off the async reactor. The slot moves
    // along, so a client that hangs up does not free it while the work still runs.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        ingest_blocking(&state, format, query_model, &bytes)
    })
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
    let (model, decoded) = match format {
        Format::Json => {
            let mut body = ingest::json::parse(bytes)?;
            let model = model_for(state, body.model.take().or(query_model))?;
            (model, ingest::decode_json(&model.spec, body)?)
        }
        Format::Ndjson | Format::ArrowStream => {
            let model = model_for(state, query_model)?;
            (model, ingest::decode(&model.spec, format, bytes)?)
        }
    };
    let name = model.name();
    let source = &state.series[name];
    // Everything that can refuse the request is checked before anything is applied.
    if let Some(s) = &decoded.series {
        source
            .admit(s.series.iter().map(|(n, _)| (n.as_str(), SeriesSource::pushed_labels(name, n))))
            .map_err(|e| series_refused(state, name, e))?;
    }
    let mut response = match &decoded.batch {
        Some(batch) => ingest_features(state, model, batch)?,
        None => IngestResponse {
            model: name.to_owned(),
            accepted: 0,
            missing: 0,
            windows_scored: 0,
            window_samples: model.fill().1,
            latest: None,
            series: None,
        },
    };
    if let Some(s) = &decoded.series {
        let mut total = SeriesResponse::default();
        for (n, points) in &s.series {
            let labels = SeriesSource::pushed_labels(name, n);
            let r = source.push(&labels, points);
            total.scored += r.scored;
            total.late += r.late;
            if let Some(o) = source.last(&labels) {
                total.latest.insert(n.clone(), o);
            }
        }
        response.series = Some(total);
    }
    Ok(response)
}

fn series_refused(state: &AppState, model: &str, e: PushError) -> ApiError {
    match e {
        PushError::UnknownSeries(n) => ApiError::unprocessable(
            "unknown_series",
            Some(&format!("series.{n}")),
            format!("series {n:?} is not in model {model:?}'s anomaly.series list"),
        ),
        PushError::TooManySeries { max } => {
            state.metrics.anomaly_series_rejected.get_or_create(&crate::metrics::SourceLabels::new(model)).inc();
            ApiError::unprocessable(
                "too_many_series",
                Some("series"),
                format!("model {model:?} would have more than anomaly.max_series = {max} series"),
            )
        }
    }
}

fn ingest_features(state: &AppState, model: &Arc<ModelState>, batch: &Batch) -> Result<IngestResponse, ApiError> {
    let appended = model.append(batch).map_err(ApiError::Internal)?;
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
        series: None,
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
    if let Some(token) = am.bearer_token.as_ref().or(state.bearer_token.as_ref()) {
        if !bearer_matches(headers, token) {
            return Err(ApiError::unauthorized());
        }
    }
    let slot = state.slot()?;
    let bytes = read_body(body, state.max_body_bytes).await?;
    let payload = alertmanager::parse(&bytes)?;
    let state = state.clone();
    // Retrain requests are fsynced before we answer, so Alertmanager retries if we fail.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        process_alerts(&state, payload)
    })
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
