//! Ingest cost on the server side (not a criterion bench: percentiles need the whole latency
//! distribution, and memory is a one-off measurement). Every request goes through `app(state)`
//! without a socket, so the times are the server's own: routing, body read, decode, append, metrics
//! and the JSON response.
//!
//!     cargo bench --bench ingest
//!
//! 1. Throughput per format: POST /ingest of 500 rows × 100 numeric features as Arrow IPC and as
//!    columnar JSON (window 10k, reference 10k; the one request in 20 that fills a window and scores
//!    it is reported apart), in MB of body per second of one request at a time.
//! 2. The fixed cost: a request of 1 row × 100 features, both formats.
//! 3. The older latency table: 1,000 rows × 50 features of JSON, window 50k.
//! 4. /metrics of 16 models × 100 features (about 10k series), and ingest latency while a second
//!    task scrapes it in a loop.
//! 5. Window memory: a 100-feature × 10k window filled to 9,999 rows.
//!
//! `SECTIONS=2 cargo bench --bench ingest` runs only the sections listed (for a profiler).

use std::fmt::Write as _;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use driftwatch::config::Sources;
use driftwatch::server::{AppState, app};
use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tower::ServiceExt;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0) * 4096
}

/// A sidecar of `models` models (m0, m1, ...) of `features` numeric features each, with a CSV
/// reference of `reference_rows` rows and a tumbling window of `window`: its router, built once as a
/// server builds it (building it per request would time axum's route table, not ingest).
fn state(models: usize, features: usize, reference_rows: usize, window: usize) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut csv = (0..features).map(|j| format!("f{j}")).collect::<Vec<_>>().join(",") + "\n";
    for _ in 0..reference_rows {
        let row: Vec<String> = (0..features).map(|_| format!("{:.4}", rng.random::<f64>() * 10.0)).collect();
        csv += &(row.join(",") + "\n");
    }
    std::fs::write(dir.path().join("ref.csv"), csv).unwrap();
    let mut toml = String::from("[server]\nmax_body_bytes = 16777216\nmax_label_sets = 100000\n");
    for m in 0..models {
        writeln!(toml, "[[model]]\nname = \"m{m}\"\nreference = \"ref.csv\"\nwindow = {window}").unwrap();
    }
    let config = Sources::from_str(&toml, dir.path()).unwrap().validate().unwrap();
    (dir, app(Arc::new(AppState::build(&config).unwrap())))
}

fn columns(rng: &mut StdRng, features: usize, rows: usize) -> Vec<Vec<f64>> {
    (0..features).map(|_| (0..rows).map(|_| rng.random::<f64>() * 10.0 + 0.5).collect()).collect()
}

/// Columnar JSON with every double printed exactly (shortest round-trip form).
fn json_body(model: &str, columns: &[Vec<f64>]) -> Vec<u8> {
    let mut s = format!("{{\"model\":\"{model}\",\"features\":{{");
    for (j, c) in columns.iter().enumerate() {
        if j > 0 {
            s.push(',');
        }
        write!(s, "\"f{j}\":[").unwrap();
        for (i, v) in c.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            write!(s, "{v}").unwrap();
        }
        s.push(']');
    }
    s.push_str("}}");
    s.into_bytes()
}

/// One record batch of float64 columns, as pyarrow or polars write it.
fn arrow_body(columns: &[Vec<f64>]) -> Vec<u8> {
    let rows = columns[0].len();
    let cols: Vec<Column> = columns.iter().enumerate().map(|(j, c)| Column::new(format!("f{j}").into(), c)).collect();
    let mut frame = DataFrame::new(rows, cols).unwrap();
    let mut out = Vec::new();
    IpcStreamWriter::new(Cursor::new(&mut out)).finish(&mut frame).unwrap();
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Timed {
    ms: f64,
    filled: bool,
}

async fn post(router: &Router, uri: &str, content_type: &str, body: &[u8]) -> Timed {
    let req = Request::post(uri).header("content-type", content_type).body(Body::from(body.to_vec())).unwrap();
    let t = Instant::now();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(status.is_success(), "{status} {}", String::from_utf8_lossy(&bytes));
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    Timed { ms, filled: v["windows_scored"].as_u64() > Some(0) }
}

fn summary(what: &str, v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let p50 = percentile(v, 0.5);
    println!(
        "{what}: {} requests, p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        v.len(),
        p50,
        percentile(v, 0.9),
        percentile(v, 0.99),
        v.last().unwrap()
    );
    p50
}

/// `rounds` requests cycling over `bodies`; latencies of the ones that did not fill a window (and of
/// those that did), after `warmup` requests.
async fn drive(
    router: &Router,
    uri: &str,
    content_type: &str,
    bodies: &[Vec<u8>],
    warmup: usize,
    rounds: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut ingest, mut filling) = (Vec::new(), Vec::new());
    for i in 0..warmup + rounds {
        let t = post(router, uri, content_type, &bodies[i % bodies.len()]).await;
        if i >= warmup {
            if t.filled { filling.push(t.ms) } else { ingest.push(t.ms) }
        }
    }
    (ingest, filling)
}

fn main() {
    let sections = std::env::var("SECTIONS").unwrap_or_else(|_| "12345".into());
    let on = |n: char| sections.contains(n);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    const ARROW: &str = "application/vnd.apache.arrow.stream";
    const JSON: &str = "application/json";

    // 1. Throughput per format, 500 rows × 100 features.
    let (_dir, st) = state(1, 100, 10_000, 10_000);
    let mut rng = StdRng::seed_from_u64(2);
    let batches: Vec<Vec<Vec<f64>>> = (0..20).map(|_| columns(&mut rng, 100, 500)).collect();
    let arrow: Vec<Vec<u8>> = batches.iter().map(|c| arrow_body(c)).collect();
    let json: Vec<Vec<u8>> = batches.iter().map(|c| json_body("m0", c)).collect();
    rt.block_on(async {
        for (name, uri, ct, bodies) in [("Arrow", "/ingest?model=m0", ARROW, &arrow), ("JSON", "/ingest", JSON, &json)]
        {
            if !on('1') {
                break;
            }
            let (mut ingest, mut filling) = drive(&st, uri, ct, bodies, 100, 1000).await;
            let kb = bodies[0].len() as f64 / 1024.0;
            let p50 = summary(&format!("{name} 500 rows x 100 features ({kb:.0} KiB), ingest only"), &mut ingest);
            summary(
                &format!("{name} 500 rows x 100 features, filling a window (+ PSI and KS of 100 x 10k)"),
                &mut filling,
            );
            println!(
                "{name} throughput at the p50: {:.0} MB/s of body, {:.1} M values/s",
                bodies[0].len() as f64 / (p50 / 1e3) / 1e6,
                50_000.0 / (p50 / 1e3) / 1e6
            );
        }

        // 2. The fixed cost: one row of 100 features.
        let one: Vec<Vec<Vec<f64>>> = (0..20).map(|_| columns(&mut rng, 100, 1)).collect();
        let arrow1: Vec<Vec<u8>> = one.iter().map(|c| arrow_body(c)).collect();
        let json1: Vec<Vec<u8>> = one.iter().map(|c| json_body("m0", c)).collect();
        for (name, uri, ct, bodies) in
            [("Arrow", "/ingest?model=m0", ARROW, &arrow1), ("JSON", "/ingest", JSON, &json1)]
        {
            if !on('2') {
                break;
            }
            let (mut ingest, _) = drive(&st, uri, ct, bodies, 500, 5000).await;
            summary(&format!("{name} 1 row x 100 features ({} B)", bodies[0].len()), &mut ingest);
        }
    });

    if !on('3') && !on('4') && !on('5') {
        return;
    }
    // 3. The table BENCHMARKS.md has kept since 2026-11-25: 1,000 rows × 50 features of JSON.
    let (_dir, st) = state(1, 50, 20_000, 50_000);
    let bodies: Vec<Vec<u8>> = (0..10).map(|_| json_body("m0", &columns(&mut rng, 50, 1000))).collect();
    rt.block_on(async {
        let (mut ingest, mut filling) = drive(&st, "/ingest", JSON, &bodies, 200, 2000).await;
        summary(&format!("JSON 1000 rows x 50 features ({} KB), ingest only", bodies[0].len() / 1024), &mut ingest);
        summary("JSON 1000 rows x 50 features, filling a window (+ PSI and KS of 50 x 50k)", &mut filling);
    });

    // 4. /metrics of 16 models × 100 features (about 10k series), every model scored once.
    let (_dir, st) = state(16, 100, 2_000, 1_000);
    rt.block_on(async {
        for m in 0..16 {
            let body = json_body(&format!("m{m}"), &columns(&mut rng, 100, 1000));
            assert!(post(&st, "/ingest", JSON, &body).await.filled);
        }
        let scrape = |router: Router| async move {
            let req = Request::get("/metrics").body(Body::empty()).unwrap();
            let t = Instant::now();
            let resp = router.oneshot(req).await.unwrap();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            (t.elapsed().as_secs_f64() * 1e3, bytes)
        };
        let (_, text) = scrape(st.clone()).await;
        let text = String::from_utf8_lossy(&text);
        let series = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
        let mut times = Vec::new();
        for _ in 0..200 {
            times.push(scrape(st.clone()).await.0);
        }
        summary(&format!("GET /metrics, {series} series ({} KiB)", text.len() / 1024), &mut times);

        // Ingest p99 alone, then with a task scraping /metrics back to back.
        let bodies: Vec<Vec<u8>> = (0..10).map(|_| json_body("m0", &columns(&mut rng, 100, 100))).collect();
        let (mut alone, _) = drive(&st, "/ingest", JSON, &bodies, 100, 2000).await;
        let stop = Arc::new(AtomicBool::new(false));
        let scraper = tokio::spawn({
            let (st, stop) = (st.clone(), stop.clone());
            async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    scrape(st.clone()).await;
                    n += 1;
                }
                n
            }
        });
        let t = Instant::now();
        let (mut scraped, _) = drive(&st, "/ingest", JSON, &bodies, 100, 2000).await;
        stop.store(true, Ordering::Relaxed);
        let scrapes = scraper.await.unwrap();
        summary("JSON 100 rows x 100 features to a model of a 10k-series sidecar, alone", &mut alone);
        summary(
            &format!(
                "same, while /metrics is scraped back to back ({:.0} scrapes/s)",
                scrapes as f64 / t.elapsed().as_secs_f64()
            ),
            &mut scraped,
        );
    });

    // 5. Window memory.
    let (_dir2, st2) = state(1, 100, 2_000, 10_000);
    let before = rss_bytes();
    rt.block_on(async {
        // 9,999 rows: one short of a full window, so the whole window is held.
        for rows in [5000, 4999] {
            post(&st2, "/ingest", JSON, &json_body("m0", &columns(&mut rng, 100, rows))).await;
        }
    });
    let described: serde_json::Value = rt.block_on(async {
        let req = Request::get("/v1/models/m0").body(Body::empty()).unwrap();
        let response = st2.clone().oneshot(req).await.unwrap();
        serde_json::from_slice(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap()
    });
    let (rows, bytes) = (described["window_samples"].as_u64().unwrap(), described["window_bytes"].as_u64().unwrap());
    println!(
        "window state, 100 features x 10k window holding {rows} rows: {:.2} MiB of column buffers; process RSS grew {:.2} MiB while filling it",
        bytes as f64 / (1 << 20) as f64,
        (rss_bytes().saturating_sub(before)) as f64 / (1 << 20) as f64
    );
}
