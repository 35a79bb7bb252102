//! `[[pull]]` against a real Prometheus (Debian's package, on loopback): the sidecar polls
//! `query_range`, scores every returned series and exports it with the series' labels, caps the
//! number of series, and flags the replica that differs from the others.

use crate::support::process;
use crate::support::server as support;

use std::time::{Duration, Instant};

use process::{free_port, spawn_prometheus};
use support::*;

/// Five replicas of one metric; replica "e" sits far from the others.
const REPLICAS: &str = r#"label_replace(vector(1), "replica", "a", "", "") or label_replace(vector(1.1), "replica", "b", "", "") or label_replace(vector(0.9), "replica", "c", "", "") or label_replace(vector(1.05), "replica", "d", "", "") or label_replace(vector(9), "replica", "e", "", "")"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_series_are_scored_with_their_labels_capped_and_outliers_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let prom = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['PROM']\n"
            .replace("PROM", &prom),
    )
    .unwrap();
    let _guard = spawn_prometheus(&dir.path().join("prometheus.yml"), dir.path(), &prom);

    let config = format!(
        r#"
[server]
refit_threads = 0

[[pull]]
name = "replicas"
url = "http://{prom}"
query = '{REPLICAS}'
step_seconds = 15
interval_seconds = 1

[[pull]]
name = "capped"
url = "http://{prom}"
query = '{REPLICAS}'
step_seconds = 15
interval_seconds = 1
max_series = 2

[[pull]]
name = "up"
url = "http://{prom}/"
query = "up"
step_seconds = 1
interval_seconds = 1
"#
    );
    let (state, _addr) = serve_on_loopback(&config, dir.path()).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let m = loop {
        let m = metrics(&state).await;
        let done = sample(&m, "anomaly_outlier", &[("query", "replicas"), ("replica", "e")]).is_some()
            && sample(&m, "anomaly_expected", &[("query", "up"), ("job", "prometheus")]).is_some()
            && sample(&m, "driftwatch_anomaly_series_rejected_total", &[("source", "capped")]).unwrap_or(0.0) >= 3.0;
        if done {
            break m;
        }
        assert!(Instant::now() < deadline, "pulls did not land:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Constant series: expected is the value, the band has no width, nothing is anomalous.
    for (replica, value) in [("a", 1.0), ("b", 1.1), ("c", 0.9), ("d", 1.05), ("e", 9.0)] {
        let l = [("query", "replicas"), ("replica", replica)];
        assert_eq!(sample(&m, "anomaly_expected", &l), Some(value), "{replica}");
        assert_eq!(sample(&m, "anomaly_lower", &l), Some(value), "{replica}");
        assert_eq!(sample(&m, "anomaly_score", &l), Some(0.0), "{replica}");
        assert_eq!(sample(&m, "anomaly", &l), Some(0.0), "{replica}");
        assert_eq!(sample(&m, "anomaly_outlier", &l), Some(if replica == "e" { 1.0 } else { 0.0 }), "{replica}");
    }
    // A one-second step has no day or week period in the default history: fallback only.
    assert_eq!(sample(&m, "anomaly_ready", &[("query", "up")]), Some(0.0));
    // `up` comes back with Prometheus' own labels; __name__ is dropped.
    let up = m.lines().find(|l| l.starts_with("anomaly_expected{") && l.contains("query=\"up\"")).unwrap();
    assert!(up.contains(&format!("instance=\"{prom}\"")) && !up.contains("__name__"), "{up}");
    assert!(up.ends_with(" 1.0") || up.ends_with(" 1"), "{up}");
    // max_series = 2: two replicas exported, the other three refused on each poll.
    let capped = m.lines().filter(|l| l.starts_with("anomaly_score{") && l.contains("query=\"capped\"")).count();
    assert_eq!(capped, 2);
    assert!(sample(&m, "driftwatch_pull_requests_total", &[("query", "up"), ("outcome", "ok")]).unwrap() >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_query_is_counted_as_an_error_and_polling_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let prom = format!("127.0.0.1:{}", free_port());
    std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1s\n").unwrap();
    let _guard = spawn_prometheus(&dir.path().join("prometheus.yml"), dir.path(), &prom);
    let config = format!(
        "[server]\nrefit_threads = 0\n\n[[pull]]\nname = \"broken\"\nurl = \"http://{prom}\"\nquery = \"sum(\"\nstep_seconds = 15\ninterval_seconds = 1\n"
    );
    let (state, _addr) = serve_on_loopback(&config, dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = metrics(&state).await;
        // Counted while Prometheus starts (connection refused) and once it answers (parse error).
        if sample(&m, "driftwatch_pull_requests_total", &[("query", "broken"), ("outcome", "error")]).unwrap_or(0.0)
            >= 3.0
        {
            assert!(!m.contains("anomaly_score{"), "nothing scored from a failing query");
            break;
        }
        assert!(Instant::now() < deadline, "errors not counted:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
