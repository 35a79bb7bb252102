//! A real Prometheus (Debian's `prometheus` package, started on loopback) scrapes the sidecar; the
//! drift scores read back through its HTTP API must be the values the sidecar computed.

use crate::support::process;
use crate::support::server as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

use process::{free_port, spawn_prometheus};

async fn query(client: &reqwest::Client, prom: &str, q: &str) -> Vec<Value> {
    let url = format!("http://{prom}/api/v1/query");
    let Ok(resp) = client.get(&url).query(&[("query", q)]).send().await else { return vec![] };
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

async fn wait_for(client: &reqwest::Client, prom: &str, q: &str, want_at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = query(client, prom, q).await;
        if r.len() >= want_at_least {
            return r;
        }
        assert!(Instant::now() < deadline, "Prometheus never returned {want_at_least} series for {q}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_scores_the_sidecar_computed() {
    let (dir, state) = setup(BASIC_CONFIG);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sidecar = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(driftwatch::server::run(listener, Arc::clone(&state), async {
        let _ = stop_rx.await;
    }));

    let prom = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: driftwatch\n    static_configs:\n      - targets: ['{sidecar}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let _guard = spawn_prometheus(&dir.path().join("prometheus.yml"), dir.path(), &prom);

    // A drifted window, ingested over the real socket.
    let client = reqwest::Client::new();
    let x: Vec<f64> = (0..50).map(|i| (i % 25) as f64 / 2.5 + 3.0).collect();
    let c: Vec<&str> = (0..50).map(|i| if i % 5 == 0 { "blue" } else { "red" }).collect();
    let body = json!({"model": "churn", "features": {"x": x, "y": x, "color": c}});
    let resp: Value =
        client.post(format!("http://{sidecar}/ingest")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(resp["windows_scored"], 1, "{resp}");
    let points = json!({"model": "churn", "series": {"latency": {"timestamps": (1..40).collect::<Vec<_>>(), "values": vec![0.5; 39]}}});
    let resp_series = client.post(format!("http://{sidecar}/ingest")).json(&points).send().await.unwrap();
    assert!(resp_series.status().is_success());
    // What Prometheus scrapes, through the strictest OpenMetrics parser.
    let exposition = client.get(format!("http://{sidecar}/metrics")).send().await.unwrap().text().await.unwrap();
    let families = exposition.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert!(families > 20, "{exposition}");
    assert_eq!(crate::support::server::assert_strict_openmetrics(&exposition), families, "{exposition}");

    let scores = wait_for(&client, &prom, "data_drift_score{model_name=\"churn\"}", 6).await;
    assert_eq!(scores.len(), 6, "x, y: psi+ks; color: psi+chi2");
    for feature in resp["latest"]["features"].as_array().unwrap() {
        for s in feature["scores"].as_array().unwrap() {
            let (name, method) = (feature["name"].as_str().unwrap(), s["method"].as_str().unwrap());
            let series = scores
                .iter()
                .find(|r| r["metric"]["feature"] == name && r["metric"]["method"] == method)
                .unwrap_or_else(|| panic!("no series for {name}/{method}"));
            assert_eq!(series["metric"]["job"], "driftwatch");
            let got: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
            // Prometheus stores and prints float64 losslessly: the same number, bit for bit.
            assert_eq!(got, s["score"].as_f64().unwrap(), "{name}/{method}");
        }
    }
    let p = wait_for(&client, &prom, "data_drift_pvalue{feature=\"x\",method=\"ks\"}", 1).await;
    let want = resp["latest"]["features"][0]["scores"][1]["pvalue"].as_f64().unwrap();
    assert_eq!(p[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap(), want);
    let detected = wait_for(&client, &prom, "model_drift_detected{model_name=\"churn\"}", 1).await;
    let want = if resp["latest"]["model_drift"] == true { "1" } else { "0" };
    assert_eq!(detected[0]["value"][1], want);
    let ingested = wait_for(&client, &prom, "driftwatch_samples_ingested_total{model_name=\"churn\"}", 1).await;
    assert_eq!(ingested[0]["value"][1], "50");

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
