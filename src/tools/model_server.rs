//! `driftwatch model-server`: the demo model server that deploy/ runs beside the sidecar. It serves
//! real predictions from a small model — a logistic regression (linfa) fitted at start on the demo
//! reference with churn labels drawn from a known ground truth — and does what a model server
//! instrumented for driftwatch does: mirrors each scored batch's features to the sidecar's
//! `/ingest` together with its predictions (an id per row, the predicted class, P(churn)), pushes its
//! own p95 prediction latency as a metric series once a minute, and exports the application metrics
//! that deploy/'s rules and dashboards watch (`http_requests_total`, `http_request_duration_seconds`,
//! `model_predictions_total`, `model_prediction_duration_seconds`, `db_connection_pool_*`). Its
//! accuracy is not its own gauge: labels go to the sidecar's `/labels`, which joins them to the
//! predictions and exports `model_accuracy` like any model's.
//!
//! With `--traffic`, it also drives itself: batches resampled from the demo reference with the demo's
//! drift cycle, whose labels (the ground truth of the *undrifted* rows) reach the sidecar
//! `--label-delay` seconds later, as a label pipeline's would. The drift is a broken feature
//! pipeline, not a changed world, so the model's accuracy drops while the inputs drift.
//!
//! The demo has no database: its one pool is the bounded set of concurrent requests to the
//! sidecar, exported under the `db_connection_pool_*` names that DatabaseConnectionPoolHigh watches.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use linfa::traits::Fit as _;
use ndarray::{Array1, Array2};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::demo::DemoData;
use crate::metrics::ModelLabels;
use crate::monitor::reference::Values;

/// Prediction latencies kept between two pushes of the latency series.
const MAX_LATENCIES: usize = 100_000;
/// Concurrent requests to the sidecar (the exported "connection pool").
pub(crate) const POOL_SIZE: usize = 8;
const PLANS: [&str; 2] = ["basic", "standard"];
const REGIONS: [&str; 3] = ["north", "east", "west"];
/// Request latency buckets, seconds; 0.5 is the latency SLO's threshold in deploy/'s slo rules.
const HTTP_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// One request body of `/predict`: the demo's columns (the sidecar's columnar form), and optionally
/// an id per row (the caller's request ids, to send labels for later); the server makes ids for
/// rows without.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PredictRequest {
    pub(crate) features: Columns,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Columns {
    pub(crate) age: Vec<Option<f64>>,
    pub(crate) tenure_months: Vec<Option<f64>>,
    pub(crate) monthly_charges: Vec<Option<f64>>,
    pub(crate) support_calls: Vec<Option<f64>>,
    pub(crate) plan: Vec<Option<String>>,
    pub(crate) region: Vec<Option<String>>,
}

impl Columns {
    fn numeric(&self) -> [&Vec<Option<f64>>; 4] {
        [&self.age, &self.tenure_months, &self.monthly_charges, &self.support_calls]
    }

    /// Rows, or the first column whose length differs from `age`'s.
    fn rows(&self) -> Result<usize, String> {
        let n = self.age.len();
        let lengths = [
            ("tenure_months", self.tenure_months.len()),
            ("monthly_charges", self.monthly_charges.len()),
            ("support_calls", self.support_calls.len()),
            ("plan", self.plan.len()),
            ("region", self.region.len()),
        ];
        match lengths.iter().find(|(_, len)| *len != n) {
            Some((name, len)) => Err(format!("features.{name}: {len} values, but features.age has {n}")),
            None => Ok(n),
        }
    }
}

/// The churn probability the demo world draws labels from: more support calls, higher charges and
/// the basic plan raise it, tenure lowers it. Missing charges count as the reference mean.
pub(crate) fn true_churn_probability(tenure: f64, charges: Option<f64>, support_calls: f64, plan: Option<&str>) -> f64 {
    let charges = charges.unwrap_or(64.0);
    let z = 3.0
        * (-1.0 + 1.5 * (support_calls - 1.5) - 0.1 * (tenure - 24.0)
            + 0.06 * (charges - 64.0)
            + if plan == Some("basic") { 0.5 } else { 0.0 });
    1.0 / (1.0 + (-z).exp())
}

/// Logistic regression over standardised numeric columns and one-hot plan and region.
pub(crate) struct ChurnModel {
    fitted: linfa_logistic::FittedLogisticRegression<f64, bool>,
    design: Design,
}

/// Request columns → the model's design matrix.
struct Design {
    mean: [f64; 4],
    scale: [f64; 4],
}

impl Design {
    /// Standardises with the mean and standard deviation of the columns' present values.
    fn fit(c: &Columns) -> Design {
        let mut design = Design { mean: [0.0; 4], scale: [1.0; 4] };
        for (j, col) in c.numeric().iter().enumerate() {
            let present: Vec<f64> = col.iter().flatten().copied().collect();
            let m = present.iter().sum::<f64>() / present.len().max(1) as f64;
            let var = present.iter().map(|v| (v - m).powi(2)).sum::<f64>() / present.len().max(2) as f64;
            design.mean[j] = m;
            design.scale[j] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
        design
    }

    fn matrix(&self, c: &Columns) -> Array2<f64> {
        let n = c.age.len();
        let mut x = Array2::zeros((n, 4 + PLANS.len() + REGIONS.len()));
        for (j, col) in c.numeric().iter().enumerate() {
            for (i, v) in col.iter().enumerate() {
                // A missing value is the reference mean: 0 after standardising.
                x[[i, j]] = v.map_or(0.0, |v| (v - self.mean[j]) / self.scale[j]);
            }
        }
        for i in 0..n {
            if let Some(k) = PLANS.iter().position(|p| c.plan[i].as_deref() == Some(*p)) {
                x[[i, 4 + k]] = 1.0;
            }
            if let Some(k) = REGIONS.iter().position(|r| c.region[i].as_deref() == Some(*r)) {
                x[[i, 4 + PLANS.len() + k]] = 1.0;
            }
        }
        x
    }
}

impl ChurnModel {
    /// Fits on the demo reference and its `label` column (drawn from [`true_churn_probability`] by
    /// datasets/demo/make_demo.py, which also fits the same model with scikit-learn).
    pub(crate) fn fit_demo(data: &DemoData) -> anyhow::Result<ChurnModel> {
        let columns = DemoColumns::new(data)?;
        let n = data.rows();
        anyhow::ensure!(data.labels.len() == n, "the demo reference has no labels ([model.performance] label_column)");
        let all: Vec<usize> = (0..n).collect();
        let x = columns.request(&all);
        let y: Array1<bool> = data.labels.iter().map(|l| l.as_deref() == Some(POSITIVE)).collect();
        let design = Design::fit(&x);
        let fitted = linfa_logistic::LogisticRegression::default()
            .max_iterations(200)
            .fit(&linfa::Dataset::new(design.matrix(&x), y))
            .context("fitting the demo churn model")?;
        Ok(ChurnModel { fitted, design })
    }

    /// P(churn) per row.
    pub(crate) fn predict(&self, c: &Columns) -> Vec<f64> {
        let p = self.fitted.predict_probabilities(&self.design.matrix(c));
        // linfa's probability is that of its "positive" class, which need not be `true`.
        if self.fitted.labels().pos.class { p.to_vec() } else { p.iter().map(|p| 1.0 - p).collect() }
    }
}

/// The positive class as the demo config and the reference's label column write it.
const POSITIVE: &str = "1";

/// The demo reference's columns by name, to build requests and ground truth from row indices.
pub(crate) struct DemoColumns<'a> {
    data: &'a DemoData,
    numeric: [&'a [f64]; 4],
    plan: &'a [Option<String>],
    region: &'a [Option<String>],
}

impl<'a> DemoColumns<'a> {
    pub(crate) fn new(data: &'a DemoData) -> anyhow::Result<DemoColumns<'a>> {
        let find = |name: &str| {
            data.names
                .iter()
                .position(|n| n == name)
                .map(|i| &data.columns[i])
                .with_context(|| format!("the demo reference has no column {name}"))
        };
        let numeric = |name: &str| match find(name)? {
            Values::Numeric(v) => Ok(v.as_slice()),
            Values::Categorical(_) => anyhow::bail!("demo column {name} is not numeric"),
        };
        let categorical = |name: &str| match find(name)? {
            Values::Categorical(v) => Ok(v.as_slice()),
            Values::Numeric(_) => anyhow::bail!("demo column {name} is not categorical"),
        };
        Ok(DemoColumns {
            data,
            numeric: [
                numeric("age")?,
                numeric("tenure_months")?,
                numeric("monthly_charges")?,
                numeric("support_calls")?,
            ],
            plan: categorical("plan")?,
            region: categorical("region")?,
        })
    }

    /// P(churn) of reference row `i`, undrifted.
    pub(crate) fn truth(&self, i: usize) -> f64 {
        let charges = self.numeric[2][i];
        true_churn_probability(
            self.numeric[1][i],
            (!charges.is_nan()).then_some(charges),
            self.numeric[3][i],
            self.plan[i].as_deref(),
        )
    }

    /// The reference rows `idx`, undrifted, as request columns.
    pub(crate) fn request(&self, idx: &[usize]) -> Columns {
        let num = |j: usize| idx.iter().map(|&i| Some(self.numeric[j][i]).filter(|v| !v.is_nan())).collect();
        let cat = |c: &[Option<String>]| idx.iter().map(|&i| c[i].clone()).collect();
        Columns {
            age: num(0),
            tenure_months: num(1),
            monthly_charges: num(2),
            support_calls: num(3),
            plan: cat(self.plan),
            region: cat(self.region),
        }
    }

    /// Rows `idx` with the demo's drift at `t` seconds, and their labels drawn from the undrifted
    /// rows' truth.
    pub(crate) fn drifted_request(
        &self,
        rng: &mut StdRng,
        idx: &[usize],
        t: f64,
    ) -> anyhow::Result<(PredictRequest, Vec<bool>)> {
        let features = Value::Object(self.data.drifted(rng, idx, t));
        let labels = idx.iter().map(|&i| rng.random::<f64>() < self.truth(i)).collect();
        Ok((PredictRequest { features: serde_json::from_value(features)?, ids: None }, labels))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    handler: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabels {
    handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
}

/// The one pool: requests to the driftwatch sidecar.
fn sidecar_pool() -> PoolLabels {
    PoolLabels { pool: "driftwatch".into() }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForwardLabels {
    kind: String,
    outcome: String,
}

/// The model server's metric handles (its own registry; it is a separate process from the sidecar).
#[derive(Clone)]
struct Metrics {
    requests: Family<HttpLabels, Counter>,
    request_seconds: Family<HandlerLabels, Histogram>,
    predictions: Family<ModelLabels, Counter>,
    prediction_seconds: Family<ModelLabels, Histogram>,
    pool_in_use: Family<PoolLabels, Gauge>,
    pool_max: Family<PoolLabels, Gauge>,
    forwarded: Family<ForwardLabels, Counter>,
}

impl Metrics {
    fn register(registry: &mut Registry) -> Metrics {
        let histogram = || Histogram::new(HTTP_BUCKETS);
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(histogram),
            predictions: Family::default(),
            prediction_seconds: Family::new_with_constructor(histogram),
            pool_in_use: Family::default(),
            pool_max: Family::default(),
            forwarded: Family::default(),
        };
        registry.register("http_requests", "HTTP requests answered, by handler and status", m.requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", m.request_seconds.clone());
        registry.register("model_predictions", "Rows scored by the model", m.predictions.clone());
        registry.register(
            "model_prediction_duration_seconds",
            "Time to score one /predict batch",
            m.prediction_seconds.clone(),
        );
        registry.register("db_connection_pool_in_use", "Connections of the pool in use", m.pool_in_use.clone());
        registry.register("db_connection_pool_max", "Connections the pool holds at most", m.pool_max.clone());
        registry.register(
            "model_server_sidecar_requests",
            "Requests to the driftwatch sidecar by kind (predictions, series, labels) and outcome",
            m.forwarded.clone(),
        );
        m
    }
}

/// What the server needs: the model, metrics, the id counter and the sidecar client.
pub(crate) struct ModelServer {
    model: ChurnModel,
    model_name: String,
    registry: Registry,
    metrics: Metrics,
    /// Ids the server makes are `<start>-<n>`: unique across restarts, which a pending prediction
    /// in the sidecar's snapshot outlives.
    id_prefix: String,
    next_id: AtomicU64,
    latencies: Mutex<Vec<f64>>,
    sidecar: Option<Sidecar>,
}

struct Sidecar {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    pool: Arc<Semaphore>,
}

pub(crate) struct Options {
    pub(crate) model_name: String,
    pub(crate) sidecar: Option<String>,
    pub(crate) token: Option<String>,
}

impl ModelServer {
    pub(crate) fn build(data: &DemoData, options: Options) -> anyhow::Result<ModelServer> {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let pool = sidecar_pool();
        metrics.pool_max.get_or_create(&pool).set(POOL_SIZE as i64);
        metrics.pool_in_use.get_or_create(&pool).set(0);
        let sidecar = match options.sidecar {
            Some(base) => Some(Sidecar {
                client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
                base: base.trim_end_matches('/').to_owned(),
                token: options.token,
                pool: Arc::new(Semaphore::new(POOL_SIZE)),
            }),
            None => None,
        };
        Ok(ModelServer {
            model: ChurnModel::fit_demo(data)?,
            model_name: options.model_name,
            registry,
            metrics,
            id_prefix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                .to_string(),
            next_id: AtomicU64::new(0),
            latencies: Mutex::new(Vec::new()),
            sidecar,
        })
    }

    /// Posts `body` to the sidecar's `path` through the bounded pool; failures are counted and
    /// logged, never returned to the caller of /predict (monitoring must not break serving).
    async fn forward(self: &Arc<Self>, kind: &str, path: &str, body: Value) {
        let Some(sidecar) = &self.sidecar else { return };
        let Ok(_permit) = sidecar.pool.acquire().await else { return };
        let pool = sidecar_pool();
        self.metrics.pool_in_use.get_or_create(&pool).inc();
        let mut request = sidecar.client.post(format!("{}{path}", sidecar.base)).json(&body);
        if let Some(token) = &sidecar.token {
            request = request.bearer_auth(token);
        }
        let outcome = match request.send().await.and_then(|r| r.error_for_status()) {
            Ok(_) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "sending {kind} to the sidecar failed");
                "error"
            }
        };
        self.metrics.pool_in_use.get_or_create(&pool).dec();
        self.metrics.forwarded.get_or_create(&ForwardLabels { kind: kind.into(), outcome: outcome.into() }).inc();
    }

    /// Pushes the p95 /predict latency of the requests since the last push as one series point.
    async fn push_latency(self: &Arc<Self>, timestamp: f64) {
        let mut taken = std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return;
        }
        taken.sort_by(f64::total_cmp);
        let p95 = taken[((0.95 * taken.len() as f64).ceil() as usize).clamp(1, taken.len()) - 1];
        let body = json!({"model": self.model_name, "series": {"prediction_latency_p95": {"timestamps": [timestamp], "values": [p95]}}});
        self.forward("series", "/ingest", body).await;
    }

    /// Sends the labels of predictions `ids` to the sidecar's /labels (what a label pipeline does
    /// once outcomes are known).
    async fn send_labels(self: &Arc<Self>, ids: Vec<String>, labels: Vec<bool>) {
        let labels: Vec<u8> = labels.into_iter().map(u8::from).collect();
        self.forward("labels", "/labels", json!({"model": self.model_name, "ids": ids, "labels": labels})).await;
    }
}

pub(crate) fn app(server: Arc<ModelServer>) -> Router {
    Router::new()
        .route("/predict", post(predict))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route_layer(middleware::from_fn_with_state(server.clone(), count_requests))
        .with_state(server)
}

async fn count_requests(State(server): State<Arc<ModelServer>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let handler = request.extensions().get::<MatchedPath>().map_or("other", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    let labels = HttpLabels { method, handler: handler.clone(), status: response.status().as_u16().to_string() };
    server.metrics.requests.get_or_create(&labels).inc();
    server.metrics.request_seconds.get_or_create(&HandlerLabels { handler }).observe(started.elapsed().as_secs_f64());
    response
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message }))).into_response()
}

async fn predict(State(server): State<Arc<ModelServer>>, body: Bytes) -> Response {
    let request: PredictRequest =
        match serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body)) {
            Ok(r) => r,
            Err(e) => return bad_request(format!("{}: {}", e.path(), e.inner())),
        };
    let n = match request.features.rows() {
        Ok(n) => n,
        Err(message) => return bad_request(message),
    };
    if let Some(ids) = &request.ids {
        if ids.len() != n {
            return bad_request(format!("ids: {} values, but the features have {n} rows", ids.len()));
        }
    }
    let started = Instant::now();
    let probabilities = server.model.predict(&request.features);
    let seconds = started.elapsed().as_secs_f64();
    let model = crate::metrics::Metrics::model(&server.model_name);
    server.metrics.prediction_seconds.get_or_create(&model).observe(seconds);
    server.metrics.predictions.get_or_create(&model).inc_by(n as u64);
    if server.sidecar.is_some() {
        let mut latencies = server.latencies.lock().unwrap_or_else(|e| e.into_inner());
        // A minute of even 1,000 requests a second fits; past this the p95 is of the first ones.
        if latencies.len() < MAX_LATENCIES {
            latencies.push(seconds);
        }
    }
    let ids = request.ids.unwrap_or_else(|| {
        let first = server.next_id.fetch_add(n as u64, Ordering::Relaxed);
        (first..first + n as u64).map(|k| format!("{}-{k}", server.id_prefix)).collect()
    });
    let churn: Vec<bool> = probabilities.iter().map(|p| *p >= 0.5).collect();
    if server.sidecar.is_some() {
        // The sidecar's columnar form with the model's outputs beside the features: the class as
        // the config's positive_class writes it, P(churn) under that class.
        let classes: Vec<u8> = churn.iter().map(|c| u8::from(*c)).collect();
        let forwarded = json!({
            "model": server.model_name,
            "features": request.features,
            "ids": ids,
            "predictions": classes,
            "probabilities": {POSITIVE: probabilities},
        });
        let server = server.clone();
        tokio::spawn(async move { server.forward("predictions", "/ingest", forwarded).await });
    }
    axum::Json(json!({"ids": ids, "churn_probability": probabilities, "churn": churn})).into_response()
}

async fn metrics(State(server): State<Arc<ModelServer>>) -> Response {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], crate::metrics::encode(&server.registry)).into_response()
}

pub(crate) struct RunOptions {
    pub(crate) listen: SocketAddr,
    pub(crate) options: Options,
    /// The built-in traffic to /predict (rate 0: none).
    pub(crate) traffic: Traffic,
    /// Seconds between latency series points.
    pub(crate) series_every: u64,
    pub(crate) duration: Option<u64>,
}

/// Serves until `duration` passes or `shutdown` resolves.
pub(crate) async fn run(o: RunOptions, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let data = DemoData::embedded()?;
    let server = Arc::new(ModelServer::build(&data, o.options)?);
    let listener = TcpListener::bind(o.listen).await.with_context(|| format!("cannot listen on {}", o.listen))?;
    let addr = listener.local_addr()?;
    println!("driftwatch model-server: serving on http://{addr} (POST /predict, GET /metrics)");
    let shutdown = async move {
        match o.duration {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(d)) => {}
                    _ = shutdown => {}
                }
            }
            None => shutdown.await,
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    if server.sidecar.is_some() {
        let (server, mut stop) = (server.clone(), stop_rx.clone());
        let every = Duration::from_secs(o.series_every.max(1));
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                server.push_latency(now.as_secs() as f64).await;
            }
        }));
    }
    if o.traffic.rate > 0 {
        let (mut stop, server) = (stop_rx.clone(), server.clone());
        let traffic = Traffic { rows: o.traffic.rows.max(1), ..o.traffic };
        tasks.push(tokio::spawn(async move {
            if let Err(e) = drive(server, addr, &data, traffic, &mut stop).await {
                tracing::error!(error = %e, "the built-in traffic stopped");
            }
        }));
    }
    axum::serve(listener, app(server)).with_graceful_shutdown(shutdown).await?;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Sends `rate` requests a second of `rows` drifted rows to the server's own /predict, and their
/// labels to the sidecar `label_delay` later.
async fn drive(
    server: Arc<ModelServer>,
    addr: SocketAddr,
    data: &DemoData,
    traffic: Traffic,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Traffic { rate, rows, label_delay } = traffic;
    let columns = DemoColumns::new(data)?;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/predict");
    let mut rng = StdRng::seed_from_u64(11);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return Ok(()),
        }
        let idx: Vec<usize> = (0..rows).map(|_| rng.random_range(0..data.rows())).collect();
        let (body, labels) = columns.drifted_request(&mut rng, &idx, started.elapsed().as_secs_f64())?;
        let answer = match client.post(&url).json(&body).send().await.and_then(|r| r.error_for_status()) {
            Ok(r) => r.json::<Value>().await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(answer) if server.sidecar.is_some() => {
                let ids: Vec<String> = serde_json::from_value(answer["ids"].clone())?;
                let server = server.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(label_delay).await;
                    server.send_labels(ids, labels).await;
                });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a traffic request failed"),
        }
    }
}

/// The built-in traffic: requests per second, rows per request, how late labels arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traffic {
    pub(crate) rate: u32,
    pub(crate) rows: usize,
    pub(crate) label_delay: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accuracy(model: &ChurnModel, request: &PredictRequest, labels: &[bool]) -> f64 {
        let p = model.predict(&request.features);
        p.iter().zip(labels).filter(|(p, l)| (**p >= 0.5) == **l).count() as f64 / p.len() as f64
    }

    /// The oracle is the ground truth itself: the Bayes-optimal classifier predicts churn where the
    /// true probability is at least 0.5. A fitted model can only approach it; within 1.5 points
    /// means the fit worked.
    #[test]
    fn fitted_model_is_within_two_points_of_bayes_accuracy_and_drops_under_drift() {
        let data = DemoData::embedded().unwrap();
        let model = ChurnModel::fit_demo(&data).unwrap();
        let columns = DemoColumns::new(&data).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let idx: Vec<usize> = (0..5000).map(|_| rng.random_range(0..data.rows())).collect();
        let (calm, labels) = columns.drifted_request(&mut rng, &idx, 10.0).unwrap();
        let bayes = idx.iter().zip(&labels).filter(|(i, l)| (columns.truth(**i) >= 0.5) == **l).count() as f64
            / idx.len() as f64;
        let calm_accuracy = accuracy(&model, &calm, &labels);
        assert!((bayes - 0.937).abs() < 0.02, "Bayes accuracy {bayes}");
        assert!(calm_accuracy > bayes - 0.015 && calm_accuracy <= bayes + 0.005, "{calm_accuracy} vs {bayes}");
        // 60–90 s of the cycle: charges arrive 35 % too high, the truth did not change.
        let (jumped, labels) = columns.drifted_request(&mut rng, &idx, 75.0).unwrap();
        let drifted_accuracy = accuracy(&model, &jumped, &labels);
        assert!(drifted_accuracy < 0.85, "accuracy under drift {drifted_accuracy}");
    }

    /// The reference's `probability` column (what CBPE calibrates on) is scikit-learn's fit of the
    /// same model on the same labels (datasets/demo/make_demo.py): the served model must give the
    /// same probabilities, or CBPE would calibrate a model that is not the one serving. linfa stops
    /// at a gradient tolerance of 1e-4 and the column is rounded to 6 decimals, hence 0.01.
    #[test]
    fn served_probabilities_equal_the_references_scikit_learn_column() {
        let data = DemoData::embedded().unwrap();
        let model = ChurnModel::fit_demo(&data).unwrap();
        let all: Vec<usize> = (0..data.rows()).collect();
        let served = model.predict(&DemoColumns::new(&data).unwrap().request(&all));
        let config = crate::config::Sources::embedded().validate().unwrap();
        let source = config.models[0].reference.clone().unwrap();
        let frame = crate::monitor::reference::read_frame(&source).unwrap();
        let Values::Numeric(column) = crate::monitor::reference::column_values(
            frame.column("probability").unwrap(),
            driftwatch_stats::drift::FeatureKind::Numeric,
        )
        .unwrap() else {
            unreachable!()
        };
        let diffs: Vec<f64> = served.iter().zip(&column).map(|(a, b)| (a - b).abs()).collect();
        let max = diffs.iter().copied().fold(0.0, f64::max);
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        assert_eq!(served.len(), 20_000);
        assert!(max < 0.01 && mean < 0.002, "max {max}, mean {mean}");
    }

    #[test]
    fn column_length_mismatch_names_the_column() {
        let data = DemoData::embedded().unwrap();
        let mut request = DemoColumns::new(&data).unwrap().request(&[0, 1, 2]);
        request.region.pop();
        assert_eq!(request.rows().unwrap_err(), "features.region: 2 values, but features.age has 3");
    }
}

#[cfg(test)]
mod http_tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(server: &Arc<ModelServer>, method: &str, uri: &str, body: String) -> (StatusCode, String) {
        let request = Request::builder().method(method).uri(uri).body(Body::from(body)).unwrap();
        let response = app(server.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        (status, String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
    }

    #[tokio::test]
    async fn predictions_ids_bad_requests_and_volume_show_in_the_answer_and_metrics() {
        let data = DemoData::embedded().unwrap();
        let options = Options { model_name: "demo-churn".into(), sidecar: None, token: None };
        let server = Arc::new(ModelServer::build(&data, options).unwrap());
        let (mut request, _) = DemoColumns::new(&data)
            .unwrap()
            .drifted_request(&mut StdRng::seed_from_u64(5), &[0, 1, 2, 3], 0.0)
            .unwrap();
        let (status, body) = call(&server, "POST", "/predict", serde_json::to_string(&request).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let want = server.model.predict(&request.features);
        let got: Vec<f64> =
            answer["churn_probability"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
        assert_eq!(got, want);
        let ids: Vec<String> = serde_json::from_value(answer["ids"].clone()).unwrap();
        let prefix = &server.id_prefix;
        assert_eq!(ids, (0..4).map(|k| format!("{prefix}-{k}")).collect::<Vec<_>>());
        // The caller's ids are kept; the next made ones continue the count.
        request.ids = Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]);
        let (_, body) = call(&server, "POST", "/predict", serde_json::to_string(&request).unwrap()).await;
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["ids"], json!(["a", "b", "c", "d"]));

        let (status, body) = call(&server, "POST", "/predict", r#"{"features": {"age": ["x"]}}"#.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("features.age"), "{body}");
        request.ids = Some(vec!["a".into()]);
        let (status, body) = call(&server, "POST", "/predict", serde_json::to_string(&request).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("ids: 1 values, but the features have 4 rows"), "{body}");

        let (_, metrics) = call(&server, "GET", "/metrics", String::new()).await;
        for line in [
            r#"http_requests_total{method="POST",handler="/predict",status="200"} 2"#,
            r#"http_requests_total{method="POST",handler="/predict",status="400"} 2"#,
            r#"model_predictions_total{model_name="demo-churn"} 8"#,
            r#"model_prediction_duration_seconds_count{model_name="demo-churn"} 2"#,
            r#"http_request_duration_seconds_count{handler="/predict"} 4"#,
            r#"db_connection_pool_max{pool="driftwatch"} 8"#,
        ] {
            assert!(metrics.lines().any(|l| l == line), "no line {line} in\n{metrics}");
        }
        // Accuracy is the sidecar's (from labels), not the model server's own.
        assert!(!metrics.contains("model_accuracy"), "{metrics}");
    }
}
