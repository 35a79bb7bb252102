//! `driftwatch load`: a load generator for a running sidecar. It reads the model's features from
//! `/v1/models/{name}`, then `concurrency` workers POST random JSON batches of `rows` rows to
//! `/ingest` for `duration`, and every `report_every` it prints a line with throughput, p50/p99
//! latency, errors and — given the sidecar's pid — its resident memory. The summary at the end says
//! how much RSS grew after warm-up (the soak criterion in BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

pub(crate) struct LoadOptions {
    pub(crate) target: String,
    pub(crate) model: String,
    pub(crate) duration: Duration,
    pub(crate) concurrency: usize,
    pub(crate) rows: usize,
    pub(crate) report_every: Duration,
    pub(crate) pid: Option<u32>,
    pub(crate) token: Option<String>,
    /// Reports before this much time are warm-up: RSS growth is measured from the first one after it.
    pub(crate) warmup: Duration,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Interval {
    pub(crate) elapsed_s: f64,
    pub(crate) requests: usize,
    pub(crate) errors: usize,
    pub(crate) rows_per_s: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) rss_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) requests: usize,
    pub(crate) errors: usize,
    pub(crate) rows_per_s: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) rss_after_warmup_mib: Option<f64>,
    pub(crate) rss_end_mib: Option<f64>,
    pub(crate) rss_max_after_warmup_mib: Option<f64>,
    /// (max RSS after warm-up − RSS at the end of warm-up) / RSS at the end of warm-up.
    pub(crate) rss_growth_after_warmup: Option<f64>,
    pub(crate) intervals: Vec<Interval>,
}

/// Resident set size of `pid` in MiB, from /proc (Linux).
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A batch of random rows for the model's features (numbers around 50, a handful of categories).
fn batch(model: &str, features: &[(String, String)], rows: usize, rng: &mut impl Rng) -> Vec<u8> {
    let mut cols = serde_json::Map::new();
    for (name, kind) in features {
        let col: Value = if kind == "categorical" {
            (0..rows)
                .map(|_| Value::from(["basic", "standard", "premium", "north", "south"][rng.random_range(0..5)]))
                .collect()
        } else {
            (0..rows).map(|_| Value::from((rng.random::<f64>() * 100.0 * 100.0).round() / 100.0)).collect()
        };
        cols.insert(name.clone(), col);
    }
    serde_json::to_vec(&json!({"model": model, "features": cols})).expect("serialises")
}

pub(crate) async fn run(o: LoadOptions) -> anyhow::Result<Summary> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let auth = |r: reqwest::RequestBuilder| match &o.token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let info: Value = auth(client.get(format!("{}/v1/models/{}", o.target, o.model)))
        .send()
        .await
        .with_context(|| format!("cannot reach {}", o.target))?
        .error_for_status()?
        .json()
        .await?;
    let features: Vec<(String, String)> = info["features"]
        .as_array()
        .context("no features in /v1/models")?
        .iter()
        .map(|f| (f["name"].as_str().unwrap_or_default().to_owned(), f["kind"].as_str().unwrap_or_default().to_owned()))
        .collect();
    // A fixed pool of bodies: the generator should cost the machine less than the sidecar.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..32).map(|_| batch(&o.model, &features, o.rows, &mut rng)).collect());
    let latencies: Arc<Mutex<(Vec<f64>, usize)>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/ingest", o.target);
    let mut workers = Vec::new();
    for w in 0..o.concurrency {
        let (client, bodies, latencies, stop, url, token) =
            (client.clone(), bodies.clone(), latencies.clone(), stop.clone(), url.clone(), o.token.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let body = bodies[i % bodies.len()].clone();
                i += 1;
                let started = Instant::now();
                let mut req = client.post(&url).header("content-type", "application/json").body(body);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let ok = matches!(req.send().await, Ok(r) if r.status().is_success());
                let ms = started.elapsed().as_secs_f64() * 1e3;
                let mut l = latencies.lock().await;
                if ok {
                    l.0.push(ms);
                } else {
                    l.1 += 1;
                }
            }
        }));
    }
    let started = Instant::now();
    let mut intervals = Vec::new();
    let mut all = Vec::new();
    let mut errors = 0;
    while started.elapsed() < o.duration {
        tokio::time::sleep(o.report_every.min(o.duration.saturating_sub(started.elapsed()))).await;
        let (mut lat, errs) = std::mem::take(&mut *latencies.lock().await);
        lat.sort_by(f64::total_cmp);
        let secs = o.report_every.as_secs_f64();
        let iv = Interval {
            elapsed_s: started.elapsed().as_secs_f64(),
            requests: lat.len(),
            errors: errs,
            rows_per_s: (lat.len() * o.rows) as f64 / secs,
            p50_ms: percentile(&lat, 0.5),
            p99_ms: percentile(&lat, 0.99),
            rss_mib: o.pid.and_then(rss_mib),
        };
        eprintln!(
            "{:>7.0} s  {:>6} req  {:>3} err  {:>10.0} rows/s  p50 {:>7.2} ms  p99 {:>7.2} ms  rss {}",
            iv.elapsed_s,
            iv.requests,
            iv.errors,
            iv.rows_per_s,
            iv.p50_ms,
            iv.p99_ms,
            iv.rss_mib.map_or("-".into(), |r| format!("{r:.1} MiB"))
        );
        errors += errs;
        all.extend(lat);
        intervals.push(iv);
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    all.sort_by(f64::total_cmp);
    let after: Vec<f64> =
        intervals.iter().filter(|i| i.elapsed_s > o.warmup.as_secs_f64()).filter_map(|i| i.rss_mib).collect();
    let base = after.first().copied();
    let max = after.iter().copied().reduce(f64::max);
    Ok(Summary {
        requests: all.len(),
        errors,
        rows_per_s: (all.len() * o.rows) as f64 / started.elapsed().as_secs_f64(),
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        rss_after_warmup_mib: base,
        rss_end_mib: intervals.last().and_then(|i| i.rss_mib),
        rss_max_after_warmup_mib: max,
        rss_growth_after_warmup: base.zip(max).map(|(b, m)| (m - b) / b),
        intervals,
    })
}
