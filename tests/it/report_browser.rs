//! The demo drift report in a real browser (Debian's headless Chromium): it loads with no console
//! messages, every chart is there and drawn, and the numbers in the rendered page are the scores the
//! sidecar exports for the same rows.

use std::path::{Path, PathBuf};
use std::process::Command;

use polars::prelude::*;

use super::report::{api_scores, frame_body, page_scores};
use crate::support::server::{call, post_json, state_with};

const BIN: &str = env!("CARGO_BIN_EXE_driftwatch");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Chromium's rendered DOM of `page` and what it logged (console messages appear as `CONSOLE` lines).
fn chromium(page: &Path, profile: &Path, extra: &[&str]) -> (String, String) {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (tests/run.sh installs Debian's)");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn console_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

#[tokio::test]
async fn the_demo_report_renders_in_chromium_without_console_messages_with_every_chart_and_the_sidecars_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let run = Command::new(BIN)
        .args(["report", "--config", "models/demo.toml", "--reference", "datasets/demo/reference.csv"])
        .args(["--current", "datasets/demo/current.csv", "--output"])
        .arg(&page)
        .current_dir(repo(""))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    // The console check itself catches an error when there is one.
    let control = dir.path().join("control.html");
    std::fs::write(&control, "<!doctype html><script>console.error('planted')</script>").unwrap();
    let (_, log) = chromium(&control, &dir.path().join("profile-control"), &["--dump-dom"]);
    assert!(console_lines(&log).iter().any(|l| l.contains("planted")), "console messages not seen:\n{log}");

    let (dom, log) = chromium(&page, &dir.path().join("profile"), &["--dump-dom"]);
    assert!(console_lines(&log).is_empty(), "console messages:\n{}", console_lines(&log).join("\n"));
    assert!(dom.contains("Drift report: demo-churn"), "not rendered:\n{dom}");
    let features = ["age", "tenure_months", "monthly_charges", "support_calls", "plan", "region"];
    for f in features {
        let at = dom.find(&format!("data-feature=\"{f}\"><svg")).unwrap_or_else(|| panic!("no chart for {f}"));
        let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
        assert!(svg.matches("<rect").count() >= 6, "{f}'s chart has no bars");
    }

    // The same rows through the sidecar, as one window.
    let demo = std::fs::read_to_string(repo("models/demo.toml")).unwrap().replace("window = 2000", "window = 5000");
    let state = state_with(&demo, &repo("models"));
    let current = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(repo("datasets/demo/current.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let (_, body) = post_json(&state, &frame_body("demo-churn", &current)).await;
    assert_eq!(body["windows_scored"], 1, "{body}");
    let (_, model) = call(&state, "GET", "/v1/models/demo-churn", None, Vec::new()).await;
    let expected = api_scores(&serde_json::from_str(&model).unwrap());
    assert_eq!(page_scores(&dom), expected, "rendered page vs /v1/models");

    // What is shown is the exact value to four significant digits, not another number.
    for cell in dom.split("<td class=\"num score\"").skip(1) {
        let value: f64 = cell.split("data-value=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        let shown: f64 = cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].parse().unwrap();
        assert!((shown - value).abs() <= 5e-4 * value.abs(), "shown {shown} for {value}");
    }

    let shot = dir.path().join("report.png");
    let screenshot = format!("--screenshot={}", shot.display());
    chromium(&page, &dir.path().join("profile-shot"), &[&screenshot, "--window-size=1200,2600", "--hide-scrollbars"]);
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 50_000, "no screenshot");
}
