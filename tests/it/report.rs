//! The drift report: `driftwatch report` on two files and `GET /models/{name}/report` on a running
//! model show exactly the scores, p-values and thresholds the sidecar exports for the same rows (read
//! from each number's `data-value`, compared bit for bit with `/v1/models`), its data quality, one
//! histogram per feature and one chart per pushed series.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use polars::prelude::*;
use serde_json::{Value, json};

use crate::support::server as support;
use support::{call, post_json, state_with};

const BIN: &str = env!("CARGO_BIN_EXE_driftwatch");

/// (feature, method, what) → value, `what` being score, pvalue or threshold.
pub(crate) type Scores = BTreeMap<(String, String, String), f64>;

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// Every number of a report page's feature table, from its `data-value`.
pub(crate) fn page_scores(html: &str) -> Scores {
    let mut out = Scores::new();
    for cell in html.split("<td class=\"num ").skip(1) {
        let tag = &cell[..cell.find('>').unwrap()];
        let what = tag.split('"').next().unwrap();
        if let (Some(f), Some(m), Some(v)) =
            (attr(tag, "data-feature"), attr(tag, "data-method"), attr(tag, "data-value"))
        {
            out.insert((f.into(), m.into(), what.into()), v.parse().unwrap());
        }
    }
    out
}

/// The same numbers from `/v1/models/{name}`'s latest window.
pub(crate) fn api_scores(model: &Value) -> Scores {
    let mut out = Scores::new();
    for f in model["latest"]["features"].as_array().unwrap() {
        for s in f["scores"].as_array().unwrap() {
            let key =
                |what: &str| (f["name"].as_str().unwrap().into(), s["method"].as_str().unwrap().into(), what.into());
            out.insert(key("score"), s["score"].as_f64().unwrap());
            out.insert(key("threshold"), s["threshold"].as_f64().unwrap());
            if let Some(p) = s["pvalue"].as_f64() {
                out.insert(key("pvalue"), p);
            }
        }
    }
    out
}

const CONFIG: &str = r#"
[[model]]
name = "m"
reference = "reference.parquet"
window = 400
correction = "bonferroni"

[model.thresholds]
psi = 0.15

[[model.features]]
name = "x"
methods = ["psi", "ks", "wasserstein", "jensenshannon"]

[[model.features]]
name = "y"

[[model.features]]
name = "plan"
methods = ["psi", "chi2", "jensenshannon"]
"#;

/// A deterministic spread in [0, 1).
fn u(i: usize, salt: usize) -> f64 {
    ((i * 7919 + salt * 104_729) % 1000) as f64 / 1000.0
}

/// Reference 2,000 rows; current 400 rows with x shifted, 10 y missing, plan mix changed and an
/// unseen plan.
fn write_files(dir: &Path) -> DataFrame {
    let reference = df!(
        "x" => (0..2000).map(|i| u(i, 1) * 10.0).collect::<Vec<f64>>(),
        "y" => (0..2000).map(|i| Some(u(i, 2) * u(i, 3))).collect::<Vec<Option<f64>>>(),
        "plan" => (0..2000).map(|i| ["basic", "pro", "team"][i % 3]).collect::<Vec<&str>>(),
    )
    .unwrap();
    let mut current = df!(
        "x" => (0..400).map(|i| u(i, 4) * 10.0 + 1.5).collect::<Vec<f64>>(),
        "y" => (0..400).map(|i| (i % 40 != 0).then(|| u(i, 5) * u(i, 6))).collect::<Vec<Option<f64>>>(),
        "plan" => (0..400).map(|i| ["basic", "pro", "pro", "enterprise"][i % 4]).collect::<Vec<&str>>(),
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("reference.parquet")).unwrap())
        .finish(&mut reference.clone())
        .unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("current.parquet")).unwrap()).finish(&mut current).unwrap();
    std::fs::write(dir.join("model.toml"), CONFIG).unwrap();
    current
}

/// Every column of `frame` as one JSON /ingest body for `model` (exact floats, nulls for missing).
pub(crate) fn frame_body(model: &str, frame: &DataFrame) -> Value {
    let mut columns = serde_json::Map::new();
    for c in frame.columns() {
        let values: Vec<Value> = match c.dtype() {
            DataType::String => c.str().unwrap().iter().map(|v| json!(v)).collect(),
            _ => c.cast(&DataType::Float64).unwrap().f64().unwrap().iter().map(|v| json!(v)).collect(),
        };
        columns.insert(c.name().to_string(), Value::Array(values));
    }
    json!({"model": model, "features": columns})
}

async fn sidecar_model(state: &std::sync::Arc<driftwatch::server::AppState>) -> Value {
    let (status, text) = call(state, "GET", "/v1/models/m", None, Vec::new()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_offline_and_live_reports_show_exactly_the_scores_the_sidecar_exports_for_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let current = write_files(dir.path());
    let out = dir.path().join("report.html");
    let run = Command::new(BIN)
        .args(["report", "--reference"])
        .arg(dir.path().join("reference.parquet"))
        .arg("--current")
        .arg(dir.path().join("current.parquet"))
        .arg("--config")
        .arg(dir.path().join("model.toml"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("400 rows") && stdout.contains("model drift detected"), "{stdout}");
    let offline = std::fs::read_to_string(&out).unwrap();

    let state = state_with(CONFIG, dir.path());
    let (status, body) = post_json(&state, &frame_body("m", &current)).await;
    assert_eq!((status, body["windows_scored"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    let expected = api_scores(&sidecar_model(&state).await);
    // 4 + 2 + 3 methods, with p-values for ks, ks and chi2.
    assert_eq!(expected.len(), 9 * 2 + 3);
    assert_eq!(page_scores(&offline), expected, "offline report vs /v1/models");

    let (status, live) = call(&state, "GET", "/models/m/report", None, Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page_scores(&live), expected, "live report vs /v1/models");

    for page in [&offline, &live] {
        assert!(page.contains("data-model-drift=\"true\""));
        // 10 of 400 y values are missing; a quarter of the plans were never in the reference.
        assert!(page.contains("<td class=\"num missing\" rowspan=\"2\">2.50%</td>"), "missing share of y");
        assert!(page.contains("<td class=\"num outside\" rowspan=\"3\">25.00%</td>"), "unseen share of plan");
        assert!(page.contains("(unseen)"));
        // One histogram per feature, each with bars.
        let charts: Vec<&str> = page.split("<figure class=\"chart histogram\"").skip(1).collect();
        assert_eq!(charts.len(), 3);
        for chart in charts {
            let svg = &chart[..chart.find("</figure>").unwrap()];
            assert!(svg.contains("<svg") && svg.matches("<rect").count() >= 4, "{svg}");
        }
        assert!(!page.contains("<script"), "the page needs no scripts");
    }
}

#[tokio::test]
async fn the_live_report_says_when_no_window_was_scored_and_an_unknown_model_is_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let state = state_with(CONFIG, dir.path());
    let (status, page) = call(&state, "GET", "/models/m/report", None, Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No window scored yet") && page.contains("0 of 400 samples"), "{page}");
    let (status, body) = call(&state, "GET", "/models/nope/report", None, Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["reason"], "unknown_model", "{body}");
}

#[tokio::test]
async fn the_live_report_draws_each_pushed_series_up_to_its_newest_score() {
    let (_dir, state) = support::setup(support::BASIC_CONFIG);
    let ts: Vec<f64> = (0..40).map(|i| 1_700_000_000.0 + 60.0 * f64::from(i)).collect();
    let vs: Vec<f64> = (0..40).map(|i| if i == 39 { 50.0 } else { 1.0 + f64::from(i % 5) * 0.1 }).collect();
    let body = json!({"model": "churn", "series": {"latency": {"timestamps": ts, "values": vs}}});
    let (status, pushed) = post_json(&state, &body).await;
    assert_eq!(status, StatusCode::OK, "{pushed}");
    let newest = pushed["series"]["latest"]["latency"]["score"].as_f64().unwrap();
    assert!(newest > 1.0, "the last point is a spike: {pushed}");
    let (_, page) = call(&state, "GET", "/models/churn/report", None, Vec::new()).await;
    let figure = page.split("<figure class=\"chart series\" data-series=\"latency\">").nth(1).expect("a series chart");
    assert!(figure[..figure.find("</figure>").unwrap()].contains("<circle"), "points drawn");
    assert!(page.contains(&format!("anomaly_score <span data-value=\"{newest}\">")), "newest score shown");
}

#[test]
fn without_a_config_every_reference_column_gets_the_defaults_and_a_missing_column_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let out = dir.path().join("defaults.html");
    let report = |current: &Path| {
        Command::new(BIN)
            .args(["report", "--reference"])
            .arg(dir.path().join("reference.parquet"))
            .arg("--current")
            .arg(current)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap()
    };
    let run = report(&dir.path().join("current.parquet"));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let scores = page_scores(&std::fs::read_to_string(&out).unwrap());
    let methods: Vec<(&str, &str)> =
        scores.keys().filter(|k| k.2 == "score").map(|(f, m, _)| (f.as_str(), m.as_str())).collect();
    // Numeric columns: PSI and KS; string columns: PSI and chi-squared.
    assert_eq!(methods, [("plan", "chi2"), ("plan", "psi"), ("x", "ks"), ("x", "psi"), ("y", "ks"), ("y", "psi")]);

    let mut partial = df!("x" => [1.0, 2.0], "plan" => ["basic", "pro"]).unwrap();
    let partial_path = dir.path().join("partial.parquet");
    ParquetWriter::new(std::fs::File::create(&partial_path).unwrap()).finish(&mut partial).unwrap();
    let run = report(&partial_path);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("\"y\""), "the error names the missing column: {stderr}");
}
