//! `driftwatch demo`: runs the server on the embedded demo config and streams rows bootstrapped from the
//! demo reference into it over real HTTP, injecting drift in a repeating 90-second cycle:
//!
//! - 0–30 s: no drift (rows drawn from the reference as they are);
//! - 30–60 s: `age` creeps up by as much as 12 years and `plan` shifts towards "premium";
//! - 60–90 s: `monthly_charges` jumps by 35 % and `region` skews to "west".
//!
//! One line per scored window goes to stdout so the drift is visible without a dashboard.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::config::Sources;
use crate::monitor::reference::{self, Values};
use crate::server::{self, AppState};
use driftwatch_stats::drift::FeatureKind;

pub(crate) const CYCLE_SECONDS: f64 = 90.0;

/// Demo rows: the reference's columns, to resample from.
pub(crate) struct DemoData {
    pub(crate) model: String,
    pub(crate) names: Vec<String>,
    pub(crate) columns: Vec<Values>,
    /// The reference's labels (its `[model.performance]` label column) as text, which the demo model
    /// server is fitted on; empty without that section.
    #[cfg_attr(not(feature = "model-server"), allow(dead_code))]
    pub(crate) labels: Vec<Option<String>>,
}

impl DemoData {
    pub(crate) fn embedded() -> anyhow::Result<DemoData> {
        let config = Sources::embedded().validate()?;
        let model = &config.models[0];
        let source = model.reference.clone().context("the demo model has a reference")?;
        let frame = reference::read_frame(&source)?;
        let features = reference::resolve_features(model, Some(&frame)).map_err(anyhow::Error::msg)?;
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for f in &features {
            let col = frame.column(&f.name).with_context(|| format!("{source}: no column {}", f.name))?;
            columns.push(reference::column_values(col, f.kind).map_err(anyhow::Error::msg)?);
            names.push(f.name.clone());
        }
        let labels = match &model.performance {
            Some(p) => {
                let col =
                    frame.column(&p.label_column).with_context(|| format!("{source}: no column {}", p.label_column))?;
                match reference::column_values(col, FeatureKind::Categorical).map_err(anyhow::Error::msg)? {
                    Values::Categorical(v) => v,
                    Values::Numeric(_) => anyhow::bail!("{source}: labels read as numbers"),
                }
            }
            None => Vec::new(),
        };
        Ok(DemoData { model: model.name.clone(), names, columns, labels })
    }

    pub(crate) fn rows(&self) -> usize {
        self.columns.first().map_or(0, Values::len)
    }

    /// A JSON columnar body of `n` rows resampled with drift for time `t` seconds into the demo.
    pub(crate) fn batch(&self, rng: &mut StdRng, n: usize, t: f64) -> Value {
        let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..self.rows())).collect();
        json!({ "model": self.model, "features": self.drifted(rng, &idx, t) })
    }

    /// Columns (name → JSON array) of the reference rows `idx` with the drift of time `t` applied.
    pub(crate) fn drifted(&self, rng: &mut StdRng, idx: &[usize], t: f64) -> Map<String, Value> {
        let phase = t % CYCLE_SECONDS;
        let ramp = |start: f64| ((phase - start) / 30.0).clamp(0.0, 1.0);
        let (creep, jump) = (if phase < 60.0 { ramp(30.0) } else { 0.0 }, phase >= 60.0);
        let mut features = Map::new();
        for (name, column) in self.names.iter().zip(&self.columns) {
            let values: Vec<Value> = match column {
                Values::Numeric(v) => idx
                    .iter()
                    .map(|&i| {
                        let mut x = v[i];
                        match name.as_str() {
                            "age" => x += (12.0 * creep * rng.random::<f64>()).round(),
                            "monthly_charges" if jump => x = (x * 1.35 * 100.0).round() / 100.0,
                            _ => {}
                        }
                        if x.is_nan() { Value::Null } else { json!(x) }
                    })
                    .collect(),
                Values::Categorical(v) => idx
                    .iter()
                    .map(|&i| {
                        let mut c = v[i].clone();
                        if name == "plan" && rng.random::<f64>() < 0.4 * creep {
                            c = Some("premium".into());
                        }
                        if name == "region" && jump && rng.random::<f64>() < 0.5 {
                            c = Some("west".into());
                        }
                        c.map_or(Value::Null, Value::String)
                    })
                    .collect(),
            };
            features.insert(name.clone(), Value::Array(values));
        }
        features
    }
}

/// Serves the embedded demo on `listen` and streams into it until `duration` passes or `shutdown`
/// resolves.
pub(crate) async fn run(
    listen: SocketAddr,
    rate: u32,
    duration: Option<u64>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = Sources::embedded().validate()?;
    let state = Arc::new(AppState::build(&config)?);
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, state, async {
        let _ = stop_rx.await;
    }));
    println!("driftwatch demo: serving on http://{addr}  (try: curl -s http://{addr}/metrics | grep ^data_drift)");
    println!(
        "streaming {rate} samples/s; drift cycle: 0-30 s none, 30-60 s age/plan creep, 60-90 s charges/region jump"
    );

    let data = DemoData::embedded()?;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/ingest");
    let mut rng = StdRng::seed_from_u64(7);
    let started = Instant::now();
    let tick = Duration::from_millis(100);
    let per_tick = (rate as usize / 10).max(1);
    let mut interval = tokio::time::interval(tick);
    let mut minute: u64 = 0;
    let deadline = duration.map(|d| started + Duration::from_secs(d));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = interval.tick() => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let t = started.elapsed().as_secs_f64();
        let mut body = data.batch(&mut rng, per_tick, t);
        minute += 1;
        body["series"] = json!({"latency_p95": {"timestamps": [SERIES_START + 60.0 * minute as f64], "values": [latency(&mut rng, minute, t)]}});
        let response: Value = client.post(&url).json(&body).send().await?.error_for_status()?.json().await?;
        if let Some(latest) = response.get("latest").filter(|l| !l.is_null()) {
            print_window(t, latest);
        }
        let point = &response["series"]["latest"]["latency_p95"];
        if point["score"].as_f64().is_some_and(|s| s > 1.0) {
            println!(
                "t={t:>5.1}s latency_p95 {:.3} expected {:.3} (upper {:.3})  anomaly_score {:.1}{}",
                point["value"].as_f64().unwrap_or(f64::NAN),
                point["expected"].as_f64().unwrap_or(f64::NAN),
                point["upper"].as_f64().unwrap_or(f64::NAN),
                point["score"].as_f64().unwrap_or(f64::NAN),
                if point["ready"] == Value::Bool(true) { "" } else { "  (cold start: median/MAD)" }
            );
        }
    }
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}

/// Demo series time starts here (2024-11-25) and advances a minute per tick.
const SERIES_START: f64 = 1_732_500_000.0;

/// Latency with an hourly season and noise, plus a 2-second (20-point) spike 75 s into each
/// 90-second cycle.
fn latency(rng: &mut StdRng, minute: u64, t: f64) -> f64 {
    let season = 0.03 * (2.0 * std::f64::consts::PI * minute as f64 / 60.0).sin();
    let spike = if (75.0..77.0).contains(&(t % 90.0)) { 0.15 } else { 0.0 };
    0.12 + season + rng.random_range(-0.005..0.005) + spike
}

fn print_window(t: f64, report: &Value) {
    let mut line = format!(
        "t={:>5.1}s window {:>3}  drift_share {:.2}  model_drift {}  |",
        t,
        report["seq"],
        report["drift_share"].as_f64().unwrap_or(f64::NAN),
        if report["model_drift"] == Value::Bool(true) { 1 } else { 0 }
    );
    for f in report["features"].as_array().into_iter().flatten() {
        let psi = f["scores"].as_array().into_iter().flatten().find(|s| s["method"] == "psi");
        let mark = if f["drifted"] == Value::Bool(true) { "*" } else { "" };
        if let Some(psi) = psi {
            line += &format!(
                " {}{} psi={:.3}",
                f["name"].as_str().unwrap_or("?"),
                mark,
                psi["score"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    println!("{line}");
}
