//! Model quality through the sidecar: predictions with ids and probabilities ride along with the
//! features on `/ingest`, labels arrive later on `POST /labels`, and every window of joined rows
//! is exported as `model_performance{metric}` and `model_accuracy` — the statistics crate's
//! metrics (scikit-learn's, tests/golden/performance.json) of exactly the joined rows. What does
//! not join is counted; bad bodies get a 4xx naming the field and change nothing.

use axum::http::StatusCode;
use driftwatch_stats::performance::metrics::{Task, classification_metrics, regression_metrics};
use serde_json::{Value, json};

use crate::support::server::{call, metrics, post_json, sample, setup};

const BINARY: &str = r#"
[[model]]
name = "churn"
reference = "reference.csv"
window = 50

[model.performance]
task = "binary"
positive_class = "yes"
window = 40
"#;

async fn post_labels(state: &std::sync::Arc<driftwatch::server::AppState>, body: &Value) -> (StatusCode, Value) {
    let (s, text) = call(state, "POST", "/labels", Some("application/json"), serde_json::to_vec(body).unwrap()).await;
    (s, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// 50 rows: ids "r0".., a probability of "yes" spread over [0, 1), the prediction at 0.5, and a
/// label that agrees with it on most rows.
fn predictions() -> (Vec<String>, Vec<f64>, Vec<&'static str>, Vec<&'static str>) {
    let ids = (0..50).map(|i| format!("r{i}")).collect();
    let p: Vec<f64> = (0..50).map(|i| ((i * 37) % 50) as f64 / 50.0).collect();
    let pred = p.iter().map(|&p| if p >= 0.5 { "yes" } else { "no" }).collect();
    let truth = (0..50).map(|i| if (i * 37 % 50 >= 25) != (i % 7 == 0) { "yes" } else { "no" }).collect();
    (ids, p, pred, truth)
}

#[tokio::test]
async fn labels_joined_to_predictions_export_scikit_learns_metrics_of_the_joined_window() {
    let (_dir, state) = setup(BINARY);
    let (ids, p, pred, truth) = predictions();
    let x: Vec<f64> = (0..50).map(|i| i as f64 / 5.0).collect();
    let body = json!({"model": "churn", "features": {"x": x}, "ids": ids, "predictions": pred,
        "probabilities": {"yes": p, "no": p.iter().map(|v| 1.0 - v).collect::<Vec<_>>()}});
    let (s, r) = post_json(&state, &body).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["predictions"], json!({"accepted": 50, "pending": 50, "expired": 0, "windows_estimated": 0}));

    // Labels for 45 of them plus 2 unknown ids: 40 fill a window, 5 wait.
    let mut label_ids: Vec<Value> = ids[..45].iter().map(|s| json!(s)).collect();
    let mut labels: Vec<Value> = truth[..45].iter().map(|s| json!(s)).collect();
    label_ids.extend([json!("nope"), json!(12345)]);
    labels.extend([json!("yes"), json!("no")]);
    let (s, r) = post_labels(&state, &json!({"model": "churn", "ids": label_ids, "labels": labels})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["joined"].as_u64(), r["unmatched"].as_u64(), r["windows_evaluated"].as_u64()),
        (Some(45), Some(2), Some(1))
    );
    assert_eq!(r["pending"].as_u64(), Some(5));

    let index = |s: &str| u32::from(s == "yes");
    let t: Vec<u32> = truth[..40].iter().map(|s| index(s)).collect();
    let y: Vec<u32> = pred[..40].iter().map(|s| index(s)).collect();
    let probs: Vec<f64> = p[..40].iter().flat_map(|&v| [1.0 - v, v]).collect();
    let want = classification_metrics(&t, &y, 2, Task::Binary { positive: 1 }, Some(&probs));
    let m = metrics(&state).await;
    let got = |metric: &str| sample(&m, "model_performance", &[("model_name", "churn"), ("metric", metric)]);
    for (metric, value) in [
        ("accuracy", Some(want.accuracy)),
        ("precision", Some(want.precision)),
        ("recall", Some(want.recall)),
        ("f1", Some(want.f1)),
        ("roc_auc", want.roc_auc),
        ("log_loss", want.log_loss),
        ("calibration_error", want.calibration_error),
    ] {
        let (g, w) = (got(metric).unwrap_or_else(|| panic!("{metric} missing")), value.unwrap());
        assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{metric}: {g} vs {w}");
    }
    assert_eq!(sample(&m, "model_accuracy", &[("model_name", "churn")]), Some(want.accuracy));
    assert_eq!(sample(&m, "driftwatch_labels_joined_total", &[("model_name", "churn")]), Some(45.0));
    assert_eq!(sample(&m, "driftwatch_labels_unmatched_total", &[("model_name", "churn")]), Some(2.0));
    assert_eq!(sample(&m, "driftwatch_predictions_pending", &[("model_name", "churn")]), Some(5.0));
    // A second label for a joined id finds nothing waiting.
    let (_, r) = post_labels(&state, &json!({"model": "churn", "ids": ["r0"], "labels": ["yes"]})).await;
    assert_eq!(r["unmatched"].as_u64(), Some(1));
}

#[tokio::test]
async fn regression_labels_in_ndjson_export_mae_rmse_mape_and_r2() {
    let config = r#"
[[model]]
name = "churn"
reference = "reference.csv"
window = 50
[model.performance]
task = "regression"
window = 10
"#;
    let (_dir, state) = setup(config);
    let preds: Vec<f64> = (0..10).map(|i| i as f64 * 1.5).collect();
    let truth: Vec<f64> = (0..10).map(|i| i as f64 * 1.5 + if i % 2 == 0 { 0.5 } else { -1.0 }).collect();
    // Rows with predictions and no features: nothing goes to the drift window.
    let rows: Vec<Value> = (0..10).map(|i| json!({"id": i, "prediction": preds[i]})).collect();
    let (s, r) = post_json(&state, &json!({"model": "churn", "rows": rows})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["accepted"].as_u64(), Some(0));
    let ndjson: String = (0..10).map(|i| format!("{{\"id\": {i}, \"label\": {}}}\n", truth[i])).collect();
    let (s, text) =
        call(&state, "POST", "/labels?model=churn", Some("application/x-ndjson"), ndjson.into_bytes()).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let want = regression_metrics(&truth, &preds);
    let m = metrics(&state).await;
    for (metric, w) in [("mae", want.mae), ("rmse", want.rmse), ("mape", want.mape), ("r2", want.r2)] {
        let g = sample(&m, "model_performance", &[("metric", metric)]).unwrap();
        assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{metric}: {g} vs {w}");
    }
    assert!(sample(&m, "model_accuracy", &[]).is_none(), "no accuracy for a regression model");
}

#[tokio::test]
async fn bad_predictions_and_labels_get_a_4xx_naming_the_field_and_change_nothing() {
    let config = r#"
[[model]]
name = "churn"
reference = "reference.csv"
window = 50
[model.performance]
task = "multiclass"
classes = ["a", "b", "c"]
window = 10
"#;
    let (_dir, state) = setup(config);
    let cases = [
        (json!({"model": "churn", "ids": [1, 2], "predictions": ["a", "z"]}), "predictions[1]"),
        (json!({"model": "churn", "ids": [1], "predictions": ["a", "b"]}), "ids"),
        (json!({"model": "churn", "ids": [1.5], "predictions": ["a"]}), "ids[0]"),
        (
            json!({"model": "churn", "predictions": ["a"], "probabilities": {"a": [0.5], "b": [0.5]}}),
            "probabilities[0]",
        ),
        (
            json!({"model": "churn", "predictions": ["a"], "probabilities": {"a": [2.0], "b": [0.0], "c": [0.0]}}),
            "probabilities[0].a",
        ),
        (json!({"model": "churn", "features": {"x": [1.0, 2.0]}, "predictions": ["a"]}), "predictions"),
        (json!({"model": "churn", "rows": [{"x": 1.0, "id": "q", "prediction": "zz"}]}), "rows[0].prediction"),
    ];
    for (body, field) in cases {
        let (s, r) = post_json(&state, &body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {r}");
        assert_eq!(r["field"], field, "{body}: {r}");
    }
    let label_cases = [
        (json!({"model": "churn", "ids": [1], "labels": ["zz"]}), "labels[0]"),
        (json!({"model": "churn", "ids": [1, 2], "labels": ["a"]}), "labels"),
        (json!({"model": "churn", "ids": [null], "labels": ["a"]}), "ids[0]"),
    ];
    for (body, field) in label_cases {
        let (s, r) = post_labels(&state, &body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {r}");
        assert_eq!(r["field"], field, "{body}: {r}");
    }
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_samples_ingested_total", &[("model_name", "churn")]), Some(0.0));
    assert!(sample(&m, "driftwatch_predictions_pending", &[]).is_none_or(|v| v == 0.0));
    // A model without [model.performance] takes no predictions.
    let (_d2, plain) = setup(crate::support::server::BASIC_CONFIG);
    let (s, r) = post_json(&plain, &json!({"model": "churn", "features": {"x": [1.0]}, "predictions": ["a"]})).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("predictions")), "{r}");
}

/// Labels arrive days and restarts later: the waiting predictions and the partly joined window
/// are in the snapshot, so labels sent after a restart join and evaluate exactly as without one.
#[tokio::test]
async fn predictions_waiting_at_a_restart_still_join_their_labels_after_it() {
    let config = format!("[server]\ndata_dir = \"data\"\n{BINARY}");
    let dir = tempfile::tempdir().unwrap();
    crate::support::server::write_reference(dir.path());
    let build = || crate::support::server::state_with(&config, dir.path());
    let (ids, p, pred, truth) = predictions();
    let body = json!({"model": "churn", "ids": ids, "predictions": pred, "probabilities": {"yes": p}});
    let labels =
        |range: std::ops::Range<usize>| json!({"model": "churn", "ids": ids[range.clone()], "labels": truth[range]});

    // Uninterrupted.
    let (_d, straight) = setup(BINARY);
    post_json(&straight, &body).await;
    post_labels(&straight, &labels(0..25)).await;
    let (_, want) = post_labels(&straight, &labels(25..50)).await;

    // With a restart after the first 25 labels.
    let first = build();
    post_json(&first, &body).await;
    post_labels(&first, &labels(0..25)).await;
    first.write_snapshot(&dir.path().join("data")).unwrap();
    drop(first);
    let second = build();
    let (s, got) = post_labels(&second, &labels(25..50)).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!((got["joined"].as_u64(), got["unmatched"].as_u64()), (Some(25), Some(0)), "{got}");
    for key in ["seq", "rows", "metrics"] {
        assert_eq!(got["latest"][key], want["latest"][key], "{key}: after the restart as without one");
    }
    assert!(got["latest"]["metrics"]["roc_auc"].is_f64(), "{got}");
}

/// `accuracy_target`: an evaluation below it asks for a retrain through the same outbox, carrying
/// the evaluation.
#[tokio::test]
async fn accuracy_below_the_target_requests_a_retrain_with_the_evaluation() {
    let rx = crate::support::receiver::Receiver::start("127.0.0.1:0", &[]).await;
    let config = format!(
        "[server]\ndata_dir = \"data\"\n{BINARY}accuracy_target = 0.99\n[model.retrain]\nurl = \"{}\"\ntriggers = [\"performance\"]\n",
        rx.url()
    );
    let dir = tempfile::tempdir().unwrap();
    crate::support::server::write_reference(dir.path());
    let state = crate::support::server::state_with(&config, dir.path());
    state.start_background();
    let (ids, _, pred, truth) = predictions();
    post_json(&state, &json!({"model": "churn", "ids": ids, "predictions": pred})).await;
    let (_, r) = post_labels(&state, &json!({"model": "churn", "ids": ids[..40], "labels": truth[..40]})).await;
    let accuracy = r["latest"]["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy < 0.99, "{accuracy}");
    let got = rx.wait_for(1, std::time::Duration::from_secs(10)).await;
    let payload = got[0].json();
    assert_eq!(payload["trigger"], "performance", "{payload}");
    assert_eq!(payload["performance"]["rows"], 40);
    assert!(payload["reason"].as_str().unwrap().contains("below the target 0.99"), "{payload}");
}

/// `estimate = true`: every window of predictions with probabilities gets NannyML's CBPE estimate
/// (the statistics crate's, equal to NannyML's on tests/golden/cbpe.json), calibrated on the
/// reference file's labelled predictions, before any label arrives.
#[tokio::test]
async fn cbpe_estimates_each_window_of_predictions_from_the_references_labelled_predictions() {
    use driftwatch_stats::performance::cbpe::CbpeReference;
    // A reference whose probabilities are overconfident (calibration has work to do).
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (mut y, mut yhat, mut pr) = (Vec::new(), Vec::new(), Vec::new());
    let mut csv = String::from("x,label,prediction,probability\n");
    for i in 0..2000 {
        let truth_p = u();
        let label = u() < truth_p;
        // Rounded so the CSV holds exactly these values.
        let proba = ((truth_p.powf(0.5) * 1e6).round()) / 1e6;
        let pred = proba >= 0.5;
        csv +=
            &format!("{},{},{},{proba}\n", i % 10, if label { "yes" } else { "no" }, if pred { "yes" } else { "no" });
        y.push(label);
        yhat.push(pred);
        pr.push(proba);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("reference.csv"), csv).unwrap();
    let config = r#"
[[model]]
name = "churn"
reference = "reference.csv"
window = 500
[model.performance]
task = "binary"
positive_class = "yes"
window = 500
estimate = true
"#;
    let state = crate::support::server::state_with(config, dir.path());
    // label, prediction and probability are not features.
    let (_, models) = call(&state, "GET", "/v1/models", None, Vec::new()).await;
    let v: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(v["models"][0]["features"].as_array().unwrap().len(), 1, "{models}");

    let want = CbpeReference::fit(&y, &yhat, &pr, 500).unwrap();
    let window_p: Vec<f64> = (0..500).map(|i| ((i * 7919) % 500) as f64 / 500.0).collect();
    let window_pred: Vec<bool> = window_p.iter().map(|&p| p >= 0.5).collect();
    let body = json!({"model": "churn", "predictions": window_pred.iter().map(|&b| if b { "yes" } else { "no" }).collect::<Vec<_>>(),
        "probabilities": {"yes": window_p}});
    let (st, r) = post_json(&state, &body).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["predictions"]["windows_estimated"], 1, "{r}");
    let m = metrics(&state).await;
    for e in want.estimate(&window_pred, &window_p) {
        let l = [("model_name", "churn"), ("metric", e.metric.name())];
        assert_eq!(sample(&m, "model_performance_estimated", &l), Some(e.value), "{}", e.metric.name());
        assert_eq!(sample(&m, "model_performance_estimated_lower", &l), Some(e.lower));
        assert_eq!(sample(&m, "model_performance_estimated_upper", &l), Some(e.upper));
    }
}
