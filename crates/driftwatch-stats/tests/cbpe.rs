//! CBPE against NannyML, on the data of tests/golden/cbpe.json (written by
//! tests/golden/make_cbpe.py): the calibration rule with its folds and calibration errors, the
//! isotonic calibrator, the sampling-error components, the reference chunks' realised metrics and
//! the thresholds, and every estimate, sampling error, confidence bound and alert of the reference
//! and analysis chunks, for a miscalibrated (calibrated by the rule) and a calibrated (left alone)
//! model.
//!
//! Tolerances: none. Everything is computed with NannyML's (numpy's, scikit-learn's, scipy's)
//! order of floating-point operations, numpy's pairwise summation included, and agrees to the last
//! bit, with two stated exceptions:
//! - the reference chunks' realised ROC AUC, and the ROC AUC thresholds derived from it, come from
//!   the crate's `roc_auc` (the Mann–Whitney U), while NannyML calls scikit-learn's `roc_auc_score`
//!   (a trapezoidal sum over the ROC curve): the same number up to rounding, held to 1e-15 relative
//!   (they differ by at most 2 ulps here);
//! - NannyML's own calibration error after calibration depends on how numpy's unstable argsort
//!   orders tied values (see the module docs of `performance::cbpe`), so it is held to 1e-3
//!   absolute, while its stable-sort value, which the Rust side computes, is held exactly.

use driftwatch_stats::performance::cbpe::{
    CbpeEstimate, CbpeMetric, CbpeReference, Isotonic, calibration_folds, needs_calibration,
};
use serde_json::Value;

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/cbpe.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() == 1).collect()
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn opt(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Bit-for-bit.
const EXACT: f64 = 0.0;
/// Two different but exact-in-principle ROC AUC formulas (see the module docs).
const ROC_AUC_ROUNDING: f64 = 1e-15;

/// Within `rel` of the larger magnitude (`rel` 0: equal); NaN equals NaN.
fn close(got: f64, want: f64, rel: f64) -> bool {
    (got.is_nan() && want.is_nan()) || (got - want).abs() <= rel * want.abs().max(got.abs())
}

/// The tolerance of a value derived from the reference chunks' realised metric.
fn realized_tolerance(m: CbpeMetric) -> f64 {
    if m == CbpeMetric::RocAuc { ROC_AUC_ROUNDING } else { EXACT }
}

fn assert_close(got: f64, want: f64, rel: f64, what: &str) {
    assert!(close(got, want, rel), "{what}: got {got:e}, want {want:e} (diff {:e})", got - want);
}

fn assert_all_close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(*g, *w, rel, &format!("{what}[{i}]"));
    }
}

fn assert_opt(got: Option<f64>, want: Option<f64>, rel: f64, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert_close(g, w, rel, what),
        (None, None) => {}
        _ => panic!("{what}: got {got:?}, want {want:?}"),
    }
}

struct Labelled {
    y_true: Vec<bool>,
    y_pred: Vec<bool>,
    proba: Vec<f64>,
}

fn labelled(v: &Value) -> Labelled {
    Labelled { y_true: bools(&v["y_true"]), y_pred: bools(&v["y_pred"]), proba: floats(&v["proba"]) }
}

fn check_row(got: &[CbpeEstimate], want: &Value, what: &str) {
    assert_eq!(got.len(), 3);
    assert_eq!(got.iter().map(|e| e.metric).collect::<Vec<_>>(), CbpeMetric::ALL);
    for e in got {
        let w = &want[e.metric.name()];
        let what = format!("{what} {}", e.metric.name());
        assert_close(e.value, w["value"].as_f64().unwrap(), EXACT, &format!("{what} value"));
        assert_close(e.sampling_error, w["sampling_error"].as_f64().unwrap(), EXACT, &format!("{what} sampling_error"));
        assert_close(e.upper, w["upper_confidence_boundary"].as_f64().unwrap(), EXACT, &format!("{what} upper"));
        assert_close(e.lower, w["lower_confidence_boundary"].as_f64().unwrap(), EXACT, &format!("{what} lower"));
        let rel = realized_tolerance(e.metric);
        assert_opt(e.upper_threshold, opt(&w["upper_threshold"]), rel, &format!("{what} upper_threshold"));
        assert_opt(e.lower_threshold, opt(&w["lower_threshold"]), rel, &format!("{what} lower_threshold"));
        assert_eq!(e.alert, w["alert"].as_bool().unwrap(), "{what} alert");
    }
}

#[test]
fn isotonic_regression_equals_sklearn() {
    let g = golden();
    for case in g["isotonic_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let iso = Isotonic::fit(&floats(&case["x"]), &floats(&case["y"])).unwrap();
        assert_eq!(iso.x_thresholds, floats(&case["x_thresholds"]), "{name}: X_thresholds_");
        assert_eq!(iso.y_thresholds, floats(&case["y_thresholds"]), "{name}: y_thresholds_");
        let got: Vec<f64> = floats(&case["t"]).iter().map(|&t| iso.predict(t)).collect();
        assert_eq!(got, floats(&case["predict"]), "{name}: predict");
    }
}

#[test]
fn calibration_rule_equals_nannyml() {
    let g = golden();
    let mut decisions = Vec::new();
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let reference = labelled(&case["reference"]);
        let c = &case["calibration"];
        // scikit-learn's StratifiedShuffleSplit(10, test_size=0.1, random_state=42), index for index.
        let folds = calibration_folds(&reference.y_true).unwrap();
        let want: Vec<Vec<usize>> = c["test_indices"].as_array().unwrap().iter().map(indices).collect();
        assert_eq!(folds.len(), want.len());
        for (k, ((train, test), want)) in folds.iter().zip(&want).enumerate() {
            assert_eq!(test, want, "{name}: fold {k} test indices");
            assert_eq!(train.len() + test.len(), reference.y_true.len());
        }
        let check = needs_calibration(&reference.y_true, &reference.proba).unwrap();
        assert_eq!(check.needed, c["needs_calibration"].as_bool().unwrap(), "{name}: needs_calibration");
        assert_close(
            check.ece_before.unwrap(),
            c["ece_before"].as_f64().unwrap(),
            EXACT,
            &format!("{name}: ece before"),
        );
        assert_close(
            check.ece_after.unwrap(),
            c["ece_after_stable"].as_f64().unwrap(),
            EXACT,
            &format!("{name}: ece after (stable order of ties)"),
        );
        // NannyML's own value orders the tied isotonic outputs its own way (see the module docs).
        let nannyml_after = c["ece_after"].as_f64().unwrap();
        assert!((check.ece_after.unwrap() - nannyml_after).abs() < 1e-3, "{name}: ece after vs NannyML's");
        decisions.push(check.needed);
    }
    // The golden covers both branches of the rule.
    assert_eq!(decisions, [true, false]);
}

#[test]
fn fitted_reference_equals_nannyml() {
    let g = golden();
    let chunk = g["chunk_size"].as_u64().unwrap() as usize;
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let reference = labelled(&case["reference"]);
        let analysis = labelled(&case["analysis"]);
        let fitted = CbpeReference::fit(&reference.y_true, &reference.y_pred, &reference.proba, chunk).unwrap();
        assert_eq!(fitted.calibration.needed, case["calibration"]["needs_calibration"].as_bool().unwrap());
        assert_eq!(fitted.calibrator.is_some(), fitted.calibration.needed);

        // The isotonic fit on the whole reference (NannyML's calibrator when it calibrates).
        let iso = &case["isotonic"];
        let full = Isotonic::fit(
            &reference.proba,
            &reference.y_true.iter().map(|&t| f64::from(u8::from(t))).collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(full.x_thresholds, floats(&iso["x_thresholds"]), "{name}: X_thresholds_");
        assert_eq!(full.y_thresholds, floats(&iso["y_thresholds"]), "{name}: y_thresholds_");
        assert_eq!((full.x_min, full.x_max), (iso["x_min"].as_f64().unwrap(), iso["x_max"].as_f64().unwrap()));
        let calibrated: Vec<f64> = analysis.proba.iter().map(|&p| full.predict(p)).collect();
        assert_eq!(calibrated, floats(&iso["calibrated_analysis"]), "{name}: calibrated analysis");
        if let Some(c) = &fitted.calibrator {
            assert_eq!(c, &full);
        }

        // Sampling-error components.
        let comp = &case["sampling_error_components"];
        for m in CbpeMetric::ALL {
            let r = fitted.metric(m);
            let want = floats(&comp[m.name()]);
            assert_close(r.std, want[0], EXACT, &format!("{name}: {} std component", m.name()));
            if m != CbpeMetric::Accuracy {
                assert_close(r.fraction, want[1], EXACT, &format!("{name}: {} fraction component", m.name()));
            }
            let rel = realized_tolerance(m);
            let realized = floats(&case["reference_realized"][m.name()]);
            assert_all_close(
                &r.reference_realized,
                &realized,
                rel,
                &format!("{name}: {} reference realized", m.name()),
            );
            let t = &case["thresholds"][m.name()];
            assert_opt(r.lower_threshold, opt(&t[0]), rel, &format!("{name}: {} lower threshold", m.name()));
            assert_opt(r.upper_threshold, opt(&t[1]), rel, &format!("{name}: {} upper threshold", m.name()));
        }
    }
}

#[test]
fn estimates_equal_nannyml() {
    let g = golden();
    let chunk = g["chunk_size"].as_u64().unwrap() as usize;
    let names: Vec<&str> = g["analysis_chunks"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let reference = labelled(&case["reference"]);
        let analysis = labelled(&case["analysis"]);
        let fitted = CbpeReference::fit(&reference.y_true, &reference.y_pred, &reference.proba, chunk).unwrap();
        // NannyML's reference-period rows: the reference's own chunks, estimated.
        for (k, want) in case["reference_chunks"].as_array().unwrap().iter().enumerate() {
            let (a, b) = (k * chunk, (k + 1) * chunk);
            let got = fitted.estimate(&reference.y_pred[a..b], &reference.proba[a..b]);
            check_row(&got, want, &format!("{name} reference chunk {k}"));
        }
        let mut rows = Vec::new();
        for (k, want) in case["analysis_chunks"].as_array().unwrap().iter().enumerate() {
            let (a, b) = (k * chunk, (k + 1) * chunk);
            let got = fitted.estimate(&analysis.y_pred[a..b], &analysis.proba[a..b]);
            check_row(&got, want, &format!("{name} {}", names[k]));
            rows.push(got);
        }
        // The point of CBPE: the shift toward the decision boundary lowers every estimate and alerts,
        // and the estimates track the realised values the labels give later.
        let accuracy = |row: &[CbpeEstimate]| row.iter().find(|e| e.metric == CbpeMetric::Accuracy).unwrap().value;
        assert!(accuracy(&rows[1]) < accuracy(&rows[0]) - 0.1, "{name}: boundary accuracy");
        assert!(rows[1].iter().all(|e| e.alert), "{name}: boundary alerts");
        assert!(rows[0].iter().all(|e| !e.alert), "{name}: same-distribution chunk alerts");
        for (k, want) in case["analysis_chunks"].as_array().unwrap().iter().enumerate() {
            for e in &rows[k] {
                let realized = want[e.metric.name()]["realized"].as_f64().unwrap();
                assert!((e.value - realized).abs() < 4.0 * e.sampling_error, "{name} {}: {:?}", names[k], e);
            }
        }
    }
}
