//! Helpers for tests that run real processes (the driftwatch binary, Prometheus, Alertmanager): a
//! guard that kills the child on drop, a free loopback port, and waiting for an HTTP endpoint.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_driftwatch");

/// Kills the child on drop, so a failing assertion doesn't leave a process running.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `program <args>` with its output discarded; `hint` says how to install it.
pub(crate) fn spawn_quiet<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S], hint: &str) -> Guard {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program:?} ({e}): {hint}"));
    Guard(child)
}

/// `serve --config <config> --listen 127.0.0.1:<port> --data-dir <data>`.
pub(crate) fn serve_args(config: &Path, data: &Path, port: u16) -> Vec<OsString> {
    let listen = format!("127.0.0.1:{port}");
    [
        "serve".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--listen".as_ref(),
        listen.as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// Starts `driftwatch serve` (see [`serve_args`]) and waits until `http://127.0.0.1:<port><probe>`
/// answers 2xx.
pub(crate) async fn start_serve(config: &Path, data: &Path, port: u16, probe: &str) -> Guard {
    let guard = spawn_quiet(BIN, &serve_args(config, data, port), "cargo builds it");
    wait_ok(&format!("http://127.0.0.1:{port}{probe}"), Duration::from_secs(30)).await;
    guard
}

/// Waits until `url` answers 2xx.
pub(crate) async fn wait_ok(url: &str, timeout: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    while !client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Debian's Alertmanager on `listen` with clustering off, state under `dir`.
pub(crate) fn spawn_alertmanager(config: &Path, dir: &Path, listen: &str) -> Guard {
    let binary = std::env::var("ALERTMANAGER_BIN").unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", dir.join("am-data").display()),
        format!("--web.listen-address={listen}"),
        "--cluster.listen-address=".into(),
    ];
    spawn_quiet(&binary, &args, "install Debian's prometheus-alertmanager (tests/run.sh does)")
}

/// Debian's Prometheus on `listen`, TSDB under `dir`.
pub(crate) fn spawn_prometheus(config: &Path, dir: &Path, listen: &str) -> Guard {
    let binary = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
        format!("--web.listen-address={listen}"),
    ];
    spawn_quiet(&binary, &args, "install Debian's prometheus (tests/run.sh does)")
}
