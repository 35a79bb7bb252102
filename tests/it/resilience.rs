//! Restarts, overload and access control, in process through `app(state)`: a snapshot restores the
//! partial window, warmup and last scores so that scoring continues exactly as without the restart;
//! a snapshot of another config or a corrupt one is never applied; a full set of request slots answers
//! 429 with Retry-After; the bearer token guards /ingest, /v1 and /alertmanager but not /metrics.

use crate::support::server as support;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use driftwatch::config::Sources;
use driftwatch::server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::*;
use tower::ServiceExt;

const CONFIG: &str = r#"
[server]
data_dir = "data"

[[model]]
name = "churn"
reference = "reference.csv"
window = 50

[[model]]
name = "warm"
warmup = 80
window = 40
step = 20
features = [{ name = "v", kind = "numeric" }, { name = "c", kind = "categorical" }]
"#;

fn build(config: &str, dir: &Path) -> Arc<AppState> {
    let config = Sources::from_str(config, dir).unwrap().validate().unwrap();
    Arc::new(AppState::build(&config).unwrap())
}

/// Deterministic batches: `n` rows starting at `from` for both models.
fn churn(from: usize, n: usize) -> Value {
    let x: Vec<f64> = (from..from + n).map(|i| ((i * 7919) % 97) as f64 / 9.0).collect();
    let y: Vec<Option<f64>> =
        (from..from + n).map(|i| if i % 11 == 0 { None } else { Some(i as f64 % 13.0) }).collect();
    let c: Vec<&str> = (from..from + n).map(|i| ["red", "green", "blue", "teal"][i % 4]).collect();
    json!({"model": "churn", "features": {"x": x, "y": y, "color": c}})
}

fn warm(from: usize, n: usize) -> Value {
    let v: Vec<f64> = (from..from + n).map(|i| ((i * 31) % 50) as f64 + if i > 150 { 20.0 } else { 0.0 }).collect();
    let c: Vec<&str> = (from..from + n).map(|i| ["a", "b", "c"][(i * 7) % 3]).collect();
    json!({"model": "warm", "features": {"v": v, "c": c}})
}

/// Sends the batches, returning the `latest` report of every response that scored a window.
async fn send(state: &Arc<AppState>, batches: &[Value]) -> Vec<Value> {
    let mut reports = Vec::new();
    for b in batches {
        let (s, r) = post_json(state, b).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        if r["windows_scored"].as_u64().unwrap() > 0 {
            let mut latest = r["latest"].clone();
            // Timings differ between runs; everything else must not.
            for k in ["completed_at", "scoring_seconds", "started_at"] {
                latest.as_object_mut().unwrap().remove(k);
            }
            reports.push(latest);
        }
    }
    reports
}

#[tokio::test]
async fn a_restart_from_the_snapshot_scores_exactly_as_an_uninterrupted_run() {
    let before: Vec<Value> = vec![churn(0, 70), churn(70, 5), warm(0, 60), warm(60, 65)];
    let after: Vec<Value> = vec![churn(75, 40), warm(125, 30), warm(155, 50)];

    // The reference run, never interrupted.
    let ref_dir = tempfile::tempdir().unwrap();
    write_reference(ref_dir.path());
    let uninterrupted = build(CONFIG, ref_dir.path());
    send(&uninterrupted, &before).await;
    let want = send(&uninterrupted, &after).await;
    assert!(want.len() >= 3, "the scenario scores windows after the restart: {want:?}");

    // The same batches with a snapshot and a new process in between.
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    let first = build(CONFIG, dir.path());
    send(&first, &before).await;
    first.write_snapshot(&dir.path().join("data")).unwrap();
    let m1 = metrics(&first).await;
    drop(first);

    let second = build(CONFIG, dir.path());
    // The last scores are back on /metrics before any new data.
    let m2 = metrics(&second).await;
    for (name, labels) in [
        ("data_drift_score", vec![("model_name", "churn"), ("feature", "x"), ("method", "psi")]),
        ("data_drift_pvalue", vec![("model_name", "warm"), ("feature", "v"), ("method", "ks")]),
        ("data_drift_share", vec![("model_name", "warm")]),
    ] {
        let v = sample(&m1, name, &labels);
        assert!(v.is_some(), "{name} {labels:?} missing before the restart");
        assert_eq!(sample(&m2, name, &labels), v, "{name} {labels:?}");
    }
    let (_, models) = call(&second, "GET", "/v1/models/churn", None, vec![]).await;
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["window_samples"], 25);
    let (_, warm_model) = call(&second, "GET", "/v1/models/warm", None, vec![]).await;
    let warm_model: Value = serde_json::from_str(&warm_model).unwrap();
    assert_eq!((warm_model["ready"].as_bool(), warm_model["reference_samples"].as_u64()), (Some(true), Some(80)));

    let got = send(&second, &after).await;
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_snapshot_taken_during_warmup_continues_the_warmup() {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    let first = build(CONFIG, dir.path());
    send(&first, &[warm(0, 50)]).await;
    first.write_snapshot(&dir.path().join("data")).unwrap();
    drop(first);
    let second = build(CONFIG, dir.path());
    let (s, _) = call(&second, "GET", "/readyz", None, vec![]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (_, r) = post_json(&second, &warm(50, 30)).await;
    assert_eq!((r["accepted"].as_u64(), r["window_samples"].as_u64()), (Some(30), Some(0)), "{r}");
    let (s, _) = call(&second, "GET", "/readyz", None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_snapshot_of_another_config_or_reference_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    let first = build(CONFIG, dir.path());
    send(&first, &[churn(0, 30), warm(0, 100)]).await;
    first.write_snapshot(&dir.path().join("data")).unwrap();
    drop(first);

    // Window 50 -> 60 for churn; warm unchanged: churn starts empty, warm is restored.
    let second = build(&CONFIG.replacen("window = 50", "window = 60", 1), dir.path());
    let (_, churn_model) = call(&second, "GET", "/v1/models/churn", None, vec![]).await;
    assert_eq!(serde_json::from_str::<Value>(&churn_model).unwrap()["window_samples"], 0);
    let (_, warm_model) = call(&second, "GET", "/v1/models/warm", None, vec![]).await;
    assert_eq!(serde_json::from_str::<Value>(&warm_model).unwrap()["window_samples"], 20);
    drop(second);

    // A different reference file: the churn window's category codes would mean other things.
    build(CONFIG, dir.path()).write_snapshot(&dir.path().join("data")).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("reference.csv")).unwrap();
    std::fs::write(dir.path().join("reference.csv"), csv.replace("blue", "purple")).unwrap();
    let third = build(CONFIG, dir.path());
    let (_, churn_model) = call(&third, "GET", "/v1/models/churn", None, vec![]).await;
    assert_eq!(serde_json::from_str::<Value>(&churn_model).unwrap()["window_samples"], 0);
}

#[tokio::test]
async fn a_corrupt_snapshot_is_kept_aside_and_the_sidecar_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/snapshot.bin"), b"DWSNAP01\xff\xff\xff garbage").unwrap();
    let state = build(CONFIG, dir.path());
    let (_, m) = call(&state, "GET", "/v1/models/churn", None, vec![]).await;
    assert_eq!(serde_json::from_str::<Value>(&m).unwrap()["window_samples"], 0);
    let aside: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("snapshot.bin.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(!dir.path().join("data/snapshot.bin").exists());
}

#[tokio::test]
async fn a_snapshot_with_one_flipped_byte_is_kept_aside_not_restored() {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    let first = build(CONFIG, dir.path());
    send(&first, &[warm(0, 50), churn(0, 30)]).await;
    let data = dir.path().join("data");
    first.write_snapshot(&data).unwrap();
    drop(first);
    // A bit flipped inside the last value of a window decodes as well as the true value did.
    let mut bytes = std::fs::read(data.join("snapshot.bin")).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x04;
    std::fs::write(data.join("snapshot.bin"), &bytes).unwrap();
    let second = build(CONFIG, dir.path());
    let (_, m) = call(&second, "GET", "/v1/models/churn", None, vec![]).await;
    assert_eq!(serde_json::from_str::<Value>(&m).unwrap()["window_samples"], 0);
    let aside = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("snapshot.bin.corrupt-"))
        .count();
    assert_eq!(aside, 1);
    let (s, _) = post_json(&second, &churn(0, 10)).await;
    assert_eq!(s, StatusCode::OK);
}

/// A request whose body arrives in pieces, fed from the returned sender.
fn streamed_request() -> (tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>, Request<Body>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (tx, Request::post("/ingest").header("content-type", "application/json").body(body).unwrap())
}

async fn wait_for(state: &Arc<AppState>, name: &str, labels: &[(&str, &str)], at_least: f64) {
    for _ in 0..400 {
        if sample(&metrics(state).await, name, labels).is_some_and(|v| v >= at_least) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("{name} never reached {at_least}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_in_flight_share_one_memory_budget_and_past_it_answer_429_with_retry_after() {
    let (_dir, state) =
        setup(&BASIC_CONFIG.replace("max_body_bytes = 65536", "max_body_bytes = 24576\nmax_decode_bytes = 1048576"));
    // 20 kB of a JSON body reserve 20 kB × 40 = 800 kB of the 1 MiB budget while it is read.
    let (tx, req) = streamed_request();
    let slow = tokio::spawn(app(state.clone()).oneshot(req));
    let head = br#"{"model": "churn", "features": {"x": ["#.to_vec();
    let filler = "1.0,".repeat(5000).into_bytes();
    tx.send(Ok([head, filler].concat())).await.unwrap();
    wait_for(&state, "driftwatch_decode_bytes_reserved", &[], 700_000.0).await;
    let next = json!({"model": "churn", "features": {"x": vec![1.0; 2000]}});
    let req = Request::post("/ingest")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&next).unwrap()))
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["reason"], "memory_budget");

    // The first body completes; its reservation is released with its work.
    tx.send(Ok(b"1.0]}}".to_vec())).await.unwrap();
    drop(tx);
    assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);
    let (s, r) = post_json(&state, &next).await;
    assert_eq!((s, r["window_samples"].as_u64()), (StatusCode::OK, Some((5001 + 2000) % 50)));
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_requests_rejected_total", &[("reason", "memory_budget")]), Some(1.0));
    assert_eq!(sample(&m, "driftwatch_decode_bytes_reserved", &[]), Some(0.0));
}

/// A boolean is a bit of an Arrow body and a `String` once decoded: a 12 kB stream of 100k of them
/// decoded to 5.6 MB while 8 × 12 kB was reserved (found by tests/it/decode_memory.rs). Its cells
/// are reserved too now, and more than the whole budget is a 413 to send fewer rows, not a 429 to
/// retry forever.
#[tokio::test]
async fn arrow_cells_are_reserved_so_a_stream_of_booleans_cannot_decode_past_the_budget() {
    let (_dir, state) =
        setup(&BASIC_CONFIG.replace("max_body_bytes = 65536", "max_body_bytes = 24576\nmax_decode_bytes = 1048576"));
    let stream = |n: usize| {
        let mut df = polars::df!("color" => (0..n).map(|i| i % 3 == 0).collect::<Vec<_>>()).unwrap();
        let mut buf = Vec::new();
        {
            use polars::prelude::SerWriter;
            polars::prelude::IpcStreamWriter::new(&mut buf).finish(&mut df).unwrap();
        }
        buf
    };
    let big = stream(100_000);
    assert!(big.len() * 8 < 1 << 20, "the bytes alone fit the budget");
    let arrow = Some("application/vnd.apache.arrow.stream");
    let (s, b) = call(&state, "POST", "/ingest?model=churn", arrow, big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    let b: Value = serde_json::from_str(&b).unwrap();
    assert_eq!((b["reason"].as_str(), b["field"].as_str()), (Some("payload_too_large"), Some("body")));
    assert!(b["error"].as_str().unwrap().contains("max_decode_bytes"), "{b}");
    let (s, b) = call(&state, "POST", "/ingest?model=churn", arrow, stream(5_000)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(sample(&metrics(&state).await, "driftwatch_decode_bytes_reserved", &[]), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_holds_no_request_slot_and_times_out_with_408() {
    let (_dir, state) = setup(&BASIC_CONFIG.replace(
        "max_body_bytes = 65536",
        "max_body_bytes = 65536\nmax_concurrent_requests = 1\nbody_read_timeout_seconds = 0.5",
    ));
    let (tx, req) = streamed_request();
    let started = std::time::Instant::now();
    let stalled = tokio::spawn(app(state.clone()).oneshot(req));
    tx.send(Ok(br#"{"model": "churn", "features": {"x": [1.0,"#.to_vec())).await.unwrap();
    wait_for(&state, "driftwatch_decode_bytes_reserved", &[], 1.0).await;
    // The only request slot is free while that body waits.
    let (s, _) = post_json(&state, &json!({"model": "churn", "features": {"x": [4.0]}})).await;
    assert_eq!(s, StatusCode::OK);
    let resp = stalled.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    let body: Value = serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!((body["reason"].as_str(), body["field"].as_str()), (Some("body_timeout"), Some("body")));
    drop(tx);
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_requests_rejected_total", &[("reason", "body_timeout")]), Some(1.0));
    assert_eq!(sample(&m, "driftwatch_requests_in_flight", &[]), Some(0.0));
}

/// The process' peak resident memory, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sliding_window_one_batch_fills_thousands_of_times_is_held_once_at_a_time() {
    // window 2000, step 1: a 40k-row batch fills 38,001 windows. Held all at once (as before)
    // they were 38,001 × 16 kB ≈ 600 MB; scored as they fill, one.
    let config = BASIC_CONFIG.replace("max_body_bytes = 65536", "max_body_bytes = 4194304").replace(
        "window = 50",
        "window = 2000\nstep = 1\n[[model.features]]\nname = \"x\"\nkind = \"numeric\"\nmethods = [\"psi\"]",
    );
    let (_dir, state) = setup(&config);
    let xs: Vec<f64> = (0..40_000).map(|i| ((i * 37) % 200) as f64 / 20.0).collect();
    let before = peak_rss();
    let (s, r) = post_json(&state, &json!({"model": "churn", "features": {"x": xs}})).await;
    assert_eq!((s, r["windows_scored"].as_u64()), (StatusCode::OK, Some(38_001)), "{r}");
    let grew = peak_rss().saturating_sub(before);
    assert!(grew < 150 << 20, "peak RSS grew by {} MB", grew >> 20);
}

#[tokio::test]
async fn the_bearer_token_guards_ingest_v1_and_alertmanager_but_not_metrics_or_probes() {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    let config = "[server]\nbearer_token_file = \"token\"\ndata_dir = \"data\"\n[alertmanager]\nalerts = [\"X\"]\n\
                  [[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 50\n";
    let state = build(config, dir.path());
    let batch = serde_json::to_vec(&json!({"model": "churn", "features": {"x": [1.0]}})).unwrap();
    let am = serde_json::to_vec(&json!({"version": "4", "groupKey": "g", "status": "firing", "alerts": []})).unwrap();
    let send = |method: &str, uri: &str, token: Option<&str>, body: Vec<u8>| {
        let mut req = Request::builder().method(method).uri(uri).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        let state = state.clone();
        let req = req.body(Body::from(body)).unwrap();
        async move {
            let resp = app(state).oneshot(req).await.unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null))
        }
    };
    for (method, uri, body) in
        [("POST", "/ingest", batch.clone()), ("GET", "/v1/models", vec![]), ("POST", "/alertmanager", am.clone())]
    {
        for bad in [None, Some("Bearer wrong"), Some("t0ken"), Some("Basic dDBrZW4=")] {
            let (s, r) = send(method, uri, bad, body.clone()).await;
            assert_eq!((s, r["reason"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{uri} {bad:?}");
        }
        let (s, r) = send(method, uri, Some("Bearer t0ken"), body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {r}");
    }
    for uri in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(call(&state, "GET", uri, None, vec![]).await.0, StatusCode::OK, "{uri}");
    }
    // Rejected requests changed nothing: one sample from the authorised request only.
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_samples_ingested_total", &[("model_name", "churn")]), Some(1.0));
    assert_eq!(sample(&m, "driftwatch_requests_rejected_total", &[("reason", "unauthorized")]), Some(12.0));
}

#[tokio::test]
async fn a_data_directory_that_stops_taking_snapshots_flips_readyz_and_fails_the_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    let config = "[server]\ndata_dir = \"data\"\nsnapshot_interval_seconds = 0.05\n\n[[model]]\nname = \"churn\"\n\
                  reference = \"reference.csv\"\nwindow = 50\n";
    let state = build(config, dir.path());
    // A directory where the temporary file must go: every write fails, as on a full disk.
    std::fs::create_dir_all(dir.path().join("data/snapshot.bin.tmp")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(driftwatch::server::run(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    send(&state, &[churn(0, 10)]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let (status, body) = call(&state, "GET", "/readyz", None, vec![]).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "readyz stayed {status}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "snapshot_failing", "{body}");
    let failures = sample(&metrics(&state).await, "driftwatch_snapshot_failures_total", &[]).unwrap();
    assert!(failures >= 1.0);

    // Once the directory takes writes again, the next periodic snapshot makes the sidecar ready.
    std::fs::remove_dir(dir.path().join("data/snapshot.bin.tmp")).unwrap();
    while call(&state, "GET", "/readyz", None, vec![]).await.0 != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "readyz never recovered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Accepted samples that cannot be made durable make the shutdown an error that says so.
    std::fs::create_dir_all(dir.path().join("data/snapshot.bin.tmp")).unwrap();
    send(&state, &[churn(10, 10)]).await;
    stop.send(()).unwrap();
    let err = served.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("final snapshot failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_past_the_cap_never_keep_a_probe_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, state) = setup(&BASIC_CONFIG.replace(
        "max_body_bytes = 65536",
        "max_body_bytes = 65536\nmax_connections = 8\nheader_read_timeout_seconds = 1",
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(driftwatch::server::run(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    // Half-sent heads, far more than the cap: before, each held a socket until files ran out.
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /ingest HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        stalled.push(s);
    }
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(std::time::Duration::from_millis(500), probe).await.expect("the probe waited");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let m = metrics(&state).await;
    assert!(sample(&m, "driftwatch_connections_closed_total", &[("outcome", "evicted")]).unwrap() >= 32.0, "{m}");
    assert!(sample(&m, "driftwatch_connections_open", &[]).unwrap() <= 8.0, "{m}");
    // What stays past the head timeout is closed by it.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let m = metrics(&state).await;
    assert!(sample(&m, "driftwatch_connections_closed_total", &[("outcome", "header_timeout")]).unwrap() >= 1.0, "{m}");
    assert_eq!(sample(&m, "driftwatch_connections_open", &[]), Some(0.0), "{m}");
    drop(stalled);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
