//! deploy/grafana: the dashboards are what make_dashboards.py writes, they type-check against
//! @grafana/schema, and every query of every panel runs without error on a real Prometheus that
//! scrapes a real driftwatch and the demo model server (with traffic, drift and a retrain
//! receiver); the panels on driftwatch's and the model server's metrics return data.

use crate::support::process;
use crate::support::receiver;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use process::{BIN, Guard, free_port, spawn_prometheus, spawn_quiet, start_serve, wait_ok};
use receiver::Receiver;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn grafana() -> PathBuf {
    Path::new(ROOT).join("deploy/grafana")
}

fn dashboards() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(grafana().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        out.insert(path.file_name().unwrap().to_string_lossy().into_owned(), serde_json::from_str(&text).unwrap());
    }
    out
}

#[test]
fn dashboards_are_what_make_dashboards_writes() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(grafana().join("make_dashboards.py"))
        .args(["--out".as_ref(), dir.path().as_os_str()])
        .status()
        .unwrap();
    assert!(status.success());
    let generated: Vec<_> = std::fs::read_dir(dir.path().join("dashboards")).unwrap().collect();
    assert_eq!(generated.len(), 4, "System Overview, Application Performance, ML Model Performance, Drift & Anomaly");
    for entry in generated {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        let committed = std::fs::read_to_string(grafana().join("dashboards").join(name)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), committed, "{name:?} is stale: run make_dashboards.py");
    }
    let sources = std::fs::read_to_string(dir.path().join("panel-sources.json")).unwrap();
    assert_eq!(sources, std::fs::read_to_string(grafana().join("panel-sources.json")).unwrap());
}

/// tests/run.sh installs @grafana/schema and typescript under this prefix.
fn node_prefix() -> PathBuf {
    std::env::var_os("DRIFTWATCH_NODE_PREFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var("HOME").unwrap()).join(".cache/driftwatch-npm"))
}

#[test]
fn dashboards_type_check_against_grafana_schema() {
    let prefix = node_prefix();
    assert!(
        prefix.join("node_modules/@grafana/schema").is_dir(),
        "{} has no @grafana/schema: tests/run.sh installs it (npm install --prefix {} @grafana/schema typescript@5)",
        prefix.display(),
        prefix.display()
    );
    let out = Command::new("node").arg(grafana().join("typecheck.mjs")).arg(&prefix).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("4 dashboards type-check"), "{text}");
}

/// Grafana's variables and interval macros, as Grafana would send them with "All" selected.
fn expand(expr: &str) -> String {
    let mut e = expr.replace("$__rate_interval", "20s");
    for var in ["$model", "$series", "$job", "$instance"] {
        e = e.replace(var, ".*");
    }
    assert!(!e.contains('$'), "an unexpanded variable in {expr}");
    e
}

/// GET `url?key=value` as JSON (Prometheus' HTTP API).
async fn get(client: &reqwest::Client, url: &str, key: &str, value: &str) -> Value {
    client.get(url).query(&[(key, value)]).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_runs_on_live_prometheus_and_driftwatch_panels_return_data() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start("127.0.0.1:0", &[]).await;

    // The demo model, with a one-second series step (the model server pushes a point a second here)
    // and a retrain webhook on the second drifted window, so the webhook panels have activity.
    let demo = std::fs::read_to_string(Path::new(ROOT).join("models/demo.toml")).unwrap();
    let config = demo
        .replace("../datasets/demo/reference.csv", &format!("{ROOT}/datasets/demo/reference.csv"))
        .replace("step_seconds = 60", "step_seconds = 1")
        .replace("window = 2000 ", "window = 1000 ")
        + &format!(
            "\n[model.retrain]\nurl = \"{}\"\nfor_windows = 2\ncooldown_seconds = 5\nmax_per_hour = 100\n",
            rx.url()
        );
    std::fs::write(dir.path().join("demo.toml"), config).unwrap();
    let port = free_port();
    let sidecar = format!("127.0.0.1:{port}");
    let _driftwatch = start_serve(&dir.path().join("demo.toml"), &dir.path().join("data"), port, "/healthz").await;
    let model_server = format!("127.0.0.1:{}", free_port());
    let _model_server: Guard = spawn_quiet(
        BIN,
        &[
            "model-server",
            "--listen",
            &model_server,
            "--sidecar",
            &format!("http://{sidecar}"),
            "--traffic",
            "20",
            "--series-every",
            "1",
        ],
        "cargo builds it",
    );
    wait_ok(&format!("http://{model_server}/healthz"), Duration::from_secs(60)).await;

    // deploy/'s Prometheus config and rules at a 2 s interval; exporters that do not run here
    // (node-exporter, cadvisor, Alertmanager) point at a closed port.
    let prom = format!("127.0.0.1:{}", free_port());
    let prom_config = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/prometheus.yml"))
        .unwrap()
        .replace("15s", "2s")
        .replace("rules/*.yml", &format!("{ROOT}/deploy/prometheus/rules/*.yml"))
        .replace("driftwatch:9184", &sidecar)
        .replace("model-server:8000", &model_server)
        .replace("localhost:9090", &prom)
        .replace("node-exporter:9100", "127.0.0.1:9")
        .replace("cadvisor:8080", "127.0.0.1:9")
        .replace("alertmanager:9093", "127.0.0.1:9");
    std::fs::write(dir.path().join("prometheus.yml"), prom_config).unwrap();
    let _prom = spawn_prometheus(&dir.path().join("prometheus.yml"), dir.path(), &prom);
    wait_ok(&format!("http://{prom}/-/ready"), Duration::from_secs(60)).await;

    let sources: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&std::fs::read_to_string(grafana().join("panel-sources.json")).unwrap()).unwrap();
    let client = reqwest::Client::new();
    let boards = dashboards();
    // Until every driftwatch and model-server panel has data (or time runs out), then report all.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let mut errors = Vec::new();
        let mut empty = Vec::new();
        let mut checked = 0;
        for (file, board) in &boards {
            for panel in board["panels"].as_array().unwrap() {
                let Some(targets) = panel["targets"].as_array() else { continue };
                let mut rows = 0;
                for target in targets {
                    let expr = expand(target["expr"].as_str().unwrap());
                    let answer = get(&client, &format!("http://{prom}/api/v1/query"), "query", &expr).await;
                    checked += 1;
                    if answer["status"] != "success" {
                        errors.push(format!("{file} {:?}: {expr}: {answer}", panel["title"]));
                    }
                    rows += answer["data"]["result"].as_array().map_or(0, Vec::len);
                }
                let source = &sources[file][&panel["id"].to_string()];
                if rows == 0 && (source == "driftwatch" || source == "model-server") {
                    empty.push(format!("{file} {:?} ({source})", panel["title"]));
                }
            }
        }
        assert!(errors.is_empty(), "queries failed:\n{}", errors.join("\n"));
        assert!(checked > 40, "only {checked} queries");
        if empty.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "panels without data:\n{}", empty.join("\n"));
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    // The dashboards' variables list what the driftwatch and the model server export.
    for (label, matcher, want) in [
        ("model_name", "data_drift_score", "demo-churn"),
        ("model_name", "model_drift_detected", "demo-churn"),
        ("series", "anomaly_score", "prediction_latency_p95"),
        ("job", "http_requests_total", "model-server"),
    ] {
        let values = get(&client, &format!("http://{prom}/api/v1/label/{label}/values"), "match[]", matcher).await;
        assert!(values["data"].as_array().unwrap().iter().any(|v| v == want), "{label} of {matcher}: {values}");
    }
    assert!(!rx.requests().is_empty(), "the retrain receiver got nothing");
}
