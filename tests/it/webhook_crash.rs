//! kill -9 with retrain requests pending against a receiver that is down; restart on the same data
//! directory; bring the receiver up: every request arrives, with its original idempotency key and
//! body, within 10 seconds of the restart. The sidecar is the real binary.

use crate::support::process;
use crate::support::receiver;
use crate::support::server as support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use receiver::Receiver;
use serde_json::{Value, json};

use process::{Guard, free_port, start_serve};

async fn start(dir: &Path, port: u16) -> Guard {
    start_serve(&dir.join("churn.toml"), &dir.join("data"), port, "/readyz").await
}

/// Outbox entries on disk: idempotency key → body.
fn pending(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir.join("data/outbox"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            (v["key"].as_str().unwrap().to_owned(), v["body"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_pending_at_kill_9_are_all_delivered_after_restart_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    support::write_reference(dir.path());
    let receiver_port = free_port();
    std::fs::write(
        dir.path().join("churn.toml"),
        format!(
            "[[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 50\n\
             [model.retrain]\nurl = \"http://127.0.0.1:{receiver_port}/retrain\"\nfor_windows = 1\n\
             cooldown_seconds = 0\nmax_per_hour = 100\ninitial_backoff_seconds = 0.2\nmax_backoff_seconds = 1\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let sidecar = start(dir.path(), port).await;
    let client = reqwest::Client::new();
    for w in 0..3 {
        let x: Vec<f64> = (0..50).map(|i| 100.0 + (w * 50 + i) as f64).collect();
        let r: Value = client
            .post(format!("http://127.0.0.1:{port}/ingest"))
            .json(&json!({"model": "churn", "features": {"x": x}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["latest"]["model_drift"], true, "{r}");
    }
    // The ingest responses returned after the requests were durable.
    let before = pending(dir.path());
    assert_eq!(before.len(), 3);
    // Let a few attempts fail against the closed port, then kill without any chance to clean up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sidecar = sidecar;
    sidecar.0.kill().unwrap(); // SIGKILL
    sidecar.0.wait().unwrap();
    assert_eq!(pending(dir.path()), before);

    let restarted_at = Instant::now();
    let _sidecar = start(dir.path(), port).await;
    let rx = Receiver::start(&format!("127.0.0.1:{receiver_port}"), &[]).await;
    let got = rx.wait_for(3, Duration::from_secs(10)).await;
    assert!(restarted_at.elapsed() < Duration::from_secs(10));
    let delivered: BTreeMap<String, String> = got
        .iter()
        .map(|r| (r.header("idempotency-key").to_owned(), String::from_utf8(r.body.to_vec()).unwrap()))
        .collect();
    assert_eq!(delivered, before, "every request, with its original key and body");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pending(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "delivered requests were not removed from the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
