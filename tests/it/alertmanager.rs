//! A real Alertmanager (Debian's `prometheus-alertmanager`, on loopback, clustering off) receives an
//! alert through its v2 API, routes it to driftwatch's `/alertmanager` webhook with a bearer token, and
//! driftwatch asks the retrain receiver to retrain the alert's model — exactly once, though
//! Alertmanager re-sends the group.

use crate::support::process;
use crate::support::receiver;
use crate::support::server as support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use receiver::Receiver;
use serde_json::json;

use process::{free_port, spawn_alertmanager};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_delivers_a_firing_alert_that_becomes_one_retrain_request() {
    let rx = Receiver::start("127.0.0.1:0", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    support::write_reference(dir.path());
    std::fs::write(dir.path().join("am-token"), "am-to-driftwatch\n").unwrap();
    let config = format!(
        "[server]\ndata_dir = \"data\"\n[alertmanager]\nalerts = [\"ModelAccuracyDrop\"]\nbearer_token_file = \"am-token\"\n\
         [[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 50\n\
         [model.retrain]\nurl = \"{}\"\n",
        rx.url()
    );
    let (state, sidecar) = support::serve_on_loopback(&config, dir.path()).await;

    let am = format!("127.0.0.1:{}", free_port());
    let am_config = format!(
        "route:\n  receiver: driftwatch\n  group_by: [alertname, model_name]\n  group_wait: 0s\n  group_interval: 1s\n  \
         repeat_interval: 2s\nreceivers:\n  - name: driftwatch\n    webhook_configs:\n      - url: http://{sidecar}/alertmanager\n        \
         send_resolved: true\n        http_config:\n          authorization:\n            credentials_file: {}\n",
        dir.path().join("am-token").display()
    );
    std::fs::write(dir.path().join("alertmanager.yml"), am_config).unwrap();
    let status = Command::new("amtool")
        .args(["check-config", dir.path().join("alertmanager.yml").to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .expect("amtool (Debian's prometheus-alertmanager) is installed");
    assert!(status.success());
    let _am = spawn_alertmanager(&dir.path().join("alertmanager.yml"), dir.path(), &am);

    let client = reqwest::Client::new();
    let alert = json!([{
        "labels": {"alertname": "ModelAccuracyDrop", "model_name": "churn", "severity": "critical"},
        "annotations": {"summary": "accuracy of churn fell below 0.8"},
        "startsAt": "2026-12-01T10:00:00Z",
    }]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client.post(format!("http://{am}/api/v2/alerts")).json(&alert).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "Alertmanager never accepted the alert");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let got = rx.wait_for(1, Duration::from_secs(30)).await;
    let body = got[0].json();
    assert_eq!(body["trigger"], "alert");
    assert_eq!(body["model"]["name"], "churn");
    assert_eq!(body["alert"]["alertname"], "ModelAccuracyDrop");
    assert_eq!(body["alert"]["labels"]["severity"], "critical");
    assert_eq!(body["alert"]["annotations"]["summary"], "accuracy of churn fell below 0.8");
    assert_eq!(body["alert"]["starts_at"], "2026-12-01T10:00:00Z");
    assert_eq!(body["alert"]["fingerprint"].as_str().unwrap().len(), 16);

    // repeat_interval is 2 s: wait for Alertmanager to re-send, and still see one request.
    let m = |s: String| support::sample(&s, "driftwatch_alertmanager_alerts_total", &[("action", "duplicate")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while m(state.encode_metrics()).is_none() {
        assert!(Instant::now() < deadline, "Alertmanager never re-sent the alert");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests().len(), 1);
}
