//! Helpers for tests that drive the sidecar: a small deterministic reference on disk, an app built
//! from a config string, one-request calls through `oneshot`, and exposition parsing.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use driftwatch::config::Sources;
use driftwatch::server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// 200 rows: x ~ a deterministic spread over [0, 10), y = x² / 10, color cycling over 3 categories,
/// with every 17th y missing.
pub(crate) fn reference_rows() -> Vec<(f64, Option<f64>, &'static str)> {
    (0..200)
        .map(|i| {
            let x = ((i * 37) % 200) as f64 / 20.0;
            let y = if i % 17 == 0 { None } else { Some(x * x / 10.0) };
            (x, y, ["red", "green", "blue"][i % 3])
        })
        .collect()
}

pub(crate) fn write_reference(dir: &Path) {
    let mut csv = String::from("x,y,color\n");
    for (x, y, c) in reference_rows() {
        csv += &format!("{x},{},{c}\n", y.map(|v| v.to_string()).unwrap_or_default());
    }
    std::fs::write(dir.join("reference.csv"), csv).unwrap();
}

pub(crate) const BASIC_CONFIG: &str = r#"
[server]
max_body_bytes = 65536

[[model]]
name = "churn"
version = "3"
reference = "reference.csv"
window = 50
"#;

pub(crate) fn state_with(config: &str, dir: &Path) -> Arc<AppState> {
    let config = Sources::from_str(config, dir).unwrap().validate().unwrap();
    Arc::new(AppState::build(&config).unwrap())
}

/// A temp dir holding reference.csv and the app built from `config`.
pub(crate) fn setup(config: &str) -> (tempfile::TempDir, Arc<AppState>) {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    let state = state_with(config, dir.path());
    (dir, state)
}

pub(crate) async fn call(
    state: &Arc<AppState>,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let response = app(state.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

pub(crate) async fn post_json(state: &Arc<AppState>, body: &Value) -> (StatusCode, Value) {
    let (s, text) = call(state, "POST", "/ingest", Some("application/json"), serde_json::to_vec(body).unwrap()).await;
    (s, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub(crate) async fn metrics(state: &Arc<AppState>) -> String {
    call(state, "GET", "/metrics", None, Vec::new()).await.1
}

/// The value of the sample `name{labels}` where every given label matches.
pub(crate) fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            return None;
        }
        let all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        all.then(|| value.parse().ok()).flatten()
    })
}

/// Builds the app from `config` (paths relative to `dir`) and serves it on a loopback port until the
/// test ends, with webhook delivery and snapshots running as in `driftwatch serve`.
pub(crate) async fn serve_on_loopback(config: &str, dir: &Path) -> (Arc<AppState>, std::net::SocketAddr) {
    let state = state_with(config, dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(driftwatch::server::run(listener, state.clone(), std::future::pending()));
    (state, addr)
}

/// The embedded demo model's spec (numeric and categorical features), loaded once.
pub(crate) fn demo_spec() -> &'static driftwatch::monitor::reference::ModelSpec {
    static SPEC: std::sync::OnceLock<driftwatch::monitor::reference::ModelSpec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let config = driftwatch::config::Sources::embedded().validate().unwrap();
        driftwatch::monitor::reference::load_model(config.models[0].clone()).unwrap().0
    })
}

/// Parses `text` with the Python Prometheus client's OpenMetrics parser, the strictest there is (it
/// refuses what Prometheus' own scraper would let through); panics with its complaint. Returns the
/// number of metric families.
#[cfg(feature = "system-tests")]
pub(crate) fn assert_strict_openmetrics(text: &str) -> usize {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const PARSE: &str = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nprint(len(list(p(sys.stdin.read()))))";
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (tests/run.sh installs prometheus_client)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the exposition:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
