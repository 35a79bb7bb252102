//! The HTTP API end to end through `app(state)` (no socket): ingest in every format, window semantics,
//! scores on /metrics equal to the drift functions applied directly, and every kind of bad input
//! answered with a 4xx JSON error that changes no state.

use crate::support::server as support;

use axum::http::StatusCode;
use driftwatch_stats::drift::{self, CategoricalReference, Method, NumericReference};
use serde_json::{Value, json};
use support::*;

/// A window of 50 rows: x shifted up by `shift`, y with some nulls, color mostly "red".
fn window_rows(n: usize, shift: f64) -> (Vec<f64>, Vec<Option<f64>>, Vec<&'static str>) {
    let x: Vec<f64> = (0..n).map(|i| ((i * 13) % 50) as f64 / 5.0 + shift).collect();
    let y: Vec<Option<f64>> = (0..n).map(|i| if i % 10 == 3 { None } else { Some(i as f64 / 7.0) }).collect();
    let c: Vec<&str> = (0..n).map(|i| if i % 4 == 0 { "green" } else { "red" }).collect();
    (x, y, c)
}

fn columnar(x: &[f64], y: &[Option<f64>], c: &[&str]) -> Value {
    json!({"model": "churn", "features": {"x": x, "y": y, "color": c}})
}

fn expected_scores(x: &[f64], y: &[Option<f64>], c: &[&str]) -> Vec<(&'static str, Method, f64, Option<f64>)> {
    let rows = reference_rows();
    let rx = NumericReference::fit(rows.iter().map(|r| r.0).collect(), 10).unwrap();
    let ry = NumericReference::fit(rows.iter().filter_map(|r| r.1).collect(), 10).unwrap();
    let rc = CategoricalReference::fit(rows.iter().map(|r| r.2)).unwrap();
    let mut out = Vec::new();
    let nm = [Method::Psi, Method::Ks];
    for s in drift::score_numeric(&rx, &mut x.to_vec(), &nm, 1e-4) {
        out.push(("x", s.method, s.score, s.pvalue));
    }
    for s in drift::score_numeric(&ry, &mut y.iter().flatten().copied().collect::<Vec<_>>(), &nm, 1e-4) {
        out.push(("y", s.method, s.score, s.pvalue));
    }
    let codes: Vec<u32> = c.iter().map(|v| rc.code(v)).collect();
    for s in drift::score_categorical(&rc, &codes, &[Method::Psi, Method::Chi2], 1e-4) {
        out.push(("color", s.method, s.score, s.pvalue));
    }
    out
}

fn assert_scores_exported(exposition: &str, expected: &[(&str, Method, f64, Option<f64>)]) {
    for (feature, method, score, pvalue) in expected {
        let labels = [("model_name", "churn"), ("feature", *feature), ("method", method.as_str())];
        let got = sample(exposition, "data_drift_score", &labels)
            .unwrap_or_else(|| panic!("no score for {feature}/{method:?}"));
        assert!((got - score).abs() <= 1e-12 * score.abs().max(1.0), "{feature}/{method:?}: {got} vs {score}");
        if let Some(p) = pvalue {
            let got = sample(exposition, "data_drift_pvalue", &labels).unwrap();
            assert!((got - p).abs() <= 1e-12 * p.max(1e-300), "{feature}/{method:?} p: {got} vs {p}");
        }
    }
}

#[tokio::test]
async fn window_fill_publishes_scores_equal_to_the_statistics() {
    let (_dir, state) = setup(BASIC_CONFIG);
    let (x, y, c) = window_rows(50, 2.0);
    // 30 rows: window not yet full, nothing scored.
    let (s, body) = post_json(&state, &columnar(&x[..30], &y[..30], &c[..30])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["windows_scored"].as_u64(), body["window_samples"].as_u64()),
        (Some(30), Some(0), Some(30))
    );
    assert!(sample(&metrics(&state).await, "data_drift_score", &[]).is_none());
    // The 20 that fill it: the response comes back only once the scores are on /metrics.
    let (s, body) = post_json(&state, &columnar(&x[30..], &y[30..], &c[30..])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!((body["windows_scored"].as_u64(), body["window_samples"].as_u64()), (Some(1), Some(0)));
    let m = metrics(&state).await;
    assert_scores_exported(&m, &expected_scores(&x, &y, &c));
    assert_eq!(sample(&m, "driftwatch_samples_ingested_total", &[("model_name", "churn")]), Some(50.0));
    assert_eq!(sample(&m, "driftwatch_windows_scored_total", &[("model_name", "churn")]), Some(1.0));
    assert_eq!(sample(&m, "driftwatch_missing_values_total", &[("feature", "y")]), Some(5.0));
    assert_eq!(sample(&m, "driftwatch_scoring_duration_seconds_count", &[("model_name", "churn")]), Some(1.0));
    // x shifted by 2 on a [0, 10) reference is drift by PSI and KS; decision and share are exported.
    assert_eq!(sample(&m, "data_drift_detected", &[("feature", "x")]), Some(1.0));
    let share = sample(&m, "data_drift_share", &[("model_name", "churn")]).unwrap();
    let report = &body["latest"];
    assert_eq!(report["drift_share"].as_f64(), Some(share));
    assert_eq!(
        sample(&m, "model_drift_detected", &[("model_name", "churn")]),
        Some(if share >= 0.5 { 1.0 } else { 0.0 })
    );
    assert!(m.starts_with("# HELP") && m.trim_end().ends_with("# EOF"), "OpenMetrics text");
}

#[tokio::test]
async fn rows_ndjson_and_arrow_score_exactly_like_columnar() {
    let (x, y, c) = window_rows(50, 0.5);
    let expected = expected_scores(&x, &y, &c);

    let (_d1, rows_state) = setup(BASIC_CONFIG);
    let rows: Vec<Value> = (0..50).map(|i| json!({"x": x[i], "y": y[i], "color": c[i]})).collect();
    let (s, b) = post_json(&rows_state, &json!({"model": "churn", "rows": rows})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_scores_exported(&metrics(&rows_state).await, &expected);

    let (_d2, nd_state) = setup(BASIC_CONFIG);
    let ndjson: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let (s, b) =
        call(&nd_state, "POST", "/ingest?model=churn", Some("application/x-ndjson"), ndjson.into_bytes()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_scores_exported(&metrics(&nd_state).await, &expected);

    let (_d3, arrow_state) = setup(BASIC_CONFIG);
    let mut df = polars::df!(
        "x" => x.clone(),
        "y" => y.clone(),
        "color" => c.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
    .unwrap();
    let mut buf = Vec::new();
    {
        use polars::prelude::SerWriter;
        polars::prelude::IpcStreamWriter::new(&mut buf).finish(&mut df).unwrap();
    }
    let (s, b) =
        call(&arrow_state, "POST", "/ingest?model=churn", Some("application/vnd.apache.arrow.stream"), buf).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_scores_exported(&metrics(&arrow_state).await, &expected);
}

#[tokio::test]
async fn one_batch_spanning_windows_scores_each_and_keeps_the_remainder() {
    let (_dir, state) = setup(BASIC_CONFIG);
    let (x, y, c) = window_rows(125, 0.0);
    let (s, body) = post_json(&state, &columnar(&x, &y, &c)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!((body["windows_scored"].as_u64(), body["window_samples"].as_u64()), (Some(2), Some(25)));
    assert_eq!(body["latest"]["seq"].as_u64(), Some(2));
    // The exported scores are those of the second window (rows 50..100).
    assert_scores_exported(&metrics(&state).await, &expected_scores(&x[50..100], &y[50..100], &c[50..100]));
}

#[tokio::test]
async fn sliding_window_scores_every_step() {
    let config = BASIC_CONFIG.replace("window = 50", "window = 50\nstep = 10");
    let (_dir, state) = setup(&config);
    let (x, y, c) = window_rows(70, 1.0);
    let (_, body) = post_json(&state, &columnar(&x[..50], &y[..50], &c[..50])).await;
    assert_eq!(body["windows_scored"].as_u64(), Some(1));
    let (_, body) = post_json(&state, &columnar(&x[50..], &y[50..], &c[50..])).await;
    // 20 more rows with step 10: two more windows, the last covering rows 20..70.
    assert_eq!((body["windows_scored"].as_u64(), body["window_samples"].as_u64()), (Some(2), Some(40)));
    assert_scores_exported(&metrics(&state).await, &expected_scores(&x[20..70], &y[20..70], &c[20..70]));
}

#[tokio::test]
async fn warmup_makes_the_first_samples_the_reference_and_gates_readiness() {
    let config = r#"
[[model]]
name = "churn"
window = 50
warmup = 200
features = [{ name = "x", kind = "numeric" }, { name = "y", kind = "numeric" }, { name = "color", kind = "categorical" }]
"#;
    let dir = tempfile::tempdir().unwrap();
    let state = state_with(config, dir.path());
    let (s, body) = call(&state, "GET", "/readyz", None, vec![]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let rows = reference_rows();
    let rx: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let ry: Vec<Option<f64>> = rows.iter().map(|r| r.1).collect();
    let rc: Vec<&str> = rows.iter().map(|r| r.2).collect();
    let (x, y, c) = window_rows(50, 2.0);
    // Warmup rows and the first window in one batch: the first 200 become the reference.
    let all_x: Vec<f64> = rx.iter().chain(&x).copied().collect();
    let all_y: Vec<Option<f64>> = ry.iter().chain(&y).copied().collect();
    let all_c: Vec<&str> = rc.iter().chain(&c).copied().collect();
    let (s, body) = post_json(&state, &columnar(&all_x, &all_y, &all_c)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["windows_scored"].as_u64(), Some(1));
    assert_eq!(call(&state, "GET", "/readyz", None, vec![]).await.0, StatusCode::OK);
    assert_scores_exported(&metrics(&state).await, &expected_scores(&x, &y, &c));
}

#[tokio::test]
async fn models_endpoint_reports_config_and_latest_scores() {
    let (_dir, state) = setup(BASIC_CONFIG);
    let (x, y, c) = window_rows(50, 2.0);
    post_json(&state, &columnar(&x, &y, &c)).await;
    let (s, text) = call(&state, "GET", "/v1/models", None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_str(&text).unwrap();
    let m = &v["models"][0];
    assert_eq!(
        (m["name"].as_str(), m["version"].as_str(), m["reference_samples"].as_u64()),
        (Some("churn"), Some("3"), Some(200))
    );
    let kinds: Vec<(&str, &str)> = m["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("x", "numeric"), ("y", "numeric"), ("color", "categorical")]);
    assert_eq!(m["latest"]["features"][0]["scores"][0]["method"], "psi");
    assert_eq!(call(&state, "GET", "/v1/models/nope", None, vec![]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&state, "GET", "/healthz", None, vec![]).await.0, StatusCode::OK);
}

/// Each bad request: expected status, the field the error must name, and the body.
fn bad_requests() -> Vec<(&'static str, StatusCode, &'static str, &'static str, Vec<u8>)> {
    let j = |v: Value| serde_json::to_vec(&v).unwrap();
    let json = "application/json";
    vec![
        ("invalid JSON", StatusCode::BAD_REQUEST, json, "", b"{\"model\": \"churn\", \"features\": {".to_vec()),
        ("wrong content type", StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain", "Content-Type", b"x=1".to_vec()),
        (
            "body over the limit",
            StatusCode::PAYLOAD_TOO_LARGE,
            json,
            "body",
            j(json!({"model": "churn", "features": {"x": vec![1.0; 20000]}})),
        ),
        ("unknown model", StatusCode::NOT_FOUND, json, "model", j(json!({"model": "nope", "features": {"x": [1.0]}}))),
        ("no model", StatusCode::BAD_REQUEST, json, "model", j(json!({"features": {"x": [1.0]}}))),
        (
            "unknown feature",
            StatusCode::UNPROCESSABLE_ENTITY,
            json,
            "features.z",
            j(json!({"model": "churn", "features": {"x": [1.0], "z": [2.0]}})),
        ),
        (
            "unknown feature in rows",
            StatusCode::UNPROCESSABLE_ENTITY,
            json,
            "rows[1].z",
            j(json!({"model": "churn", "rows": [{"x": 1.0}, {"z": 2.0}]})),
        ),
        (
            "mismatched lengths",
            StatusCode::UNPROCESSABLE_ENTITY,
            json,
            "features.y",
            j(json!({"model": "churn", "features": {"x": [1.0, 2.0], "y": [1.0]}})),
        ),
        (
            "string for a number",
            StatusCode::UNPROCESSABLE_ENTITY,
            json,
            "features.x[1]",
            j(json!({"model": "churn", "features": {"x": [1.0, "2"]}})),
        ),
        (
            "float for a category",
            StatusCode::UNPROCESSABLE_ENTITY,
            json,
            "features.color[0]",
            j(json!({"model": "churn", "features": {"color": [1.5]}})),
        ),
        (
            "column not an array",
            StatusCode::BAD_REQUEST,
            json,
            "features.x",
            j(json!({"model": "churn", "features": {"x": 1.0}})),
        ),
        (
            "empty batch",
            StatusCode::UNPROCESSABLE_ENTITY,
            json,
            "features",
            j(json!({"model": "churn", "features": {"x": []}})),
        ),
        (
            "no columns",
            StatusCode::UNPROCESSABLE_ENTITY,
            json,
            "features",
            j(json!({"model": "churn", "features": {}})),
        ),
        ("empty rows", StatusCode::UNPROCESSABLE_ENTITY, json, "rows", j(json!({"model": "churn", "rows": []}))),
        (
            "both shapes",
            StatusCode::BAD_REQUEST,
            json,
            "rows",
            j(json!({"model": "churn", "features": {"x": [1.0]}, "rows": [{"x": 1.0}]})),
        ),
        (
            "unknown top-level key",
            StatusCode::BAD_REQUEST,
            json,
            "",
            j(json!({"model": "churn", "feature": {"x": [1.0]}})),
        ),
        (
            "duplicate feature key",
            StatusCode::BAD_REQUEST,
            json,
            "features",
            br#"{"model": "churn", "features": {"x": [1.0], "x": [2.0]}}"#.to_vec(),
        ),
        (
            "duplicate key in a row",
            StatusCode::BAD_REQUEST,
            json,
            "rows[0]",
            br#"{"model": "churn", "rows": [{"x": 1.0, "x": 2.0}]}"#.to_vec(),
        ),
        (
            "duplicate model key",
            StatusCode::BAD_REQUEST,
            json,
            "",
            br#"{"model": "churn", "model": "other", "features": {"x": [1.0]}}"#.to_vec(),
        ),
        (
            "duplicate key on an NDJSON line",
            StatusCode::BAD_REQUEST,
            "application/x-ndjson",
            "line[1]",
            b"{\"x\": 1.0, \"x\": 2.0}\n".to_vec(),
        ),
        (
            "bad NDJSON line",
            StatusCode::BAD_REQUEST,
            "application/x-ndjson",
            "line[2]",
            b"{\"x\": 1.0}\n{\"x\": \n".to_vec(),
        ),
        ("NDJSON without rows", StatusCode::UNPROCESSABLE_ENTITY, "application/x-ndjson", "body", b"\n\n".to_vec()),
        (
            "invalid Arrow",
            StatusCode::BAD_REQUEST,
            "application/vnd.apache.arrow.stream",
            "body",
            b"ARROW1\x00\x00garbage".to_vec(),
        ),
    ]
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_naming_the_field_and_changes_nothing() {
    let (_dir, state) = setup(BASIC_CONFIG);
    let (x, y, c) = window_rows(50, 2.0);
    // Some accepted data first, so "changes nothing" has something to keep.
    post_json(&state, &columnar(&x[..20], &y[..20], &c[..20])).await;
    let before = metrics(&state).await;
    let mut rejected = 0.0;
    for (what, status, ct, field, body) in bad_requests() {
        let uri = if ct.contains("json") && !ct.contains("nd") { "/ingest" } else { "/ingest?model=churn" };
        let (s, text) = call(&state, "POST", uri, Some(ct), body).await;
        assert_eq!(s, status, "{what}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {v}");
        if !field.is_empty() {
            assert_eq!(v["field"].as_str(), Some(field), "{what}: {v}");
        }
        rejected += 1.0;
    }
    let after = metrics(&state).await;
    for name in ["driftwatch_samples_ingested_total", "driftwatch_window_samples"] {
        assert_eq!(
            sample(&after, name, &[("model_name", "churn")]),
            sample(&before, name, &[("model_name", "churn")]),
            "{name}"
        );
    }
    let total: f64 = after
        .lines()
        .filter(|l| l.starts_with("driftwatch_requests_rejected_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, rejected);
    assert_eq!(sample(&after, "driftwatch_requests_rejected_total", &[("reason", "unknown_model")]), Some(1.0));
    // And the window still completes exactly as if nothing bad had arrived in between.
    let (_, body) = post_json(&state, &columnar(&x[20..], &y[20..], &c[20..])).await;
    assert_eq!(body["windows_scored"].as_u64(), Some(1));
    assert_scores_exported(&metrics(&state).await, &expected_scores(&x, &y, &c));
}

#[tokio::test]
async fn absent_features_and_nulls_count_as_missing_and_stay_out_of_the_statistics() {
    let (_dir, state) = setup(BASIC_CONFIG);
    let (x, _, _) = window_rows(50, 0.0);
    let (s, body) = post_json(&state, &json!({"model": "churn", "features": {"x": x}})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["missing"].as_u64(), Some(100));
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_missing_values_total", &[("feature", "color")]), Some(50.0));
    // Features with no values in the window export no score rather than a stale or fake one.
    assert!(sample(&m, "data_drift_score", &[("feature", "y")]).is_none());
    assert!(sample(&m, "data_drift_score", &[("feature", "x"), ("method", "psi")]).is_some());
}

#[tokio::test]
async fn warmup_waits_for_a_value_in_every_feature_instead_of_fitting_an_empty_reference() {
    let config = r#"
[[model]]
name = "churn"
window = 10
warmup = 20
features = [{ name = "x", kind = "numeric" }, { name = "color", kind = "categorical" }]
"#;
    let dir = tempfile::tempdir().unwrap();
    let state = state_with(config, dir.path());
    // 20 rows with no color at all: the warmup target is met but color has nothing to fit.
    let x: Vec<f64> = (0..20).map(f64::from).collect();
    let (s, body) = post_json(&state, &json!({"model": "churn", "features": {"x": x}})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(call(&state, "GET", "/readyz", None, vec![]).await.0, StatusCode::SERVICE_UNAVAILABLE);
    // The next batch brings color: it completes the warmup (all 5 rows join the reference).
    let (s, body) = post_json(
        &state,
        &json!({"model": "churn", "features": {"x": [1.0, 2.0, 3.0, 4.0, 5.0], "color": ["a", "b", "a", "b", "a"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(call(&state, "GET", "/readyz", None, vec![]).await.0, StatusCode::OK);
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_reference_samples", &[("model_name", "churn")]), Some(25.0));
    // Windows work afterwards.
    let (_, body) =
        post_json(&state, &json!({"model": "churn", "features": {"x": vec![3.0; 10], "color": vec!["a"; 10]}})).await;
    assert_eq!(body["windows_scored"].as_u64(), Some(1), "{body}");
}

#[tokio::test]
async fn query_string_and_path_errors_are_json_400s_naming_the_field_and_counted() {
    let (_dir, state) = setup(BASIC_CONFIG);
    let nd = b"{\"x\": 1.0}\n".to_vec();
    for (uri, field) in [
        ("/ingest?model=churn&model=other", "model"),
        ("/ingest?model=churn&model=churn", "model"),
        ("/v1/models/%FF%FE", "name"),
        ("/models/%FF/report", "name"),
    ] {
        let method = if uri.starts_with("/ingest") { "POST" } else { "GET" };
        let (status, text) = call(&state, method, uri, Some("application/x-ndjson"), nd.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{uri}: not JSON: {text}"));
        assert_eq!(body["field"], field, "{uri}: {body}");
    }
    let (status, _) = call(&state, "GET", "/no/such/endpoint", None, vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_requests_rejected_total", &[("reason", "invalid_query")]), Some(2.0), "{m}");
    assert_eq!(sample(&m, "driftwatch_requests_rejected_total", &[("reason", "invalid_path")]), Some(2.0));
    assert_eq!(sample(&m, "driftwatch_requests_rejected_total", &[("reason", "not_found")]), Some(1.0));
    // Nothing of those requests reached the model.
    assert_eq!(sample(&m, "driftwatch_samples_ingested_total", &[("model_name", "churn")]), Some(0.0));
}
