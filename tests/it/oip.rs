//! Model-server payloads through `app(state)`: Open Inference Protocol (KServe v2) and KServe v1
//! requests and responses on `POST /ingest/oip/{model}`, KServe inference logger CloudEvents
//! (binary and structured mode) on `POST /ingest/kserve`. Payloads are shaped as KServe documents
//! them (its v2 protocol's examples, the logger sample's events). Each is held to the columnar
//! JSON body carrying the same data: the drift scores on `/metrics`, the predictions waiting and
//! the quality metrics their labels give are exactly equal. Bad payloads get a 4xx naming the
//! field, and change nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use driftwatch::server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::server::{metrics, sample, state_with, write_reference};

async fn post_json(state: &Arc<AppState>, body: &Value) -> (StatusCode, Value) {
    let (s, r) = crate::support::server::post_json(state, body).await;
    assert_eq!(s, StatusCode::OK, "the columnar body was refused: {r}");
    (s, r)
}

const REQUEST: &str = "org.kubeflow.serving.inference.request";
const RESPONSE: &str = "org.kubeflow.serving.inference.response";

/// A temp dir with the shared reference.csv (x, y, color) plus `files`, and the app of `config`.
fn setup_with(config: &str, files: &[(&str, String)]) -> (tempfile::TempDir, Arc<AppState>) {
    let dir = tempfile::tempdir().unwrap();
    write_reference(dir.path());
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let state = state_with(config, dir.path());
    (dir, state)
}

async fn send(state: &Arc<AppState>, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = Request::builder().method("POST").uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app(state.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn oip(state: &Arc<AppState>, model: &str, body: &Value) -> (StatusCode, Value) {
    let uri = format!("/ingest/oip/{model}");
    send(state, &uri, &[("content-type", "application/json")], serde_json::to_vec(body).unwrap()).await
}

/// A binary-mode event as KServe's logger sends it: attributes in `ce-*` headers, the model
/// server's body as the data with the request's own Content-Type.
async fn binary_event(state: &Arc<AppState>, ty: &str, id: &str, isvc: &str, body: &Value) -> (StatusCode, Value) {
    let headers = [
        ("content-type", "application/json"),
        ("ce-specversion", "1.0"),
        ("ce-type", ty),
        ("ce-source", "http://localhost:9081/"),
        ("ce-id", id),
        ("ce-inferenceservicename", isvc),
        ("ce-namespace", "default"),
        ("ce-component", "predictor"),
        ("ce-endpoint", ""),
        ("ce-time", "2021-04-10T00:23:26.0789529Z"),
    ];
    send(state, "/ingest/kserve", &headers, serde_json::to_vec(body).unwrap()).await
}

async fn structured_event(state: &Arc<AppState>, event: &Value) -> (StatusCode, Value) {
    let headers = [("content-type", "application/cloudevents+json; charset=utf-8")];
    send(state, "/ingest/kserve", &headers, serde_json::to_vec(event).unwrap()).await
}

async fn labels(state: &Arc<AppState>, body: &Value) -> (StatusCode, Value) {
    send(state, "/labels", &[("content-type", "application/json")], serde_json::to_vec(body).unwrap()).await
}

/// The exposition lines that carry what the data gave: drift scores, p-values, verdicts, missing
/// and sample counts, model quality, waiting predictions (not timings or timestamps).
fn data_lines(exposition: &str) -> Vec<String> {
    let keep = [
        "data_drift_",
        "model_drift_detected",
        "model_performance",
        "model_accuracy",
        "driftwatch_missing_values_total",
        "driftwatch_samples_ingested_total",
        "driftwatch_window_samples",
        "driftwatch_predictions_pending",
        "driftwatch_labels_joined_total",
        "driftwatch_labels_unmatched_total",
    ];
    let mut lines: Vec<String> =
        exposition.lines().filter(|l| keep.iter().any(|k| l.starts_with(k))).map(str::to_owned).collect();
    lines.sort();
    lines
}

async fn assert_same_data(a: &Arc<AppState>, b: &Arc<AppState>, must_have: &[&str]) {
    let (ma, mb) = (metrics(a).await, metrics(b).await);
    let (la, lb) = (data_lines(&ma), data_lines(&mb));
    for m in must_have {
        assert!(la.iter().any(|l| l.starts_with(m)), "no {m} in\n{}", la.join("\n"));
    }
    assert_eq!(la, lb, "the payload and the columnar body gave different data");
}

/// What an ingest response says about the data (not its timings).
fn accepted(r: &Value) -> Value {
    json!([
        r["accepted"],
        r["missing"],
        r["windows_scored"],
        r["window_samples"],
        r["predictions"],
        r["latest"]["drift_share"],
        r["latest"]["features"]
    ])
}

// ---------------------------------------------------------------------------------------------

const TYPES: [(&str, &str); 14] = [
    ("f16", "FP16"),
    ("f32", "FP32"),
    ("f64", "FP64"),
    ("i8", "INT8"),
    ("i16", "INT16"),
    ("i32", "INT32"),
    ("i64", "INT64"),
    ("u8", "UINT8"),
    ("u16", "UINT16"),
    ("u32", "UINT32"),
    ("u64", "UINT64"),
    ("flag", "BOOL"),
    ("word", "BYTES"),
    ("code", "INT32"),
];

/// Row `i` of a feature, as JSON: numbers of each integer width in range, floats, a boolean, a
/// string (some not ASCII), an integer category. `shift` moves the numbers (a drifted window).
fn typed_value(feature: &str, i: i64, shift: i64) -> Value {
    let k = (i * 37 + shift * 11) % 97;
    match feature {
        "f16" => json!(k as f64 * 0.25 - 12.0),
        "f32" => json!(k as f64 * 1.1 + 0.3),
        "f64" => json!(k as f64 / 7.0 + 1e-9),
        "i8" => json!(k - 48),
        "i16" => json!(k * 300 - 14_000),
        "i32" => json!(k * 20_000_000 - 1_000_000_000),
        "i64" => json!(k * 90_000_000_000_000_000 - 4_000_000_000_000_000_000),
        "u8" => json!(k * 2),
        "u16" => json!(k * 600),
        "u32" => json!(k as u64 * 44_000_000),
        "u64" => json!(k as u64 * 190_000_000_000_000_000),
        "flag" => json!(k % 3 == 0),
        "word" => json!(["alpha", "béta", "γάμμα", "delta"][(k % 4) as usize]),
        "code" => json!(k % 5),
        _ => unreachable!(),
    }
}

fn types_reference() -> String {
    let mut csv = TYPES.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(",") + "\n";
    for i in 0..120 {
        let row: Vec<String> = TYPES
            .iter()
            .map(|(f, _)| match typed_value(f, i, 0) {
                Value::String(s) => s,
                // Past i64, a CSV reader takes a float (the reference is a distribution).
                v if *f == "u64" => format!("{:e}", v.as_f64().unwrap()),
                v => v.to_string(),
            })
            .collect();
        csv += &(row.join(",") + "\n");
    }
    csv
}

fn types_config() -> String {
    let mut config = "[[model]]\nname = \"typed\"\nreference = \"types.csv\"\nwindow = 24\n".to_owned();
    for (f, dt) in TYPES {
        let kind = if matches!(dt, "BOOL" | "BYTES") || f == "code" { "categorical" } else { "numeric" };
        config += &format!("[[model.features]]\nname = \"{f}\"\nkind = \"{kind}\"\n");
    }
    config
}

/// Every datatype, each tensor named after its feature; FP16 as JSON numbers, BYTES as strings,
/// some `[N]` and some `[N, 1]`, flat and nested: the same scores as the columnar body.
#[tokio::test]
async fn every_datatype_scores_exactly_as_the_same_columns_sent_as_json() {
    let files = [("types.csv", types_reference())];
    let (_d1, via_oip) = setup_with(&types_config(), &files);
    let (_d2, via_json) = setup_with(&types_config(), &files);
    let n = 24;
    let mut inputs = Vec::new();
    let mut columns = serde_json::Map::new();
    for (j, (f, dt)) in TYPES.iter().enumerate() {
        let values: Vec<Value> = (0..n).map(|i| typed_value(f, i, 3)).collect();
        // Every third tensor [N, 1] nested, every third [N, 1] flat, the rest [N].
        let (shape, data) = match j % 3 {
            0 => (json!([n, 1]), Value::Array(values.iter().map(|v| json!([v])).collect())),
            1 => (json!([n, 1]), Value::Array(values.clone())),
            _ => (json!([n]), Value::Array(values.clone())),
        };
        inputs.push(
            json!({"name": f, "shape": shape, "datatype": dt, "parameters": {"content_type": "np"}, "data": data}),
        );
        columns.insert((*f).to_owned(), Value::Array(values));
    }
    let request = json!({"id": "42", "parameters": {"content_type": "pd"}, "inputs": inputs,
        "outputs": [{"name": "output-0"}]});
    let (s, r1) = oip(&via_oip, "typed", &request).await;
    assert_eq!(s, StatusCode::OK, "{r1}");
    let (s, r2) = post_json(&via_json, &json!({"model": "typed", "features": columns})).await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    assert_eq!(r1["windows_scored"], 1, "{r1}");
    assert_eq!(accepted(&r1), accepted(&r2));
    assert_same_data(&via_oip, &via_json, &["data_drift_score{model_name=\"typed\",feature=\"word\""]).await;
    let m = metrics(&via_oip).await;
    for (f, _) in TYPES {
        assert!(sample(&m, "data_drift_score", &[("feature", f)]).is_some(), "{f} not scored");
    }
}

/// `[N, d]` tensors give d features: in the model's feature order, or `[model.oip] columns`; flat
/// or nested row-major data; and KServe v1 instances as rows (arrays in that order, or objects).
#[tokio::test]
async fn matrices_and_v1_instances_give_the_columns_in_feature_order() {
    let numeric_only = "[[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 20\n\
                        [[model.features]]\nname = \"x\"\n[[model.features]]\nname = \"y\"\n";
    let reordered = "[[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 20\n\
                     [model.oip]\ncolumns = [\"y\", \"x\"]\n";
    let plain = "[[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 20\n";
    let n = 20;
    let x: Vec<f64> = (0..n).map(|i| ((i * 7) % 20) as f64 / 2.0 + 1.5).collect();
    let y: Vec<f64> = (0..n).map(|i| i as f64 / 3.0).collect();
    let c: Vec<&str> = (0..n).map(|i| ["red", "green", "blue", "green"][i % 4]).collect();

    // [N, 2] in feature order (x, y), flat.
    let flat: Vec<f64> = (0..n).flat_map(|i| [x[i], y[i]]).collect();
    let body = json!({"inputs": [{"name": "input-0", "shape": [n, 2], "datatype": "FP64", "data": flat}]});
    let (_d1, a) = setup_with(numeric_only, &[]);
    let (_d2, b) = setup_with(numeric_only, &[]);
    let (s, r) = oip(&a, "churn", &body).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    post_json(&b, &json!({"model": "churn", "features": {"x": x, "y": y}})).await;
    assert_same_data(&a, &b, &["data_drift_score{model_name=\"churn\",feature=\"y\""]).await;

    // [N, 2] in [model.oip] columns order (y, x), nested, beside a BYTES tensor named after its
    // feature: the v2 example's shape of two inputs.
    let nested: Vec<Value> = (0..n).map(|i| json!([y[i], x[i]])).collect();
    let body = json!({"id": "42", "inputs": [
        {"name": "input0", "shape": [n, 2], "datatype": "FP32", "data": nested},
        {"name": "color", "shape": [n], "datatype": "BYTES", "data": c}]});
    let (_d1, a) = setup_with(reordered, &[]);
    let (_d2, b) = setup_with(reordered, &[]);
    let (s, r) = oip(&a, "churn", &body).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    post_json(&b, &json!({"model": "churn", "features": {"x": x, "y": y, "color": c}})).await;
    assert_same_data(&a, &b, &["data_drift_score{model_name=\"churn\",feature=\"color\""]).await;

    // KServe v1: rows as arrays in feature order (x, y, color), then as objects with a null and an
    // absent key (both missing, as in the rows form).
    let (_d1, a) = setup_with(plain, &[]);
    let (_d2, b) = setup_with(plain, &[]);
    let half = n / 2;
    let arrays: Vec<Value> = (0..half).map(|i| json!([x[i], y[i], c[i]])).collect();
    let objects: Vec<Value> = (half..n)
        .map(|i| if i % 3 == 0 { json!({"x": x[i], "y": null}) } else { json!({"color": c[i], "x": x[i], "y": y[i]}) })
        .collect();
    let (s, r) = oip(&a, "churn", &json!({"instances": arrays})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = oip(&a, "churn", &json!({"instances": objects})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let rows: Vec<Value> = (0..half).map(|i| json!({"x": x[i], "y": y[i], "color": c[i]})).chain(objects).collect();
    let (s, r) = post_json(&b, &json!({"model": "churn", "rows": rows})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_same_data(&a, &b, &["driftwatch_missing_values_total{model_name=\"churn\",feature=\"color\""]).await;
}

const BINARY: &str = r#"
[[model]]
name = "churn"
reference = "reference.csv"
window = 20

[model.performance]
task = "binary"
positive_class = "yes"
window = 20

[model.oip]
prediction_output = "label"
probabilities_output = "probabilities"
negative_class = "no"
"#;

/// A request and its response in one body (`{"request", "response"}`): features to the window,
/// the labelled outputs and their `[N, 2]` probabilities waiting under `<id>:<row>`; labels sent
/// for those ids give the quality metrics of the same rows sent as columnar JSON.
#[tokio::test]
async fn a_request_and_its_response_wait_for_labels_like_columnar_predictions() {
    let (_d1, a) = setup_with(BINARY, &[]);
    let (_d2, b) = setup_with(BINARY, &[]);
    let n = 20;
    let x: Vec<f64> = (0..n).map(|i| ((i * 3) % 20) as f64 / 2.0).collect();
    let p: Vec<f64> = (0..n).map(|i| ((i * 37) % 20) as f64 / 20.0 + 0.025).collect();
    let pred: Vec<&str> = p.iter().map(|&v| if v >= 0.5 { "yes" } else { "no" }).collect();
    let truth: Vec<&str> = (0..n).map(|i| if (i * 37 % 20 >= 10) != (i % 6 == 0) { "yes" } else { "no" }).collect();
    let body = json!({
        "request": {"id": "req-7", "inputs": [{"name": "x", "shape": [n], "datatype": "FP64", "data": x}]},
        "response": {"model_name": "churn", "model_version": "3", "id": "req-7", "outputs": [
            {"name": "probabilities", "shape": [n, 2], "datatype": "FP32",
             "data": p.iter().flat_map(|&v| [1.0 - v, v]).collect::<Vec<_>>()},
            {"name": "label", "shape": [n], "datatype": "BYTES", "data": pred},
        ]},
    });
    let (s, r1) = oip(&a, "churn", &body).await;
    assert_eq!(s, StatusCode::OK, "{r1}");
    let ids: Vec<String> = (0..n).map(|i| format!("req-7:{i}")).collect();
    let columnar = json!({"model": "churn", "features": {"x": x}, "ids": ids, "predictions": pred,
        "probabilities": {"yes": p, "no": p.iter().map(|v| 1.0 - v).collect::<Vec<_>>()}});
    let (s, r2) = post_json(&b, &columnar).await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    assert_eq!(r1["predictions"], json!({"accepted": 20, "pending": 20, "expired": 0, "windows_estimated": 0}));
    assert_eq!(accepted(&r1), accepted(&r2));
    assert_same_data(&a, &b, &["driftwatch_predictions_pending"]).await;

    let body = json!({"model": "churn", "ids": ids, "labels": truth});
    let (s, l1) = labels(&a, &body).await;
    assert_eq!(s, StatusCode::OK, "{l1}");
    let (_, l2) = labels(&b, &body).await;
    assert_eq!((l1["joined"].as_u64(), l1["windows_evaluated"].as_u64()), (Some(20), Some(1)), "{l1}");
    assert_eq!(l1["latest"]["metrics"], l2["latest"]["metrics"]);
    assert_same_data(&a, &b, &["model_performance{model_name=\"churn\",metric=\"log_loss\"", "model_accuracy"]).await;
}

/// Without `[model.oip]` the first output is used: `[N, k]` probabilities (the prediction their
/// argmax, in the config's class order) or `[N]` labels; v1 `predictions` the same way.
#[tokio::test]
async fn the_first_output_is_the_prediction_or_the_probabilities_it_is_the_argmax_of() {
    let config = "[[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 50\n\
                  [model.performance]\ntask = \"multiclass\"\nclasses = [\"a\", \"b\", \"c\"]\nwindow = 12\n";
    let (_d1, a) = setup_with(config, &[]);
    let (_d2, b) = setup_with(config, &[]);
    let n = 6;
    let probs: Vec<[f64; 3]> = (0..n).map(|i| [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]][i % 3]).collect();
    let argmax = |r: &[f64; 3]| ["a", "b", "c"][(0..3).max_by(|&i, &j| r[i].total_cmp(&r[j])).unwrap()];
    // v2, [N, 3] nested, as the response event of request "r".
    let v2 = json!({"model_name": "churn", "id": "r", "outputs": [
        {"name": "predict_proba", "shape": [n, 3], "datatype": "FP64", "data": probs}]});
    let (s, r) = oip(&a, "churn", &v2).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // v1, rows of probabilities, without an id: these rows cannot be joined.
    let (s, r) = oip(&a, "churn", &json!({"predictions": probs})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // v1 labels ([N] integers would be classes "1", "2": not the model's, so strings here).
    let (s, r) = oip(&a, "churn", &json!({"id": "s", "predictions": ["c", "a"]})).await;
    assert_eq!(s, StatusCode::OK, "{r}");

    let column = |k: usize| probs.iter().map(|r| r[k]).collect::<Vec<_>>();
    let proba = json!({"a": column(0), "b": column(1), "c": column(2)});
    let ids: Vec<String> = (0..n).map(|i| format!("r:{i}")).collect();
    let labels_v2: Vec<&str> = probs.iter().map(argmax).collect();
    post_json(&b, &json!({"model": "churn", "ids": ids, "predictions": labels_v2, "probabilities": proba})).await;
    post_json(&b, &json!({"model": "churn", "predictions": labels_v2, "probabilities": proba})).await;
    post_json(&b, &json!({"model": "churn", "ids": ["s:0", "s:1"], "predictions": ["c", "a"]})).await;
    assert_same_data(&a, &b, &["driftwatch_predictions_pending"]).await;
    let m = metrics(&a).await;
    assert_eq!(sample(&m, "driftwatch_predictions_pending", &[("model_name", "churn")]), Some(8.0));
    let truth: Vec<&str> = (0..n).map(|i| ["a", "c", "c"][i % 3]).collect();
    let mut all_ids: Vec<String> = ids.clone();
    all_ids.extend(["s:0".into(), "s:1".into()]);
    let mut all_truth = truth.clone();
    all_truth.extend(["c", "b"]);
    // 8 labels for 8 waiting predictions plus 4 more from a second response: one window of 12.
    let v2b = json!({"id": "t", "outputs": [{"name": "o", "shape": [4, 3], "datatype": "FP32",
        "data": probs[..4].iter().flatten().collect::<Vec<_>>()}]});
    oip(&a, "churn", &v2b).await;
    let column4 = |k: usize| probs[..4].iter().map(|r| r[k]).collect::<Vec<_>>();
    post_json(
        &b,
        &json!({"model": "churn", "ids": ["t:0", "t:1", "t:2", "t:3"],
        "predictions": probs[..4].iter().map(argmax).collect::<Vec<_>>(),
        "probabilities": {"a": column4(0), "b": column4(1), "c": column4(2)}}),
    )
    .await;
    all_ids.extend((0..4).map(|i| format!("t:{i}")));
    all_truth.extend(["a", "b", "b", "c"]);
    let body = json!({"model": "churn", "ids": all_ids, "labels": all_truth});
    let (s, l) = labels(&a, &body).await;
    assert_eq!((s, l["joined"].as_u64(), l["windows_evaluated"].as_u64()), (StatusCode::OK, Some(12), Some(1)), "{l}");
    labels(&b, &body).await;
    assert_same_data(&a, &b, &["model_performance{model_name=\"churn\",metric=\"f1\""]).await;
}

// ---------------------------------------------------------------------------------------------
// KServe's logger

/// Four iris features, as the KServe logger sample's model (sklearn-iris) takes them.
fn iris_reference() -> String {
    let mut csv = String::from("sepal_length,sepal_width,petal_length,petal_width\n");
    for i in 0..150 {
        let k = (i * 53) % 150;
        let f = |a: f64, b: f64| a + b * ((k % 30) as f64 / 30.0);
        csv += &format!("{},{},{},{}\n", f(4.3, 3.6), f(2.0, 2.4), f(1.0, 5.9), f(0.1, 2.4));
    }
    csv
}

const IRIS: &str = r#"
[[model]]
name = "sklearn-iris"
reference = "iris.csv"
window = 10

[model.performance]
task = "multiclass"
classes = ["0", "1", "2"]
window = 10
"#;

/// Five request/response pairs of two rows each, the logger sample's first pair among them.
fn iris_rows(pair: usize) -> (Vec<[f64; 4]>, Vec<u8>) {
    if pair == 0 {
        return (vec![[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]], vec![1, 1]);
    }
    let row = |j: usize| {
        let t = (pair * 2 + j) as f64;
        [4.9 + t * 0.2, 3.0 + t * 0.05, 1.4 + t * 0.45, 0.2 + t * 0.2]
    };
    (vec![row(0), row(1)], vec![(pair % 3) as u8, ((pair + 1) % 3) as u8])
}

/// The same pairs as columnar JSON, ids `<ce-id>:<row>`.
async fn iris_columnar(state: &Arc<AppState>, ce_ids: &[String]) {
    for (pair, id) in ce_ids.iter().enumerate() {
        let (rows, preds) = iris_rows(pair);
        let col = |k: usize| rows.iter().map(|r| r[k]).collect::<Vec<_>>();
        let body = json!({"model": "sklearn-iris", "features": {"sepal_length": col(0), "sepal_width": col(1),
            "petal_length": col(2), "petal_width": col(3)}, "ids": [format!("{id}:0"), format!("{id}:1")],
            "predictions": preds});
        let (s, r) = post_json(state, &body).await;
        assert_eq!(s, StatusCode::OK, "{r}");
    }
}

fn iris_labels(ce_ids: &[String]) -> Value {
    let ids: Vec<String> = ce_ids.iter().flat_map(|id| [format!("{id}:0"), format!("{id}:1")]).collect();
    let truth: Vec<u8> = (0..ids.len()).map(|i| [1, 1, 2, 0, 1][i % 5]).collect();
    json!({"model": "sklearn-iris", "ids": ids, "labels": truth})
}

/// Binary mode, as the logger sends it (KServe v1 payloads here): the request event's instances
/// go to the window, the response event's predictions wait under the event id, a later label
/// joins them, and `model_performance` is what the same data sent as columnar JSON gives.
#[tokio::test]
async fn binary_mode_logger_events_join_later_labels() {
    let files = [("iris.csv", iris_reference())];
    let (_d1, a) = setup_with(IRIS, &files);
    let (_d2, b) = setup_with(IRIS, &files);
    let ce_ids: Vec<String> = (0..5).map(|i| format!("0009174a-24a8-4603-b098-09c8799950e{i}")).collect();
    for (pair, id) in ce_ids.iter().enumerate() {
        let (rows, preds) = iris_rows(pair);
        let (s, r) = binary_event(&a, REQUEST, id, "sklearn-iris", &json!({"instances": rows})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["accepted"], 2);
        let (s, r) = binary_event(&a, RESPONSE, id, "sklearn-iris", &json!({"predictions": preds})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["predictions"]["accepted"], 2, "{r}");
    }
    iris_columnar(&b, &ce_ids).await;
    assert_same_data(&a, &b, &["data_drift_score{model_name=\"sklearn-iris\"", "driftwatch_predictions_pending"]).await;
    let (s, l) = labels(&a, &iris_labels(&ce_ids)).await;
    assert_eq!((s, l["joined"].as_u64(), l["windows_evaluated"].as_u64()), (StatusCode::OK, Some(10), Some(1)), "{l}");
    labels(&b, &iris_labels(&ce_ids)).await;
    assert_same_data(&a, &b, &["model_performance{model_name=\"sklearn-iris\",metric=\"accuracy\""]).await;

    // A one-row response waits under the event id itself; ?model= names the model when the
    // InferenceService is called something else.
    let (_d3, c) = setup_with(IRIS, &files);
    let uri = "/ingest/kserve?model=sklearn-iris";
    let headers = [
        ("ce-type", RESPONSE),
        ("ce-id", "single"),
        ("ce-inferenceservicename", "iris-v2"),
        ("ce-specversion", "1.0"),
        ("ce-source", "http://localhost:9081/"),
    ];
    // No Content-Type: the logger passes on the caller's, which may be none.
    let (s, r) = send(&c, uri, &headers, br#"{"predictions": [2]}"#.to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, l) = labels(&c, &json!({"model": "sklearn-iris", "ids": ["single"], "labels": [2]})).await;
    assert_eq!(l["joined"], 1, "{l}");
}

/// Structured mode (`application/cloudevents+json`), Open Inference Protocol payloads in `data`
/// and in `data_base64`: the same as the v1 events and the columnar body.
#[tokio::test]
async fn structured_mode_events_with_v2_payloads_join_later_labels() {
    let files = [("iris.csv", iris_reference())];
    let (_d1, a) = setup_with(IRIS, &files);
    let (_d2, b) = setup_with(IRIS, &files);
    let ce_ids: Vec<String> = (0..5).map(|i| format!("evt-{i}")).collect();
    for (pair, id) in ce_ids.iter().enumerate() {
        let (rows, preds) = iris_rows(pair);
        let request = json!({"id": id, "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32",
            "data": rows}]});
        let response = json!({"model_name": "sklearn-iris", "id": id, "outputs": [{"name": "output-0",
            "shape": [2], "datatype": "INT64", "data": preds}]});
        let event = |ty: &str, data: &Value| {
            let mut e = json!({"specversion": "1.0", "id": id, "type": ty, "source": "http://localhost:9081/",
                "time": "2021-04-10T00:23:26.080736102Z", "datacontenttype": "application/json",
                "inferenceservicename": "sklearn-iris", "namespace": "default", "component": "predictor",
                "endpoint": ""});
            if pair % 2 == 0 {
                e["data"] = data.clone();
            } else {
                e["data_base64"] = json!(base64(&serde_json::to_vec(data).unwrap()));
            }
            e
        };
        let (s, r) = structured_event(&a, &event(REQUEST, &request)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        let (s, r) = structured_event(&a, &event(RESPONSE, &response)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
    }
    iris_columnar(&b, &ce_ids).await;
    assert_same_data(&a, &b, &["data_drift_score{model_name=\"sklearn-iris\"", "driftwatch_predictions_pending"]).await;
    let (s, l) = labels(&a, &iris_labels(&ce_ids)).await;
    assert_eq!((s, l["joined"].as_u64()), (StatusCode::OK, Some(10)), "{l}");
    labels(&b, &iris_labels(&ce_ids)).await;
    assert_same_data(&a, &b, &["model_performance{model_name=\"sklearn-iris\",metric=\"accuracy\""]).await;
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The endpoints sit behind `server.bearer_token` like `/ingest`.
#[tokio::test]
async fn the_endpoints_require_the_bearer_token_when_one_is_set() {
    let config = format!("[server]\nbearer_token_file = \"token\"\n{IRIS}");
    let (_d, state) = setup_with(&config, &[("iris.csv", iris_reference()), ("token", "t0ken\n".into())]);
    let body = serde_json::to_vec(&json!({"instances": [[6.8, 2.8, 4.8, 1.4]]})).unwrap();
    let ce = [("ce-type", REQUEST), ("ce-id", "1"), ("ce-inferenceservicename", "sklearn-iris")];
    let (s, r) = send(&state, "/ingest/kserve", &ce, body.clone()).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::UNAUTHORIZED, Some("Authorization")), "{r}");
    let json_ct = [("content-type", "application/json")];
    let (s, _) = send(&state, "/ingest/oip/sklearn-iris", &json_ct, body.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let with_token: Vec<(&str, &str)> = ce.iter().copied().chain([("authorization", "Bearer t0ken")]).collect();
    let (s, r) = send(&state, "/ingest/kserve", &with_token, body).await;
    assert_eq!(s, StatusCode::OK, "{r}");
}

// ---------------------------------------------------------------------------------------------

const CHURN: &str = r#"
[[model]]
name = "churn"
reference = "reference.csv"
window = 50

[model.performance]
task = "binary"
positive_class = "yes"
window = 10
"#;

fn tensor(name: &str, shape: Value, datatype: &str, data: Value) -> Value {
    json!({"name": name, "shape": shape, "datatype": datatype, "data": data})
}

/// Wrong element counts, unknown datatypes, shapes that disagree, values not of their datatype,
/// features of the wrong kind, malformed events: each a 4xx naming the field, nothing applied.
#[tokio::test]
async fn bad_payloads_get_a_4xx_naming_the_field_and_change_nothing() {
    let (_d, state) = setup_with(CHURN, &[]);
    let x3 = json!([1.0, 2.0, 3.0]);
    let request = |inputs: Value| json!({"inputs": inputs});
    let cases: Vec<(Value, &str)> = vec![
        (request(json!([tensor("x", json!([3]), "FP32", json!([1.0, 2.0]))])), "inputs[0].data"),
        (request(json!([tensor("x", json!([3]), "FLOAT32", x3.clone())])), "inputs[0].datatype"),
        (
            request(json!([
                tensor("x", json!([3]), "FP32", x3.clone()),
                tensor("y", json!([2]), "FP32", json!([1, 2]))
            ])),
            "inputs[1].shape",
        ),
        (request(json!([tensor("x", json!([2, 2]), "FP64", json!([[1, 2], [3]]))])), "inputs[0].data[1]"),
        (request(json!([tensor("x", json!([2, 2]), "FP64", json!([[1, 2], 3]))])), "inputs[0].data[1]"),
        (request(json!([tensor("x", json!([2, 2]), "FP64", json!([[1, 2], [3, 4], [5, 6]]))])), "inputs[0].data"),
        (request(json!([tensor("x", json!([3]), "INT8", json!([1, 300, 2]))])), "inputs[0].data[1]"),
        (request(json!([tensor("x", json!([3]), "INT32", json!([1, 2.5, 2]))])), "inputs[0].data[1]"),
        (request(json!([tensor("x", json!([2]), "FP16", json!([1.0, 70000.0]))])), "inputs[0].data[1]"),
        (request(json!([tensor("x", json!([2]), "BOOL", json!([true, 1]))])), "inputs[0].data[1]"),
        (request(json!([tensor("x", json!([2]), "FP64", json!([1.0, null]))])), "inputs[0].data[1]"),
        (request(json!([tensor("x", json!([2]), "BYTES", json!(["1", "2"]))])), "inputs[0].datatype"),
        (request(json!([tensor("color", json!([2]), "FP32", json!([1.0, 2.0]))])), "inputs[0].datatype"),
        (request(json!([tensor("nope", json!([2]), "FP32", json!([1.0, 2.0]))])), "inputs[0].name"),
        (request(json!([tensor("m", json!([1, 5]), "FP32", json!([1, 2, 3, 4, 5]))])), "inputs[0].shape"),
        (request(json!([tensor("img", json!([1, 2, 2]), "FP32", json!([1, 2, 3, 4]))])), "inputs[0].shape"),
        (request(json!([tensor("x", json!([0]), "FP32", json!([]))])), "inputs[0].shape"),
        (request(json!([tensor("x", json!([-1]), "FP32", x3.clone())])), "inputs[0].shape[0]"),
        (request(json!([{"name": "x", "shape": [3], "datatype": "FP32"}])), "inputs[0].data"),
        (request(json!([])), "inputs"),
        (json!({"instances": [[1.0, 2.0, "red"], [1.0, 2.0]]}), "instances[1]"),
        (json!({"instances": [{"x": 1.0, "z": 2.0}]}), "instances[0].z"),
        (json!({"instances": [{"x": "one"}]}), "instances[].x[0]"),
        (json!({"instances": [[1.0, 2.0, "red"]], "inputs": []}), "instances"),
        (json!({"parameters": {}}), "inputs"),
        (json!({"outputs": [tensor("o", json!([2, 2]), "FP32", json!([0.5, 1.5, 0.5, 0.5]))]}), "outputs[0].data[1]"),
        (
            json!({"outputs": [tensor("o", json!([2, 3]), "FP32", json!([0.5, 0.5, 0.0, 0.5, 0.5, 0.0]))]}),
            "outputs[0].shape",
        ),
        (json!({"outputs": [tensor("o", json!([2]), "BYTES", json!(["yes", 1]))]}), "outputs[0].data[1]"),
        (json!({"outputs": []}), "outputs"),
        (json!({"id": {"a": 1}, "outputs": [tensor("o", json!([1]), "BYTES", json!(["yes"]))]}), "id"),
        (
            json!({"request": {"id": 1.5, "instances": [[1.0, 2.0, "red"]]}, "response": {"predictions": ["yes"]}}),
            "request.id",
        ),
        (json!({"predictions": [[0.5, 0.5], 1]}), "predictions[1]"),
        (json!({"predictions": [[0.5, "x"]]}), "predictions[0][1]"),
        (json!({"predictions": [{"label": "yes"}]}), "predictions[0]"),
        (
            json!({"request": {"inputs": [tensor("x", json!([3]), "FP32", x3.clone())]},
                   "response": {"outputs": [tensor("o", json!([2]), "BYTES", json!(["yes", "no"]))]}}),
            "response.outputs",
        ),
        (json!({"request": {"predictions": ["yes"]}}), "request"),
        (json!({"request": {"instances": [[1.0, 2.0, "red"]]}, "inputs": []}), "request"),
    ];
    for (body, field) in &cases {
        let (s, r) = oip(&state, "churn", body).await;
        assert!(s.is_client_error(), "{body}: {s} {r}");
        assert_eq!(r["field"], *field, "{body}: {r}");
    }
    // A key given twice in one object is refused, not resolved silently.
    let twice = br#"{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0], "data": [2.0]}]}"#;
    let (s, r) = send(&state, "/ingest/oip/churn", &[("content-type", "application/json")], twice.to_vec()).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::BAD_REQUEST, Some("inputs[0]")), "{r}");
    let (s, r) = send(&state, "/ingest/oip/churn", &[("content-type", "text/plain")], b"{}".to_vec()).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("Content-Type")), "{r}");
    let (s, r) = oip(&state, "nope", &json!({"instances": [[1.0, 2.0, "red"]]})).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::NOT_FOUND, Some("model")), "{r}");

    // Events.
    let instances = serde_json::to_vec(&json!({"instances": [[1.0, 2.0, "red"]]})).unwrap();
    let predictions = serde_json::to_vec(&json!({"predictions": ["yes"]})).unwrap();
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let event_cases: Vec<(Headers, Vec<u8>, &str)> = vec![
        (vec![("ce-id", "1"), ("ce-inferenceservicename", "churn")], instances.clone(), "ce-type"),
        (
            vec![("ce-type", "com.example.other"), ("ce-id", "1"), ("ce-inferenceservicename", "churn")],
            instances.clone(),
            "ce-type",
        ),
        (vec![("ce-type", REQUEST), ("ce-inferenceservicename", "churn")], instances.clone(), "ce-id"),
        (vec![("ce-type", REQUEST), ("ce-id", "1")], instances.clone(), "ce-inferenceservicename"),
        (
            vec![("ce-type", REQUEST), ("ce-id", "1"), ("ce-inferenceservicename", "churn")],
            predictions.clone(),
            "predictions",
        ),
        (
            vec![("ce-type", RESPONSE), ("ce-id", "1"), ("ce-inferenceservicename", "churn")],
            instances.clone(),
            "instances",
        ),
        (
            vec![("ce-type", RESPONSE), ("ce-id", "1"), ("ce-inferenceservicename", "churn")],
            br#"{"request": {"instances": [[1.0, 2.0, "red"]]}}"#.to_vec(),
            "request",
        ),
    ];
    for (headers, body, field) in &event_cases {
        let (s, r) = send(&state, "/ingest/kserve", headers, body.clone()).await;
        assert!(s.is_client_error(), "{headers:?}: {s} {r}");
        assert_eq!(r["field"], *field, "{headers:?}: {r}");
    }
    let base = json!({"specversion": "1.0", "id": "e1", "type": REQUEST, "source": "s",
        "inferenceservicename": "churn"});
    let with = |k: &str, v: Value| {
        let mut e = base.clone();
        e[k] = v;
        e
    };
    let without = |k: &str| {
        let mut e = with("data", json!({"instances": [[1.0, 2.0, "red"]]}));
        e.as_object_mut().unwrap().remove(k);
        e
    };
    let ce = [("ce-type", REQUEST), ("ce-id", "1"), ("ce-inferenceservicename", "churn")];
    let (s, r) = send(&state, "/ingest/kserve", &ce, b"{\"instances\": [".to_vec()).await;
    assert_eq!((s, r["reason"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{r}");
    let structured_cases = [
        (without("type"), "type"),
        (without("id"), "id"),
        (base.clone(), "data"),
        (with("data_base64", json!("not base64!")), "data_base64"),
        (with("data_base64", json!(base64(b"{\"instances\": [[1.0, 2.0]]}"))), "data_base64.instances[0]"),
        (with("data", json!({"inputs": [tensor("x", json!([2]), "FP32", json!([1.0]))]})), "data.inputs[0].data"),
        (with("data", json!({"inputs": [tensor("x", json!([1]), "FP32", json!(["a"]))]})), "data.inputs[0].data[0]"),
    ];
    for (event, field) in &structured_cases {
        let (s, r) = structured_event(&state, event).await;
        assert!(s.is_client_error(), "{event}: {s} {r}");
        assert_eq!(r["field"], *field, "{event}: {r}");
    }
    let batch = [("content-type", "application/cloudevents-batch+json")];
    let (s, _) = send(&state, "/ingest/kserve", &batch, b"[]".to_vec()).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_samples_ingested_total", &[("model_name", "churn")]), Some(0.0));
    assert!(sample(&m, "driftwatch_predictions_pending", &[]).is_none_or(|v| v == 0.0), "{m}");
    let (_, models) = crate::support::server::call(&state, "GET", "/v1/models/churn", None, Vec::new()).await;
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["window_samples"], 0, "{models}");

    // A model without [model.performance] takes requests, and refuses outputs naming them.
    let (_d2, plain) = setup_with("[[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 50\n", &[]);
    let (s, r) = oip(&plain, "churn", &json!({"instances": [[1.0, 2.0, "red"]]})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let response =
        json!({"model_name": "churn", "id": "1", "outputs": [tensor("o", json!([1]), "BYTES", json!(["yes"]))]});
    let (s, r) = oip(&plain, "churn", &response).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("outputs")), "{r}");
    let (s, r) = binary_event(&plain, RESPONSE, "1", "churn", &json!({"predictions": ["yes"]})).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("predictions")), "{r}");
    let both = json!({"request": {"instances": [[1.0, 2.0, "red"]]}, "response": {"predictions": ["yes"]}});
    let (s, r) = oip(&plain, "churn", &both).await;
    assert_eq!((s, r["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("response.predictions")), "{r}");
    let m = metrics(&plain).await;
    assert_eq!(sample(&m, "driftwatch_samples_ingested_total", &[("model_name", "churn")]), Some(1.0));
}

/// `[model.oip]` is checked at start, every problem named.
#[test]
fn a_bad_oip_table_is_refused_at_start_naming_each_key() {
    let toml = r#"
[[model]]
name = "m"
warmup = 10
window = 10
[[model.features]]
name = "x"
kind = "numeric"
[model.oip]
columns = ["x", "z", "x"]
prediction_output = "out"
probabilities_output = "out"
negative_class = "no"
"#;
    let e = driftwatch::config::Sources::from_str(toml, std::path::Path::new(".")).unwrap().validate().unwrap_err();
    let text = e.to_string();
    for want in [
        "model[0].oip.columns[1]: \"z\" is not one of the model's features",
        "model[0].oip.columns[2]: \"x\" is listed twice",
        "model[0].oip.probabilities_output: names the same output as prediction_output",
        "model[0].oip.negative_class: applies to [model.performance] task = \"binary\" only",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let unknown = "[[model]]\nname = \"m\"\nwarmup = 10\nwindow = 10\n[[model.features]]\nname = \"x\"\nkind = \"numeric\"\n\
                   [model.oip]\ncolumn = [\"x\"]\n";
    assert!(driftwatch::config::Sources::from_str(unknown, std::path::Path::new(".")).is_err());
}
