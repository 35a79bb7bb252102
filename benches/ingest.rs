//! JSON ingest latency and window state memory (not a criterion bench: p99 needs the full
//! latency distribution, and memory is a one-off measurement).
//!
//!     cargo bench --bench ingest
//!
//! Latency: 2,000 POST /ingest requests of 1,000 rows × 50 numeric features (JSON columnar, ~344 KB
//! each) driven through `app(state)` without a socket. Reference 20,000 rows, window 50,000: one
//! request in 50 fills a window and scores it (PSI + KS, 50 features) before it returns, so
//! percentiles are reported for all requests and for the ingest-only and window-filling ones apart. Memory: the heap held by a full 100-feature × 10k window,
//! and the process RSS growth while filling it.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use driftwatch::config::Sources;
use driftwatch::server::{AppState, app};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tower::ServiceExt;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0) * 4096
}

fn state(features: usize, reference_rows: usize, window: usize) -> (tempfile::TempDir, Arc<AppState>) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut csv = (0..features).map(|j| format!("f{j}")).collect::<Vec<_>>().join(",") + "\n";
    for _ in 0..reference_rows {
        let row: Vec<String> = (0..features).map(|_| format!("{:.4}", rng.random::<f64>() * 10.0)).collect();
        csv += &(row.join(",") + "\n");
    }
    std::fs::write(dir.path().join("ref.csv"), csv).unwrap();
    let toml = format!(
        "[server]\nmax_body_bytes = 67108864\n[[model]]\nname = \"m\"\nreference = \"ref.csv\"\nwindow = {window}\n"
    );
    let config = Sources::from_str(&toml, dir.path()).unwrap().validate().unwrap();
    (dir, Arc::new(AppState::build(&config).unwrap()))
}

fn body(rng: &mut StdRng, features: usize, rows: usize) -> Vec<u8> {
    let mut s = String::from("{\"model\":\"m\",\"features\":{");
    for j in 0..features {
        if j > 0 {
            s.push(',');
        }
        write!(s, "\"f{j}\":[").unwrap();
        for i in 0..rows {
            if i > 0 {
                s.push(',');
            }
            write!(s, "{:.4}", rng.random::<f64>() * 10.0 + 0.5).unwrap();
        }
        s.push(']');
    }
    s.push_str("}}");
    s.into_bytes()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (_dir, st) = state(50, 20_000, 50_000);
    let mut rng = StdRng::seed_from_u64(2);
    let bodies: Vec<Vec<u8>> = (0..10).map(|_| body(&mut rng, 50, 1000)).collect();
    let mut latencies = Vec::new();
    let mut filling = Vec::new();
    rt.block_on(async {
        for i in 0..2200 {
            let req = Request::post("/ingest")
                .header("content-type", "application/json")
                .body(Body::from(bodies[i % 10].clone()))
                .unwrap();
            let t = Instant::now();
            let resp = app(st.clone()).oneshot(req).await.unwrap();
            assert!(resp.status().is_success());
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if i >= 200 {
                if v["windows_scored"].as_u64() > Some(0) { filling.push(ms) } else { latencies.push(ms) }
            }
        }
    });
    let mut all: Vec<f64> = latencies.iter().chain(&filling).copied().collect();
    for (what, v) in [("all", &mut all), ("ingest only", &mut latencies), ("filling a window", &mut filling)] {
        v.sort_by(f64::total_cmp);
        println!(
            "ingest JSON 1000 rows x 50 features ({} KB), {what}: {} requests, p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            bodies[0].len() / 1024,
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            v.last().unwrap()
        );
    }

    let (_dir2, st2) = state(100, 2_000, 10_000);
    let before = rss_bytes();
    let mut rng = StdRng::seed_from_u64(3);
    rt.block_on(async {
        // 9,999 rows: one short of a full window, so the whole window is held.
        for rows in [5000, 4999] {
            let req = Request::post("/ingest")
                .header("content-type", "application/json")
                .body(Body::from(body(&mut rng, 100, rows)))
                .unwrap();
            assert!(app(st2.clone()).oneshot(req).await.unwrap().status().is_success());
        }
    });
    let described: serde_json::Value = rt.block_on(async {
        let req = Request::get("/v1/models/m").body(Body::empty()).unwrap();
        let response = app(st2.clone()).oneshot(req).await.unwrap();
        serde_json::from_slice(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap()
    });
    let (rows, bytes) = (described["window_samples"].as_u64().unwrap(), described["window_bytes"].as_u64().unwrap());
    println!(
        "window state, 100 features x 10k window holding {rows} rows: {:.2} MiB of column buffers; process RSS grew {:.2} MiB while filling it",
        bytes as f64 / (1 << 20) as f64,
        (rss_bytes().saturating_sub(before)) as f64 / (1 << 20) as f64
    );
}
