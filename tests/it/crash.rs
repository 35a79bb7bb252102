//! The real binary under load, killed with SIGKILL at random moments and restarted on the same data
//! directory: what survives is exactly a prefix of the accepted samples (whole batches, in order),
//! and what is lost is at most what was accepted since the last periodic snapshot. A SIGTERM loses
//! nothing. Also: /metrics on a separate listener.

use crate::support::process;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftwatch_stats::drift::{self, Method, NumericReference};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const WINDOW: usize = 2000;
const BATCH: usize = 100;
const SNAPSHOT_INTERVAL: f64 = 0.2;

use process::{Guard, free_port, start_serve};

/// The i-th sample ever sent: a deterministic spread, shifted up in every third window so windows
/// differ.
fn value(i: usize) -> f64 {
    ((i * 7919) % 1000) as f64 / 10.0 + if (i / WINDOW) % 3 == 2 { 15.0 } else { 0.0 }
}

fn reference() -> Vec<f64> {
    (0..1000).map(|i| ((i * 37) % 1000) as f64 / 10.0).collect()
}

fn setup(snapshot_interval: f64, extra_server: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x\n");
    for v in reference() {
        csv += &format!("{v}\n");
    }
    std::fs::write(dir.path().join("reference.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("m.toml"),
        format!(
            "[server]\nsnapshot_interval_seconds = {snapshot_interval}\n{extra_server}\n\
             [[model]]\nname = \"m\"\nreference = \"reference.csv\"\nwindow = {WINDOW}\n"
        ),
    )
    .unwrap();
    dir
}

async fn start(dir: &std::path::Path, port: u16) -> Guard {
    start_serve(&dir.join("m.toml"), &dir.join("data"), port, "/healthz").await
}

async fn post(client: &reqwest::Client, port: u16, from: usize) -> Result<Value, reqwest::Error> {
    let x: Vec<f64> = (from..from + BATCH).map(value).collect();
    client
        .post(format!("http://127.0.0.1:{port}/ingest"))
        .json(&json!({"model": "m", "features": {"x": x}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

/// Samples the sidecar holds: every scored window plus the partial one.
async fn position(client: &reqwest::Client, port: u16) -> (usize, Value) {
    let m: Value =
        client.get(format!("http://127.0.0.1:{port}/v1/models/m")).send().await.unwrap().json().await.unwrap();
    let seq = m["latest"]["seq"].as_u64().unwrap_or(0) as usize;
    (seq * WINDOW + m["window_samples"].as_u64().unwrap() as usize, m)
}

/// Scores of the window of samples [start, start + WINDOW), computed directly.
fn expected(start: usize) -> Vec<(Method, f64, Option<f64>)> {
    let r = NumericReference::fit(reference(), 10).unwrap();
    let mut w: Vec<f64> = (start..start + WINDOW).map(value).collect();
    drift::score_numeric(&r, &mut w, &[Method::Psi, Method::Ks], 1e-4)
        .into_iter()
        .map(|s| (s.method, s.score, s.pvalue))
        .collect()
}

fn reported(latest: &Value) -> Vec<(Method, f64, Option<f64>)> {
    latest["features"][0]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (serde_json::from_value(s["method"].clone()).unwrap(), s["score"].as_f64().unwrap(), s["pvalue"].as_f64())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_at_most_the_samples_since_the_last_snapshot() {
    let dir = setup(SNAPSHOT_INTERVAL, "");
    let port = free_port();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut next = 0usize; // the next sample index to send
    for round in 0..4 {
        let mut sidecar = start(dir.path(), port).await;
        let (restored, _) = position(&client, port).await;
        if round > 0 {
            println!("round {round}: restored {restored} samples");
        }
        assert!(restored <= next && restored % BATCH == 0, "restored {restored} of {next} sent");
        // Continue from what survived, as a client that re-sends unacknowledged data would.
        next = restored;
        // Load from a task; acks are (time, samples acknowledged so far).
        let acks: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
        let load = {
            let (client, acks) = (client.clone(), acks.clone());
            tokio::spawn(async move {
                let mut at = next;
                while post(&client, port, at).await.is_ok() {
                    at += BATCH;
                    acks.lock().unwrap().push((Instant::now(), at));
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(rng.random_range(400..1500))).await;
        sidecar.0.kill().unwrap();
        let killed_at = Instant::now();
        sidecar.0.wait().unwrap();
        load.await.unwrap();
        let acks = acks.lock().unwrap().clone();
        let acked = acks.last().map_or(next, |a| a.1);
        assert!(acked >= next + 5 * BATCH, "the load generator got too few batches in: {acks:?}");
        // Everything acknowledged more than a snapshot interval (plus scheduling slack) before the
        // kill must survive.
        let safe_before = killed_at - Duration::from_secs_f64(SNAPSHOT_INTERVAL + 0.8);
        let must_survive = acks.iter().rev().find(|a| a.0 < safe_before).map_or(next, |a| a.1);

        let _sidecar = start(dir.path(), port).await;
        let (survived, _) = position(&client, port).await;
        println!("round {round}: acked {acked}, survived {survived}, lost {}", acked - survived);
        assert!(survived <= acked, "survived {survived} > acked {acked}");
        assert!(survived >= must_survive, "lost more than the last snapshot interval: {survived} < {must_survive}");
        assert_eq!(survived % BATCH, 0, "a batch is restored whole or not at all");
        next = acked;
    }

    // The restored window holds exactly the samples [window start, survived): fill it up and the
    // scores equal those computed directly over that range.
    let _sidecar = start(dir.path(), port).await;
    let (survived, _) = position(&client, port).await;
    let mut at = survived;
    let start_of_window = survived / WINDOW * WINDOW;
    let mut last = Value::Null;
    while at < start_of_window + WINDOW {
        last = post(&client, port, at).await.unwrap();
        at += BATCH;
    }
    assert_eq!(last["latest"]["seq"].as_u64().unwrap() as usize, start_of_window / WINDOW + 1);
    assert_eq!(reported(&last["latest"]), expected(start_of_window));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_snapshots_so_a_restart_loses_nothing() {
    // A long interval: only the shutdown snapshot can have saved the last batches.
    let dir = setup(3600.0, "");
    let port = free_port();
    let client = reqwest::Client::new();
    let mut sidecar = start(dir.path(), port).await;
    let mut at = 0;
    for _ in 0..27 {
        post(&client, port, at).await.unwrap();
        at += BATCH;
    }
    Command::new("kill").args(["-TERM", &sidecar.0.id().to_string()]).status().unwrap();
    let status = sidecar.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let _sidecar = start(dir.path(), port).await;
    let (survived, m) = position(&client, port).await;
    assert_eq!(survived, at, "{m}");
    let m: String = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("driftwatch_windows_scored_total{model_name=\"m\"} 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_served_on_a_separate_listener() {
    let metrics_port = free_port();
    let dir = setup(SNAPSHOT_INTERVAL, &format!("metrics_listen = \"127.0.0.1:{metrics_port}\""));
    let port = free_port();
    let _sidecar = start(dir.path(), port).await;
    let client = reqwest::Client::new();
    post(&client, port, 0).await.unwrap();
    let m = client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    assert_eq!(m.status(), 200);
    assert!(m.text().await.unwrap().contains("driftwatch_samples_ingested_total{model_name=\"m\"} 100"));
    assert_eq!(client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().status(), 404);
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(client.get(format!("http://127.0.0.1:{metrics_port}{probe}")).send().await.unwrap().status(), 200);
    }
}

/// One point a simulated minute of a latency series with a 12-minute season, `spike` added.
fn latency_batch(from: usize, n: usize, spike: f64) -> Value {
    let t: Vec<f64> = (from..from + n).map(|i| 1_732_500_000.0 + 60.0 * i as f64).collect();
    let v: Vec<f64> = (from..from + n)
        .map(|i| 5.0 + 2.0 * (i as f64 * std::f64::consts::PI / 6.0).sin() + 0.02 * ((i * 7919) % 11) as f64)
        .collect();
    let mut v = v;
    if let Some(last) = v.last_mut() {
        *last += spike;
    }
    json!({"model": "m", "series": {"latency_p95": {"timestamps": t, "values": v}}})
}

/// Series state is in the snapshot: after SIGKILL and a restart, a series' next points score exactly
/// as in a process that never stopped (refits inline in both, so neither has one in flight), and
/// `anomaly_ready` is 1 across the restart instead of the series warming up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_keeps_each_series_so_its_next_points_score_as_without_the_restart() {
    let dir = setup(SNAPSHOT_INTERVAL, "refit_threads = 0");
    let config = std::fs::read_to_string(dir.path().join("m.toml")).unwrap()
        + "[model.anomaly]\nstep_seconds = 60\nperiods = [12]\nrefit_every = 6\nmin_deviation = 1.0\n";
    std::fs::write(dir.path().join("m.toml"), &config).unwrap();
    // The uninterrupted run: the same config in process, in memory only.
    let uninterrupted = crate::support::server::state_with(&config, dir.path());

    let port = free_port();
    let client = reqwest::Client::new();
    let send = async |body: &Value| -> Value {
        let r = client.post(format!("http://127.0.0.1:{port}/ingest")).json(body).send().await.unwrap();
        assert!(r.status().is_success());
        r.json::<Value>().await.unwrap()["series"]["latest"]["latency_p95"].clone()
    };
    let reference = async |body: &Value| -> Value {
        let (s, r) = crate::support::server::post_json(&uninterrupted, body).await;
        assert!(s.is_success(), "{r}");
        r["series"]["latest"]["latency_p95"].clone()
    };
    let ready = async || -> Option<f64> {
        let m = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
        let line = m.lines().find(|l| l.starts_with("anomaly_ready{") && l.contains("latency_p95"))?;
        line.rsplit(' ').next()?.parse().ok()
    };

    let mut sidecar = start(dir.path(), port).await;
    let mut at = 0;
    while at < 120 {
        let body = latency_batch(at, 10, 0.0);
        assert_eq!(send(&body).await, reference(&body).await, "points {at}..");
        at += 10;
    }
    assert_eq!(ready().await, Some(1.0));
    // Past a periodic snapshot, then no warning.
    tokio::time::sleep(Duration::from_secs_f64(SNAPSHOT_INTERVAL * 5.0)).await;
    sidecar.0.kill().unwrap();
    sidecar.0.wait().unwrap();

    let _sidecar = start(dir.path(), port).await;
    assert_eq!(ready().await, Some(1.0), "warming up again after the restart");
    for (n, spike) in [(1, 0.0), (5, 0.0), (1, 30.0), (7, 0.0)] {
        let body = latency_batch(at, n, spike);
        let (restarted, uninterrupted) = (send(&body).await, reference(&body).await);
        assert_eq!(restarted, uninterrupted, "points {at}..{}", at + n);
        assert_eq!(restarted["ready"], true);
        at += n;
    }
}
