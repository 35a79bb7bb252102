//! The retraining webhook against a real HTTP receiver on loopback: the exact payload and a signature
//! that verifies, the policy's streak and cooldown, retries on 500, 429 (honouring Retry-After) and a
//! refused connection, none on 400 — with time injected through a recording sleeper, not waited out.
//! Also the Alertmanager receiver: actions per alert, deduplication, auth, malformed payloads.

use crate::support::receiver;
use crate::support::server as support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use driftwatch::config::Sources;
use driftwatch::retrain::webhook::signature::verify;
use driftwatch::server::AppState;
use receiver::{Receiver, RecordingSleeper};
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "s3cret-for-tests";
const WAIT: Duration = Duration::from_secs(10);

fn config(url: &str, retrain_extra: &str, extra: &str) -> String {
    format!(
        r#"
[server]
data_dir = "data"
instance = "sidecar-under-test"

[[model]]
name = "churn"
version = "3"
reference = "reference.csv"
window = 50

[model.retrain]
url = "{url}"
secret_file = "secret"
bearer_token_file = "token"
headers = {{ "X-Team" = "ml-platform" }}
{retrain_extra}
{extra}
"#
    )
}

/// A temp dir with reference, secret and token files, and the app built on a recording sleeper.
fn build(config: &str) -> (tempfile::TempDir, Arc<AppState>, Arc<RecordingSleeper>) {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    std::fs::write(dir.path().join("secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.path().join("token"), "retrain-token\n").unwrap();
    let sleeper = Arc::new(RecordingSleeper::default());
    let state = rebuild(config, dir.path(), sleeper.clone());
    (dir, state, sleeper)
}

fn rebuild(config: &str, dir: &Path, sleeper: Arc<RecordingSleeper>) -> Arc<AppState> {
    let config = Sources::from_str(config, dir).unwrap().validate().unwrap();
    let state = Arc::new(AppState::build_with(&config, sleeper).unwrap());
    state.start_background();
    state
}

/// One full window (50 rows) of x: far outside the reference when `drifted`, evenly over it otherwise.
fn window(drifted: bool) -> Value {
    let x: Vec<f64> = (0..50).map(|i| if drifted { 100.0 + i as f64 } else { (4 * i) as f64 / 20.0 }).collect();
    json!({"model": "churn", "features": {"x": x}})
}

fn outbox_files(dir: &Path, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("data/outbox").join(sub))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    v.sort();
    v
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "condition not met in {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_drift_sends_one_signed_request_with_the_exact_payload_then_cools_down() {
    let rx = Receiver::start("127.0.0.1:0", &[]).await;
    let (dir, state, _) = build(&config(&rx.url(), "for_windows = 2\ncooldown_seconds = 3600", ""));

    // A drifted window, a clean one, then two drifted: only the last completes a streak of 2.
    for drifted in [true, false, true] {
        let (s, r) = post_json(&state, &window(drifted)).await;
        assert_eq!((s, r["windows_scored"].as_u64()), (StatusCode::OK, Some(1)), "{r}");
    }
    assert!(outbox_files(dir.path(), "").is_empty());
    let (_, last) = post_json(&state, &window(true)).await;
    let got = rx.wait_for(1, WAIT).await;
    wait_until(|| outbox_files(dir.path(), "").is_empty()).await;

    let req = &got[0];
    let body = req.json();
    let key = body["idempotency_key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(req.header("idempotency-key"), key);
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("authorization"), "Bearer retrain-token");
    assert_eq!(req.header("x-team"), "ml-platform");
    let ts = req.header("x-driftwatch-timestamp");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    verify(SECRET.as_bytes(), ts, &req.body, req.header("x-driftwatch-signature"), now, 60).unwrap();

    // The payload, field by field, against the window report the ingest response returned.
    let latest = &last["latest"];
    assert_eq!(body["model"], json!({"name": "churn", "version": "3"}));
    assert_eq!(body["trigger"], "drift");
    assert_eq!(body["instance"], "sidecar-under-test");
    assert_eq!(body["reason"], "model_drift_detected held for 2 consecutive windows");
    assert_eq!(body["window"]["seq"], 4);
    assert_eq!(body["window"]["samples"], 50);
    assert_eq!(body["window"]["consecutive_drifted_windows"], 2);
    assert_eq!(body["window"]["drift_share"], 1.0);
    assert_eq!(body["window"]["end"], latest["completed_at"]);
    let start = body["window"]["start"].as_f64().unwrap();
    assert!(start > 0.0 && start <= latest["completed_at"].as_f64().unwrap());
    assert!(body["timestamp"].as_f64().unwrap() >= latest["completed_at"].as_f64().unwrap());
    let x = latest["features"].as_array().unwrap().iter().find(|f| f["name"] == "x").unwrap();
    assert_eq!(body["features"], json!([{"name": "x", "samples": 50, "scores": x["scores"]}]));
    assert_eq!(x["scores"][1]["method"], "ks");
    assert_eq!(x["scores"][1]["score"], 1.0);
    assert!(body.get("alert").is_none());

    // Still drifting: the cooldown holds the next request back.
    post_json(&state, &window(true)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests().len(), 1);
    let m = metrics(&state).await;
    let d = |decision: &str| {
        sample(&m, "driftwatch_retrain_decisions_total", &[("trigger", "drift"), ("decision", decision)])
    };
    assert_eq!((d("requested"), d("cooldown")), (Some(1.0), Some(1.0)), "{m}");
    assert_eq!(sample(&m, "driftwatch_webhook_requests_total", &[("outcome", "delivered")]), Some(1.0));
    assert_eq!(sample(&m, "driftwatch_webhook_outbox_pending", &[]), Some(0.0));
    let last_ts = sample(&m, "driftwatch_last_retrain_request_timestamp_seconds", &[("model_name", "churn")]).unwrap();
    assert_eq!(last_ts, body["timestamp"].as_f64().unwrap());

    // The cooldown survives a restart: a new process on the same data dir still holds back.
    drop(state);
    let state =
        rebuild(&config(&rx.url(), "for_windows = 1\ncooldown_seconds = 3600", ""), dir.path(), Default::default());
    post_json(&state, &window(true)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_500_with_growing_backoff_and_the_same_key_and_body() {
    let rx = Receiver::start("127.0.0.1:0", &[(500, None), (503, None), (502, None)]).await;
    let extra = "initial_backoff_seconds = 2\nmax_backoff_seconds = 60";
    let (dir, state, sleeper) = build(&config(&rx.url(), extra, ""));
    post_json(&state, &window(true)).await;
    let got = rx.wait_for(4, WAIT).await;
    wait_until(|| outbox_files(dir.path(), "").is_empty()).await;
    assert_eq!(got.len(), 4);
    for r in &got[1..] {
        assert_eq!(r.body, got[0].body);
        assert_eq!(r.header("idempotency-key"), got[0].header("idempotency-key"));
    }
    // Full jitter: the n-th delay is at most 2·2^n seconds, and never below a tenth of the first.
    let delays = sleeper.delays();
    assert_eq!(delays.len(), 3, "{delays:?}");
    for (n, d) in delays.iter().enumerate() {
        assert!(*d >= Duration::from_millis(200) && *d <= Duration::from_secs(2 << n), "{n}: {d:?}");
    }
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_webhook_requests_total", &[("outcome", "server_error")]), Some(3.0));
    assert_eq!(sample(&m, "driftwatch_webhook_requests_total", &[("outcome", "delivered")]), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honours_retry_after_on_429() {
    let rx = Receiver::start("127.0.0.1:0", &[(429, Some("7"))]).await;
    let (_dir, state, sleeper) = build(&config(&rx.url(), "", ""));
    post_json(&state, &window(true)).await;
    rx.wait_for(2, WAIT).await;
    assert_eq!(sleeper.delays(), [Duration::from_secs(7)]);
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_webhook_requests_total", &[("outcome", "rate_limited")]), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn does_not_retry_a_400_and_keeps_the_request_in_failed() {
    let rx = Receiver::start("127.0.0.1:0", &[(400, None)]).await;
    let (dir, state, sleeper) = build(&config(&rx.url(), "", ""));
    post_json(&state, &window(true)).await;
    rx.wait_for(1, WAIT).await;
    wait_until(|| outbox_files(dir.path(), "failed").len() == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.requests().len(), 1);
    assert!(sleeper.delays().is_empty());
    assert!(outbox_files(dir.path(), "").is_empty());
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_webhook_requests_total", &[("outcome", "rejected")]), Some(1.0));
    assert_eq!(sample(&m, "driftwatch_webhook_outbox_pending", &[]), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_a_refused_connection_until_the_receiver_comes_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/retrain");
    let (dir, state, sleeper) = build(&config(&url, "", ""));
    post_json(&state, &window(true)).await;
    // Nothing listens: attempts fail and back off while the request stays on disk.
    wait_until(|| sleeper.delays().len() >= 3).await;
    assert_eq!(outbox_files(dir.path(), "").len(), 1);
    let m = metrics(&state).await;
    assert!(sample(&m, "driftwatch_webhook_requests_total", &[("outcome", "connection_error")]).unwrap() >= 3.0);
    assert_eq!(sample(&m, "driftwatch_webhook_outbox_pending", &[]), Some(1.0));

    let rx = Receiver::start(&format!("127.0.0.1:{port}"), &[]).await;
    let got = rx.wait_for(1, WAIT).await;
    wait_until(|| outbox_files(dir.path(), "").is_empty()).await;
    assert_eq!(got[0].json()["model"]["name"], "churn");
}

const ALERTS: &str = r#"
[alertmanager]
alerts = ["DataDriftDetected", "ModelAccuracyDrop"]
bearer_token_file = "token"
"#;

fn alert_payload(alerts: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4", "groupKey": "{}:{alertname=\"DataDriftDetected\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "driftwatch", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "alerts": alerts
    }))
    .unwrap()
}

fn alert(name: &str, status: &str, model: Option<&str>, fingerprint: &str, starts: &str) -> Value {
    let mut labels = json!({"alertname": name, "severity": "warning"});
    if let Some(m) = model {
        labels["model_name"] = json!(m);
    }
    json!({"status": status, "labels": labels, "annotations": {"summary": "accuracy dropped"},
           "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fingerprint})
}

async fn post_alerts(state: &Arc<AppState>, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = Request::post("/alertmanager").header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = driftwatch::server::app(state.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_alerts_become_one_retrain_request_each_through_the_policy() {
    let rx = Receiver::start("127.0.0.1:0", &[]).await;
    let (dir, state, _) = build(&config(&rx.url(), "cooldown_seconds = 0\nmax_per_hour = 2", ALERTS));
    let t0 = "2026-12-01T10:00:00Z";
    let body = alert_payload(json!([
        alert("ModelAccuracyDrop", "firing", Some("churn"), "f1", t0),
        alert("ModelAccuracyDrop", "firing", Some("churn"), "f1", t0),
        alert("HighCPUUsage", "firing", Some("churn"), "f2", t0),
        alert("DataDriftDetected", "firing", None, "f3", t0),
        alert("DataDriftDetected", "firing", Some("fraud"), "f4", t0),
        alert("DataDriftDetected", "resolved", Some("churn"), "f5", t0),
    ]));
    let (s, r) = post_alerts(&state, Some("retrain-token"), body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let actions: Vec<&str> = r["alerts"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["retrain_requested", "duplicate", "not_configured", "no_model_name", "unknown_model", "resolved"]
    );

    let got = rx.wait_for(1, WAIT).await;
    let b = got[0].json();
    assert_eq!(b["trigger"], "alert");
    assert_eq!(b["reason"], "alert ModelAccuracyDrop is firing");
    assert_eq!(b["alert"]["fingerprint"], "f1");
    assert_eq!(b["alert"]["starts_at"], t0);
    assert_eq!(b["alert"]["labels"]["model_name"], "churn");
    assert_eq!(b["alert"]["annotations"]["summary"], "accuracy dropped");
    assert!(b.get("window").is_none());

    // Alertmanager re-sends the same firing alert on every group_interval: still one request, also
    // after a restart (the key is derived from fingerprint and startsAt, and remembered on disk).
    let (_, r) = post_alerts(&state, Some("retrain-token"), body.clone()).await;
    assert_eq!(r["alerts"][0]["action"], "duplicate");
    drop(state);
    let state =
        rebuild(&config(&rx.url(), "cooldown_seconds = 0\nmax_per_hour = 2", ALERTS), dir.path(), Default::default());
    let (_, r) = post_alerts(&state, Some("retrain-token"), body).await;
    assert_eq!(r["alerts"][0]["action"], "duplicate");

    // A new firing (new startsAt) is a new request, until the hourly cap of 2.
    let again =
        |starts: &str| alert_payload(json!([alert("ModelAccuracyDrop", "firing", Some("churn"), "f1", starts)]));
    let (_, r) = post_alerts(&state, Some("retrain-token"), again("2026-12-01T11:00:00Z")).await;
    assert_eq!(r["alerts"][0]["action"], "retrain_requested");
    let (_, r) = post_alerts(&state, Some("retrain-token"), again("2026-12-01T12:00:00Z")).await;
    assert_eq!(r["alerts"][0]["action"], "rate_limited");
    rx.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.requests().len(), 2);
    let m = metrics(&state).await;
    assert_eq!(
        sample(&m, "driftwatch_alertmanager_alerts_total", &[("status", "firing"), ("action", "rate_limited")]),
        Some(1.0)
    );
}

#[tokio::test]
async fn alertmanager_endpoint_rejects_bad_tokens_and_malformed_payloads_with_json_errors() {
    let (_dir, state, _) = build(&config("http://127.0.0.1:9/retrain", "", ALERTS));
    let ok = alert_payload(json!([alert("DataDriftDetected", "resolved", Some("churn"), "f", "2026-12-01T10:00:00Z")]));
    for token in [None, Some("wrong"), Some("retrain-token-but-longer")] {
        let (s, r) = post_alerts(&state, token, ok.clone()).await;
        assert_eq!(
            (s, r["reason"].as_str(), r["field"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"), Some("Authorization"))
        );
    }
    let cases: [(&[u8], &str); 4] = [
        (b"{\"version\":", "invalid_json"),
        (b"[]", "invalid_type"),
        (br#"{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing"}]}"#, "invalid_type"),
        (br#"{"version":"5","groupKey":"g","status":"firing","alerts":[]}"#, "invalid_payload"),
    ];
    for (body, reason) in cases {
        let (s, r) = post_alerts(&state, Some("retrain-token"), body.to_vec()).await;
        assert_eq!((s, r["reason"].as_str()), (StatusCode::BAD_REQUEST, Some(reason)), "{r}");
        assert!(!r["error"].as_str().unwrap().is_empty());
    }
    let (s, r) = post_alerts(&state, Some("retrain-token"), ok).await;
    assert_eq!((s, r["alerts"][0]["action"].as_str()), (StatusCode::OK, Some("resolved")));
}

#[tokio::test]
async fn alertmanager_endpoint_is_404_without_an_alertmanager_section() {
    let (_dir, state, _) = build(&config("http://127.0.0.1:9/retrain", "", ""));
    let (s, r) = post_alerts(&state, None, b"{}".to_vec()).await;
    assert_eq!((s, r["reason"].as_str()), (StatusCode::NOT_FOUND, Some("alertmanager_not_configured")));
}

#[test]
fn retrain_without_a_data_dir_and_bad_retrain_settings_fail_at_start_naming_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    let no_dir = "[[model]]\nname = \"m\"\nreference = \"reference.csv\"\nwindow = 10\n[model.retrain]\nurl = \"http://127.0.0.1:1/\"\n";
    let config = Sources::from_str(no_dir, dir.path()).unwrap().validate().unwrap();
    let err = AppState::build(&config).err().unwrap().to_string();
    assert!(err.contains("--data-dir"), "{err}");

    let bad = r#"
[[model]]
name = "m"
reference = "reference.csv"
window = 10
[model.retrain]
url = "ftp://x"
for_windows = 0
cooldown_seconds = nan
max_per_hour = 0
secret_env = "DRIFTWATCH_TEST_UNSET_VARIABLE"
timeout_seconds = -1
[alertmanager]
alerts = []
"#;
    let err = Sources::from_str(bad, dir.path()).unwrap().validate().unwrap_err().to_string();
    for needle in [
        "retrain.urls[0]",
        "retrain.for_windows",
        "retrain.cooldown_seconds",
        "retrain.max_per_hour",
        "retrain.secret_env",
        "DRIFTWATCH_TEST_UNSET_VARIABLE",
        "retrain.timeout_seconds",
        "alertmanager.alerts",
    ] {
        assert!(err.contains(needle), "missing {needle} in:\n{err}");
    }
}
