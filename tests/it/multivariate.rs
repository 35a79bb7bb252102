//! Multivariate drift and exported bins through the sidecar: a window whose two features keep
//! their marginals but flip their correlation is flagged by PCA reconstruction, the classifier
//! and MMD and by no univariate method; the exported scores are the statistics crate's on the
//! same rows; the exported bin counts and reference shares give back the sidecar's own PSI.

use axum::http::StatusCode;
use driftwatch_stats::drift::psi;
use driftwatch_stats::multivariate::encode::{Column, Encoder};
use driftwatch_stats::multivariate::pca::Pca;
use serde_json::json;

use crate::support::server::{metrics, post_json, sample, state_with};

/// (a, b) bivariate normal with correlation `rho`, c uniform, from splitmix64 and Box–Muller.
fn rows(n: usize, rho: f64, seed: u64) -> Columns {
    let mut s = seed;
    let mut u = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let (u1, u2) = (u(), u());
        let r = (-2.0 * u1.ln()).sqrt();
        let (z1, z2) = (r * (std::f64::consts::TAU * u2).cos(), r * (std::f64::consts::TAU * u2).sin());
        // Printed with 6 decimals into the CSV: round here so both sides read the same numbers.
        let round = |x: f64| (x * 1e6).round() / 1e6;
        a.push(round(z1));
        b.push(round(rho * z1 + (1.0 - rho * rho).sqrt() * z2));
        c.push(round(10.0 * u()));
    }
    (a, b, c)
}

const CONFIG: &str = r#"
[[model]]
name = "m"
reference = "reference.csv"
window = 500
export_bins = true

[model.multivariate]
methods = ["pca", "classifier", "mmd"]
"#;

type Columns = (Vec<f64>, Vec<f64>, Vec<f64>);

fn setup() -> (tempfile::TempDir, std::sync::Arc<driftwatch::server::AppState>, Columns) {
    let dir = tempfile::tempdir().unwrap();
    let reference = rows(2000, 0.9, 1);
    let mut csv = String::from("a,b,c\n");
    for i in 0..2000 {
        csv += &format!("{:.6},{:.6},{:.6}\n", reference.0[i], reference.1[i], reference.2[i]);
    }
    std::fs::write(dir.path().join("reference.csv"), csv).unwrap();
    let state = state_with(CONFIG, dir.path());
    (dir, state, reference)
}

#[tokio::test]
async fn a_correlation_flip_is_multivariate_drift_and_not_univariate_drift() {
    let (_dir, state, reference) = setup();
    let (a, b, c) = rows(500, -0.9, 2);
    let (s, body) = post_json(&state, &json!({"model": "m", "features": {"a": a, "b": b, "c": c}})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let m = metrics(&state).await;
    for method in ["pca", "classifier", "mmd"] {
        let l = [("model_name", "m"), ("method", method)];
        assert_eq!(sample(&m, "model_multivariate_drift_detected", &l), Some(1.0), "{method}\n{m}");
        assert!(sample(&m, "model_multivariate_drift_threshold", &l).is_some(), "{method}");
    }
    assert!(sample(&m, "model_multivariate_drift_pvalue", &[("method", "mmd")]).unwrap() < 0.05);
    assert!(sample(&m, "model_multivariate_drift_score", &[("method", "classifier")]).unwrap() > 0.65);
    for feature in ["a", "b", "c"] {
        assert_eq!(sample(&m, "data_drift_detected", &[("feature", feature)]), Some(0.0), "{feature}");
    }
    assert_eq!(sample(&m, "model_drift_detected", &[("model_name", "m")]), Some(0.0));

    // The PCA score is the statistics crate's on the same rows: all three features, NannyML's 0.65.
    let refc = [Column::Numeric(&reference.0), Column::Numeric(&reference.1), Column::Numeric(&reference.2)];
    let encoder = Encoder::fit(&refc).unwrap();
    let pca = Pca::fit(&encoder.transform(&refc), 0.65);
    let want = pca.error(&encoder.transform(&[Column::Numeric(&a), Column::Numeric(&b), Column::Numeric(&c)]));
    let got = sample(&m, "model_multivariate_drift_score", &[("method", "pca")]).unwrap();
    assert!((got - want).abs() <= 1e-12 * want, "pca: {got} vs {want}");

    // /v1/models carries the same verdicts.
    let (_, text) = crate::support::server::call(&state, "GET", "/v1/models", None, Vec::new()).await;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mv = v["models"][0]["latest"]["multivariate"].as_array().unwrap_or_else(|| panic!("{text}"));
    assert_eq!(mv.len(), 3);
    assert!(mv.iter().all(|r| r["drifted"] == true), "{mv:?}");
}

#[tokio::test]
async fn a_window_from_the_reference_distribution_is_not_multivariate_drift() {
    // At mmd_alpha = 0.05 one null window in twenty is flagged by MMD, by design (the statistics
    // crate pins that rate); this one is not.
    let (_dir, state, _) = setup();
    let (a, b, c) = rows(500, 0.9, 5);
    let (s, body) = post_json(&state, &json!({"model": "m", "features": {"a": a, "b": b, "c": c}})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let m = metrics(&state).await;
    for method in ["pca", "classifier", "mmd"] {
        let l = [("model_name", "m"), ("method", method)];
        assert_eq!(sample(&m, "model_multivariate_drift_detected", &l), Some(0.0), "{method}\n{m}");
    }
}

#[tokio::test]
async fn exported_bin_counts_and_reference_shares_give_back_the_sidecars_psi() {
    let (_dir, state, reference) = setup();
    let m0 = metrics(&state).await;
    assert_eq!(sample(&m0, "data_drift_psi_eps", &[("model_name", "m")]), Some(1e-4));
    // Before any window: the reference shares, and zero counts, are there.
    assert_eq!(sample(&m0, "data_drift_window_bin_count", &[("feature", "a"), ("bin", "0")]), Some(0.0));
    let (a, b, c): Columns = {
        let (a, b, c) = rows(500, 0.9, 4);
        (a.iter().map(|x| x + 0.7).collect(), b, c)
    };
    let (s, body) = post_json(&state, &json!({"model": "m", "features": {"a": a.clone(), "b": b, "c": c}})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let m = metrics(&state).await;
    let mut sorted = reference.0.clone();
    sorted.sort_by(f64::total_cmp);
    let edges = psi::quantile_edges(&sorted, 10);
    let counts = psi::bin_counts(&a, &edges);
    let ref_counts = psi::bin_counts(&sorted, &edges);
    let (mut ours, mut shares) = (Vec::new(), Vec::new());
    for (i, (&want, &r)) in counts.iter().zip(&ref_counts).enumerate() {
        let l = [("model_name", "m"), ("feature", "a"), ("bin", &*i.to_string())];
        let got = sample(&m, "data_drift_window_bin_count", &l).unwrap();
        assert_eq!(got, want as f64, "bin {i}");
        let share = sample(&m, "data_drift_reference_bin_share", &l).unwrap();
        assert!((share - r as f64 / 2000.0).abs() < 1e-15, "bin {i}");
        ours.push(got as u64);
        shares.push(share);
    }
    // PSI from the exported numbers, as the fleet rules compute it, is the exported PSI.
    let psi_from_export: f64 = ours
        .iter()
        .zip(&shares)
        .map(|(&c, &r)| {
            let (c, r) = ((c as f64 / 500.0).max(1e-4), r.max(1e-4));
            (c - r) * (c / r).ln()
        })
        .sum();
    let exported = sample(&m, "data_drift_score", &[("feature", "a"), ("method", "psi")]).unwrap();
    assert!((psi_from_export - exported).abs() <= 1e-12 * exported, "{psi_from_export} vs {exported}");
    assert!(exported > 0.2, "the shift is drift: {exported}");
}

#[test]
fn export_bins_needs_a_reference_file_and_multivariate_two_features_and_a_window_of_20() {
    let toml = r#"
[[model]]
name = "m"
warmup = 10
window = 10
export_bins = true
[[model.features]]
name = "x"
kind = "numeric"
[model.multivariate]
methods = ["pca", "pca"]
features = ["x"]
"#;
    let e = driftwatch::config::Sources::from_str(toml, std::path::Path::new(".")).unwrap().validate().unwrap_err();
    let text = e.to_string();
    for want in [
        "model[0].export_bins: needs a reference file",
        "model[0].multivariate.methods: a method is listed twice",
        "model[0].multivariate.features: multivariate drift needs at least two features",
        "model[0].window: must be at least 20 with [model.multivariate], got 10",
        "model[0].warmup: must be at least 20 with [model.multivariate], got 10",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

/// `triggers = ["multivariate"]`: a window only multivariate methods flag asks for a retrain, with
/// their verdicts in the payload, through the same policy and outbox as univariate drift.
#[tokio::test]
async fn multivariate_drift_alone_triggers_a_retrain_request_carrying_the_verdicts() {
    let rx = crate::support::receiver::Receiver::start("127.0.0.1:0", &[]).await;
    let (dir, _, _) = setup();
    let config = format!(
        "[server]\ndata_dir = \"data\"\n{CONFIG}\n[model.retrain]\nurl = \"{}\"\nfor_windows = 1\ntriggers = [\"multivariate\"]\n",
        rx.url()
    );
    let config = driftwatch::config::Sources::from_str(&config, dir.path()).unwrap().validate().unwrap();
    let state = std::sync::Arc::new(driftwatch::server::AppState::build(&config).unwrap());
    state.start_background();
    let (a, b, c) = rows(500, -0.9, 2);
    let (s, body) = post_json(&state, &json!({"model": "m", "features": {"a": a, "b": b, "c": c}})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let got = rx.wait_for(1, std::time::Duration::from_secs(10)).await;
    let payload = got[0].json();
    assert_eq!(payload["trigger"], "multivariate", "{payload}");
    assert_eq!(payload["features"], json!([]), "no feature drifted on its own");
    let verdicts = payload["multivariate"].as_array().unwrap();
    let methods: Vec<&str> = verdicts.iter().map(|v| v["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["pca", "classifier", "mmd"]);
    assert!(verdicts.iter().all(|v| v["drifted"] == true), "{payload}");
    assert!(payload["reason"].as_str().unwrap().starts_with("multivariate drift (pca, classifier, mmd)"), "{payload}");
}
