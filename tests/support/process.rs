//! Helpers for tests that run real processes (the driftwatch binary, Prometheus, Alertmanager): a
//! guard that kills the child on drop, a free loopback port, and waiting for an HTTP endpoint.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_driftwatch");

/// Kills the child on drop, so a failing assertion doesn't leave a process running.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `driftwatch <args>` with output discarded and waits until `http://127.0.0.1:<port><probe>`
/// answers 2xx.
pub async fn start_binary(args: &[&std::ffi::OsStr], port: u16, probe: &str) -> Guard {
    let child = Command::new(BIN).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let guard = Guard(child);
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}{probe}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "driftwatch never answered {url}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    guard
}

/// Debian's Alertmanager on `listen` with clustering off, state under `dir`.
pub fn spawn_alertmanager(config: &std::path::Path, dir: &std::path::Path, listen: &str) -> Guard {
    let binary = std::env::var("ALERTMANAGER_BIN").unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address={listen}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary:?} ({e}): install Debian's prometheus-alertmanager"));
    Guard(child)
}

/// Debian's Prometheus on `listen`, TSDB under `dir`.
pub fn spawn_prometheus(config: &std::path::Path, dir: &std::path::Path, listen: &str) -> Guard {
    let binary = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary:?} ({e}): install Debian's prometheus (tests/run.sh does)"));
    Guard(child)
}
