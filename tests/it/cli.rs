//! The `driftwatch` binary as an operator runs it: `serve` on a directory of model configs with a
//! Parquet reference, graceful exit on SIGTERM, `check` listing every config problem, and `demo`
//! producing scored windows within seconds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use polars::prelude::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_driftwatch");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_ready(client: &reqwest::blocking::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get(format!("{base}/readyz")).send().is_ok_and(|r| r.status().is_success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("driftwatch never became ready at {base}");
}

#[test]
fn serve_reads_a_parquet_reference_from_a_models_dir_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let x: Vec<f64> = (0..1000).map(|i| (i % 100) as f64).collect();
    let plan: Vec<&str> = (0..1000).map(|i| if i % 3 == 0 { "pro" } else { "basic" }).collect();
    let mut df = df!("x" => x, "plan" => plan).unwrap();
    ParquetWriter::new(std::fs::File::create(models.join("reference.parquet")).unwrap()).finish(&mut df).unwrap();
    std::fs::write(
        models.join("churn.toml"),
        "[[model]]\nname = \"churn\"\nreference = \"reference.parquet\"\nwindow = 100\n",
    )
    .unwrap();

    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", models.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    wait_ready(&client, &base);

    let body = json!({"model": "churn", "features": {"x": vec![150.0; 100], "plan": vec!["pro"; 100]}});
    let resp: Value = client.post(format!("{base}/ingest")).json(&body).send().unwrap().json().unwrap();
    assert_eq!(resp["windows_scored"], 1, "{resp}");
    let metrics = client.get(format!("{base}/metrics")).send().unwrap().text().unwrap();
    // Every value above the reference's range lands in the top bin: PSI is large, KS D is 1.
    assert!(metrics.contains("data_drift_score{model_name=\"churn\",feature=\"x\",method=\"ks\"} 1.0"), "{metrics}");
    assert!(metrics.contains("model_drift_detected{model_name=\"churn\"} 1"), "{metrics}");

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "driftwatch did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn check_lists_every_config_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[model]]\nname = \"a\"\nreference = \"r.csv\"\nwindow = 1\nbins = 0\neps = nan\n").unwrap();
    let out = Command::new(BIN).args(["check", "--config", path.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in ["model[0].window", "model[0].bins", "model[0].eps"] {
        assert!(err.contains(field), "{field} missing from:\n{err}");
    }
}

#[test]
fn demo_scores_windows_within_seconds() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--duration", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
    let windows: Vec<&String> = lines.iter().filter(|l| l.contains(" window ") && l.contains("drift_share")).collect();
    // 2,000 samples/s into 2,000-sample windows for 4 s: at least two windows scored and printed.
    assert!(windows.len() >= 2, "{lines:#?}");
    assert!(windows[0].contains("age psi="), "{}", windows[0]);
}

#[test]
fn replay_writes_each_rows_causal_score_as_the_detector_computes_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("latency.csv");
    let mut csv = String::from("timestamp,value\n");
    let mut rows = Vec::new();
    for i in 0..400 {
        // A 24-step season, a spike at 350, a gap at 200..203, one empty value.
        if (200..203).contains(&i) {
            continue;
        }
        let ts = format!("2024-11-25 {:02}:{:02}:00", i / 60, i % 60);
        let v = if i == 120 {
            f64::NAN
        } else {
            10.0 + 3.0 * (i as f64 * std::f64::consts::PI / 12.0).sin()
                + ((i * 37) % 7) as f64 * 0.1
                + if i == 350 { 25.0 } else { 0.0 }
        };
        csv += &format!("{ts},{}\n", if v.is_nan() { String::new() } else { v.to_string() });
        rows.push(driftwatch::tools::replay::Row {
            raw_timestamp: ts.clone(),
            timestamp: driftwatch::tools::replay::parse_timestamp(&ts).unwrap(),
            value: v,
        });
    }
    std::fs::write(&input, csv).unwrap();
    let output = dir.path().join("scores.csv");
    let status = Command::new(BIN)
        .args(["replay", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--periods", "24"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let settings = driftwatch_stats::anomaly::DetectorSettings { periods: Some(vec![24]), ..Default::default() };
    let want = driftwatch::tools::replay::score_rows(&settings, &rows, |_| {});
    let text = std::fs::read_to_string(&output).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score"));
    let got: Vec<(String, f64)> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[0].to_string(), cells[2].parse().unwrap())
        })
        .collect();
    assert_eq!(got.len(), rows.len());
    for ((ts, score), (row, want)) in got.iter().zip(rows.iter().zip(&want)) {
        assert_eq!(ts, &row.raw_timestamp);
        assert_eq!(score, want, "{ts}");
    }
    // The spike is the one anomaly the seasonal model sees after warm-up.
    let spike = rows.iter().position(|r| r.value > 30.0).unwrap();
    assert!(want[spike] > 1.0, "spike scored {}", want[spike]);
}

#[test]
fn a_malformed_arrow_reference_is_a_start_up_error_naming_the_file_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let valid = include_bytes!("../fuzz/corpus/ingest_arrow/valid.arrows");
    // The fuzzer's stream that made polars try to allocate petabytes, and a valid one cut short.
    let cases: [(&str, &[u8]); 2] = [
        ("petabyte.arrows", include_bytes!("../fuzz/corpus/ingest_arrow/polars-petabyte-allocation.arrows")),
        ("cut.arrows", &valid[..valid.len() - 9]),
    ];
    for (name, bytes) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let path = dir.path().join("model.toml");
        std::fs::write(&path, format!("[[model]]\nname = \"a\"\nreference = \"{name}\"\nwindow = 10\n")).unwrap();
        for command in ["check", "serve"] {
            let out = Command::new(BIN)
                .args([command, "--config", path.to_str().unwrap()])
                .env("DRIFTWATCH_LISTEN", "127.0.0.1:0")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command} {name}: {:?}\n{err}", out.status);
            assert!(err.contains(name), "{command} {name}:\n{err}");
        }
    }
}

#[test]
fn sigterm_with_a_request_stuck_past_the_grace_period_exits_non_zero_saying_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f64> = (0..1000).map(|i| (i % 100) as f64).collect();
    let mut df = df!("x" => x).unwrap();
    ParquetWriter::new(std::fs::File::create(dir.path().join("reference.parquet")).unwrap()).finish(&mut df).unwrap();
    // Sliding by one row: a 300k-row batch is 298k windows to score, far longer than the grace.
    let config = dir.path().join("model.toml");
    std::fs::write(
        &config,
        "[server]\nmax_body_bytes = 8388608\nshutdown_grace_seconds = 1\n\n[[model]]\nname = \"m\"\n\
         reference = \"reference.parquet\"\nwindow = 2000\nstep = 1\n",
    )
    .unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    wait_ready(&client, &base);
    let body = json!({"model": "m", "features": {"x": vec![50.0; 300_000]}});
    let url = format!("{base}/ingest");
    std::thread::spawn(move || reqwest::blocking::Client::new().post(url).json(&body).send());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = client.get(format!("{base}/metrics")).send().unwrap().text().unwrap();
        if m.contains("driftwatch_requests_in_flight 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the request never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "SIGTERM did not end the process");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(signalled.elapsed() >= Duration::from_secs(1), "exited before the grace period");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("grace period (1 s) ran out with 1 request(s) in flight"), "{stderr}");
}
