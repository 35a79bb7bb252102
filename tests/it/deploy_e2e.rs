//! The whole remediation chain with deploy/'s own files and real parts on loopback: driftwatch,
//! Prometheus loading deploy/prometheus/rules (its config adapted to loopback addresses), Alertmanager
//! with deploy/alertmanager/alertmanager.yml (receivers adapted to loopback, secrets in a temp dir),
//! and a retrain receiver. Reference-like data streams in, then drifted data: DataDriftDetected
//! fires, Alertmanager delivers it to driftwatch's /alertmanager, and the receiver gets exactly one
//! retrain request. The time of each step is printed (BENCHMARKS.md quotes it). The same chain
//! from real labels: predictions and their later labels go to driftwatch, its `model_accuracy`
//! falls, and ModelAccuracyDrop fires and reaches the receiver.

use crate::support::process;
use crate::support::receiver;
use crate::support::server as support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use process::{free_port, spawn_alertmanager, spawn_prometheus};
use receiver::Receiver;
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    match client.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Polls until `check` is true, returning when it first was.
async fn until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Alertmanager's secrets (the token driftwatch's /alertmanager wants; the others unused).
fn write_secrets(dir: &Path) -> std::path::PathBuf {
    let secrets = dir.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    for (name, value) in [
        ("driftwatch-token", "am-token"),
        ("smtp-password", "unused"),
        ("slack-webhook-url", "http://127.0.0.1:9/slack"),
        ("pagerduty-routing-key", "unused"),
    ] {
        std::fs::write(secrets.join(name), value).unwrap();
    }
    secrets
}

/// Alertmanager with deploy/'s routes and Prometheus with deploy/'s config at its scrape and
/// evaluation intervals, loading the rule files in `rules`, all pointed at loopback.
struct Stack {
    am: String,
    prom: String,
    _processes: [process::Guard; 2],
}

impl Stack {
    fn start(dir: &Path, secrets: &Path, sidecar: std::net::SocketAddr, rules: &Path) -> Stack {
        let am = format!("127.0.0.1:{}", free_port());
        let am_config = std::fs::read_to_string(Path::new(ROOT).join("deploy/alertmanager/alertmanager.yml"))
            .unwrap()
            .replace("http://driftwatch:9184", &format!("http://{sidecar}"))
            .replace("/etc/alertmanager/secrets", secrets.to_str().unwrap())
            .replace("smtp.example.org:587", "127.0.0.1:9");
        std::fs::write(dir.join("alertmanager.yml"), am_config).unwrap();
        let am_process = spawn_alertmanager(&dir.join("alertmanager.yml"), dir, &am);
        let prom = format!("127.0.0.1:{}", free_port());
        let prom_config = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/prometheus.yml"))
            .unwrap()
            .replace("rules/*.yml", &format!("{}/*.yml", rules.display()))
            .replace("driftwatch:9184", &sidecar.to_string())
            .replace("alertmanager:9093", &am)
            .replace("localhost:9090", &prom);
        std::fs::write(dir.join("prometheus.yml"), prom_config).unwrap();
        let prom_process = spawn_prometheus(&dir.join("prometheus.yml"), dir, &prom);
        Stack { am, prom, _processes: [am_process, prom_process] }
    }

    async fn alert_state(&self, client: &reqwest::Client, alertname: &str) -> Option<String> {
        let a = get_json(client, &format!("http://{}/api/v1/alerts", self.prom)).await;
        a["data"]["alerts"].as_array()?.iter().find(|a| a["labels"]["alertname"] == alertname)?["state"]
            .as_str()
            .map(str::to_owned)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_alert_reaches_alertmanager_then_driftwatch_then_one_retrain_request() {
    let rx = Receiver::start("127.0.0.1:0", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    support::write_reference(dir.path());
    let secrets = write_secrets(dir.path());

    // driftwatch: acts on the alert only (its own drift trigger is off), so the one request proves
    // the chain.
    let config = format!(
        "[server]\ndata_dir = \"data\"\n[alertmanager]\nalerts = [\"DataDriftDetected\", \"ModelAccuracyDrop\"]\n\
         bearer_token_file = \"secrets/driftwatch-token\"\n\
         [[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 200\n\
         [model.anomaly]\nstep_seconds = 60\nperiods = [12]\nrefit_every = 6\nmin_deviation = 1.0\n\
         [model.retrain]\nurl = \"{}\"\ntriggers = [\"alert\"]\n",
        rx.url()
    );
    let (_state, sidecar) = support::serve_on_loopback(&config, dir.path()).await;

    let stack = Stack::start(dir.path(), &secrets, sidecar, &Path::new(ROOT).join("deploy/prometheus/rules"));
    let (am, prom) = (stack.am.clone(), stack.prom.clone());

    // A model server posting 50 rows every 250 ms (a 200-row window a second) and one point of its
    // latency series (a simulated minute per post: a 12-minute season, noise well under
    // min_deviation), with a +30 spike when `spike` is set.
    let drifted = Arc::new(AtomicBool::new(false));
    let spike = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let feeder = {
        let (client, drifted, spike) = (client.clone(), drifted.clone(), spike.clone());
        tokio::spawn(async move {
            let mut i = 0usize;
            loop {
                let shift = if drifted.load(Ordering::Relaxed) { 8.0 } else { 0.0 };
                let x: Vec<f64> = (i..i + 50).map(|k| ((k * 37) % 200) as f64 / 20.0 + shift).collect();
                let minute = (i / 50) as f64;
                let latency = 5.0
                    + 2.0 * (minute * std::f64::consts::PI / 6.0).sin()
                    + 0.02 * ((i / 50 * 7919) % 11) as f64
                    + if spike.swap(false, Ordering::Relaxed) { 30.0 } else { 0.0 };
                let body = json!({"model": "churn", "features": {"x": x},
                    "series": {"latency_p95": {"timestamps": [1_732_500_000.0 + 60.0 * minute], "values": [latency]}}});
                let _ = client.post(format!("http://{sidecar}/ingest")).json(&body).send().await;
                i += 50;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // Clean data until Prometheus has scraped driftwatch a few times and nothing fires.
    let q = |query: &str| format!("http://{prom}/api/v1/query?query={query}");
    until("the first scrape of driftwatch", Duration::from_secs(60), async || {
        get_json(&client, &q("up%7Bjob%3D%22driftwatch%22%7D")).await["data"]["result"][0]["value"][1] == "1"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let alerts = get_json(&client, &format!("http://{prom}/api/v1/alerts")).await;
    assert!(!alerts.to_string().contains("DataDriftDetected"), "fired on clean data: {alerts}");

    let t0 = Instant::now();
    drifted.store(true, Ordering::Relaxed);
    let limit = Duration::from_secs(180);
    let pending = until("DataDriftDetected pending in Prometheus", limit, async || {
        get_json(&client, &format!("http://{prom}/api/v1/alerts")).await.to_string().contains("DataDriftDetected")
    })
    .await;
    let firing = until("DataDriftDetected firing in Prometheus", limit, async || {
        let a = get_json(&client, &format!("http://{prom}/api/v1/alerts")).await;
        a["data"]["alerts"].as_array().is_some_and(|v| {
            v.iter().any(|a| a["labels"]["alertname"] == "DataDriftDetected" && a["state"] == "firing")
        })
    })
    .await;
    let in_am = until("the alert in Alertmanager", limit, async || {
        get_json(&client, &format!("http://{am}/api/v2/alerts")).await.to_string().contains("DataDriftDetected")
    })
    .await;
    let got = rx.wait_for(1, limit).await;
    let retrain = Instant::now();
    let body = got[0].json();
    assert_eq!(body["trigger"], "alert");
    assert_eq!(body["model"]["name"], "churn");
    assert_eq!(body["alert"]["alertname"], "DataDriftDetected");
    assert_eq!(body["alert"]["labels"]["severity"], "warning");

    let secs = |t: Instant| t.duration_since(t0).as_secs_f64();
    println!(
        "first drifted batch -> pending {:.1} s -> firing {:.1} s -> in Alertmanager {:.1} s -> retrain request {:.1} s",
        secs(pending),
        secs(firing),
        secs(in_am),
        secs(retrain)
    );
    assert!(secs(firing) < 120.0, "MTTD {:.1} s over the 2-minute goal", secs(firing));

    // Drift goes on and Prometheus keeps the alert firing: still one request.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(rx.requests().len(), 1);

    // The same chain for a series: calm so far, then one spiked point fires SeriesAnomalous.
    let series_alert = async || {
        let a = get_json(&client, &format!("http://{prom}/api/v1/alerts")).await;
        a["data"]["alerts"].as_array().is_some_and(|v| {
            v.iter().any(|a| {
                a["labels"]["alertname"] == "SeriesAnomalous"
                    && a["labels"]["series"] == "latency_p95"
                    && a["state"] == "firing"
            })
        })
    };
    assert!(!series_alert().await, "SeriesAnomalous fired on the calm series");
    let t1 = Instant::now();
    spike.store(true, Ordering::Relaxed);
    let fired = until("SeriesAnomalous firing in Prometheus", Duration::from_secs(90), series_alert).await;
    println!("spiked point -> SeriesAnomalous firing {:.1} s", fired.duration_since(t1).as_secs_f64());
    feeder.abort();
}

/// ModelAccuracyDrop from real labels: a model server sends ids, predictions and P(1) with its
/// batches and, a batch later, the labels; driftwatch joins them into `model_accuracy`, which the
/// shipped rule reads. Right about 95 % of rows, then 60 %: the alert fires, Alertmanager routes it
/// to driftwatch's /alertmanager, and the receiver gets one retrain request naming it. The rule's
/// `for: 10m` is cut to 15 s in the copy Prometheus loads (its expression and labels are the
/// shipped ones), so the test takes a minute, not eleven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_that_disagree_with_predictions_fire_model_accuracy_drop_and_one_retrain_request() {
    let rx = Receiver::start("127.0.0.1:0", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    support::write_reference(dir.path());
    let secrets = write_secrets(dir.path());
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for entry in std::fs::read_dir(Path::new(ROOT).join("deploy/prometheus/rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let shipped = "expr: model_accuracy < 0.85\n        for: 10m";
            let text = if text.contains(shipped) {
                text.replace(shipped, "expr: model_accuracy < 0.85\n        for: 15s")
            } else {
                assert!(!text.contains("ModelAccuracyDrop"), "the rule changed: adapt this test");
                text
            };
            std::fs::write(rules.join(path.file_name().unwrap()), text).unwrap();
        }
    }
    let config = format!(
        "[server]\ndata_dir = \"data\"\n[alertmanager]\nalerts = [\"DataDriftDetected\", \"ModelAccuracyDrop\"]\n\
         bearer_token_file = \"secrets/driftwatch-token\"\n\
         [[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 200\n\
         [model.performance]\ntask = \"binary\"\npositive_class = \"1\"\nwindow = 200\nretention_seconds = 3600\n\
         [model.retrain]\nurl = \"{}\"\ntriggers = [\"alert\"]\n",
        rx.url()
    );
    let (_state, sidecar) = support::serve_on_loopback(&config, dir.path()).await;
    let stack = Stack::start(dir.path(), &secrets, sidecar, &rules);

    // 50 predictions every 250 ms, the previous batch's labels with each: one evaluation a second.
    let wrong = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let feeder = {
        let (client, wrong) = (client.clone(), wrong.clone());
        tokio::spawn(async move {
            let mut previous: Option<(Vec<String>, Vec<&str>, usize)> = None;
            for batch in 0usize.. {
                let rows = batch * 50..batch * 50 + 50;
                let x: Vec<f64> = rows.clone().map(|k| ((k * 37) % 200) as f64 / 20.0).collect();
                let ids: Vec<String> = rows.clone().map(|k| format!("req-{k}")).collect();
                let predictions: Vec<&str> = rows.clone().map(|k| if k % 3 == 0 { "1" } else { "0" }).collect();
                let p: Vec<f64> = predictions.iter().map(|&c| if c == "1" { 0.8 } else { 0.2 }).collect();
                let body = json!({"model": "churn", "features": {"x": x}, "ids": ids,
                    "predictions": predictions, "probabilities": {"1": p}});
                let _ = client.post(format!("http://{sidecar}/ingest")).json(&body).send().await;
                if let Some((ids, predictions, first)) = previous.take() {
                    // Row k's label disagrees with its prediction when k % 20 == 0 (1 in 20), or
                    // once the labels turn wrong when k % 5 < 2 (2 in 5).
                    let wrong = wrong.load(Ordering::Relaxed);
                    let labels: Vec<&str> = predictions
                        .iter()
                        .enumerate()
                        .map(|(i, &c)| {
                            let k = first + i;
                            if (wrong && k % 5 < 2) || (!wrong && k % 20 == 0) { flip(c) } else { c }
                        })
                        .collect();
                    let body = json!({"model": "churn", "ids": ids, "labels": labels});
                    let _ = client.post(format!("http://{sidecar}/labels")).json(&body).send().await;
                }
                previous = Some((ids, predictions, batch * 50));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    fn flip(c: &str) -> &'static str {
        if c == "1" { "0" } else { "1" }
    }

    // Right 95 % of the time: Prometheus sees model_accuracy = 0.95 and nothing fires.
    let q = format!("http://{}/api/v1/query?query=model_accuracy", stack.prom);
    let accuracy = async || get_json(&client, &q).await["data"]["result"][0]["value"][1].as_str().map(str::to_owned);
    until("model_accuracy = 0.95 in Prometheus", Duration::from_secs(90), async || {
        accuracy().await.as_deref() == Some("0.95")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(stack.alert_state(&client, "ModelAccuracyDrop").await, None, "fired at 95 % accuracy");

    // Then 60 %: 2 of every 5 labels disagree; driftwatch's accuracy falls and the shipped rule fires.
    let t0 = Instant::now();
    wrong.store(true, Ordering::Relaxed);
    let limit = Duration::from_secs(120);
    until("model_accuracy = 0.6 in Prometheus", limit, async || accuracy().await.as_deref() == Some("0.6")).await;
    let firing = until("ModelAccuracyDrop firing in Prometheus", limit, async || {
        stack.alert_state(&client, "ModelAccuracyDrop").await.as_deref() == Some("firing")
    })
    .await;
    let got = rx.wait_for(1, limit).await;
    let body = got[0].json();
    assert_eq!(body["trigger"], "alert");
    assert_eq!(body["model"]["name"], "churn");
    assert_eq!(body["alert"]["alertname"], "ModelAccuracyDrop");
    assert_eq!(body["alert"]["labels"]["severity"], "critical");
    println!(
        "labels turn wrong -> ModelAccuracyDrop firing {:.1} s -> retrain request {:.1} s",
        firing.duration_since(t0).as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(rx.requests().len(), 1, "the alert keeps firing; still one request");
    feeder.abort();
}
