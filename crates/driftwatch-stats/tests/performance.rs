//! The realised performance metrics against scikit-learn, on the cases of
//! tests/golden/performance.json (written by tests/golden/make_performance.py): binary and multiclass
//! accuracy, precision, recall, F1, ROC AUC and log loss, regression MAE, RMSE, MAPE and R², and the
//! expected calibration error the script computes from its definition in numpy (and, for binary
//! cases, cross-checks with sklearn's calibration_curve).
//!
//! Tolerances: 1e-12 relative for every metric. The inputs are dyadic and stored exactly, so the
//! only differences are summation order (numpy sums pairwise, the Rust side with a compensated sum)
//! and, for the AUC, sklearn's trapezoid over the ROC curve against the Mann–Whitney rank sum: all a
//! few ulps, far inside 1e-12 (with sklearn 1.9.1 the largest difference seen is 2.4e-16). Counting metrics (accuracy, precision, recall, F1) come out of the
//! same integer counts and the same division, so they are held to 1e-15. A metric sklearn leaves
//! undefined is null in the JSON and must be None (ROC AUC) or NaN (R²) here.

use driftwatch_stats::performance::metrics::{Task, classification_metrics, regression_metrics};
use serde_json::Value;

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/performance.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn labels(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Row-major n × classes, checking every row has `classes` entries.
fn rows(v: &Value, classes: usize) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            let row = floats(row);
            assert_eq!(row.len(), classes);
            row
        })
        .collect()
}

/// Relative to the larger magnitude, with an absolute floor for values near 0.
fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(got.abs()) + 1e-15
}

const REL: f64 = 1e-12;
const COUNTS: f64 = 1e-15;

fn assert_close(case: &str, metric: &str, got: f64, want: f64, rel: f64) {
    assert!(close(got, want, rel), "{case} {metric}: got {got:?}, sklearn {want:?}");
}

/// An expected value that sklearn may leave undefined (null).
fn optional(v: &Value) -> Option<f64> {
    if v.is_null() { None } else { Some(v.as_f64().unwrap()) }
}

struct Checked {
    cases: usize,
    undefined_auc: usize,
}

/// Runs every case of `section` and compares each metric with sklearn's.
fn check_classification(section: &str, task_of: impl Fn(&Value) -> Task) -> Checked {
    let g = golden();
    let mut checked = Checked { cases: 0, undefined_auc: 0 };
    for case in g[section].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let classes = case["classes"].as_u64().unwrap() as usize;
        let truth = labels(&case["truth"]);
        let predicted = labels(&case["predicted"]);
        let probabilities = rows(&case["probabilities"], classes);
        let want = &case["expected"];
        let got = classification_metrics(&truth, &predicted, classes, task_of(case), Some(&probabilities));

        assert_close(name, "accuracy", got.accuracy, want["accuracy"].as_f64().unwrap(), COUNTS);
        assert_close(name, "precision", got.precision, want["precision"].as_f64().unwrap(), COUNTS);
        assert_close(name, "recall", got.recall, want["recall"].as_f64().unwrap(), COUNTS);
        assert_close(name, "f1", got.f1, want["f1"].as_f64().unwrap(), COUNTS);
        match (got.roc_auc, optional(&want["roc_auc"])) {
            (Some(g), Some(w)) => assert_close(name, "roc_auc", g, w, REL),
            (None, None) => checked.undefined_auc += 1,
            (g, w) => panic!("{name} roc_auc: got {g:?}, sklearn {w:?}"),
        }
        assert_close(name, "log_loss", got.log_loss.unwrap(), want["log_loss"].as_f64().unwrap(), REL);
        let ece = want["calibration_error"].as_f64().unwrap();
        assert_close(name, "calibration_error", got.calibration_error.unwrap(), ece, REL);

        // Without probabilities the counting metrics are unchanged and the rest are absent.
        let bare = classification_metrics(&truth, &predicted, classes, task_of(case), None);
        assert_eq!(
            (bare.accuracy, bare.precision, bare.recall, bare.f1),
            (got.accuracy, got.precision, got.recall, got.f1)
        );
        assert_eq!((bare.roc_auc, bare.log_loss, bare.calibration_error), (None, None, None));
        checked.cases += 1;
    }
    checked
}

#[test]
fn binary_metrics_equal_sklearn_including_zero_division_clipping_and_ties() {
    let checked =
        check_classification("binary", |case| Task::Binary { positive: case["positive"].as_u64().unwrap() as u32 });
    assert_eq!(checked.cases, 8);
    assert_eq!(checked.undefined_auc, 1, "one_class_in_truth_100 has no positive: AUC undefined");
}

#[test]
fn multiclass_macro_metrics_and_ovr_auc_equal_sklearn() {
    let checked = check_classification("multiclass", |_| Task::Multiclass);
    assert_eq!(checked.cases, 4);
    assert_eq!(checked.undefined_auc, 1, "a class absent from the truth leaves the ovr AUC undefined");
}

#[test]
fn binary_cases_cover_what_they_claim() {
    // The golden cases are only worth their names if the data has the property; the script asserts
    // the same when it writes them.
    let g = golden();
    let case = |name: &str| g["binary"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let c = case("no_positive_predicted_200");
    assert!(labels(&c["predicted"]).iter().all(|&p| p == 0));
    assert_eq!(c["expected"]["precision"].as_f64(), Some(0.0));
    let c = case("clipped_probabilities_300");
    let p = rows(&c["probabilities"], 2);
    assert!(p.contains(&0.0) && p.contains(&1.0));
    // −ln ε per confidently wrong row: the loss is finite only because of the clipping.
    assert!(c["expected"]["log_loss"].as_f64().unwrap() > 1.0);
    let c = case("positive_class_zero_250");
    assert_eq!(c["positive"].as_u64(), Some(0));
    let c = case("bin_edge_half_160");
    assert!(rows(&c["probabilities"], 2).contains(&0.5));
    assert_eq!(c["ece_crosschecked_with_calibration_curve"], Value::Bool(false));
    let crosschecked =
        g["binary"].as_array().unwrap().iter().filter(|c| c["ece_crosschecked_with_calibration_curve"] == true).count();
    assert_eq!(crosschecked, 7);
}

#[test]
fn regression_metrics_equal_sklearn_including_zero_and_constant_truth() {
    let g = golden();
    let mut cases = 0;
    for case in g["regression"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let truth = floats(&case["truth"]);
        let predicted = floats(&case["predicted"]);
        let want = &case["expected"];
        let got = regression_metrics(&truth, &predicted);
        assert_close(name, "mae", got.mae, want["mae"].as_f64().unwrap(), REL);
        assert_close(name, "rmse", got.rmse, want["rmse"].as_f64().unwrap(), REL);
        assert_close(name, "mape", got.mape, want["mape"].as_f64().unwrap(), REL);
        match optional(&want["r2"]) {
            Some(w) => assert_close(name, "r2", got.r2, w, REL),
            None => assert!(got.r2.is_nan(), "{name} r2: got {:?}, sklearn NaN", got.r2),
        }
        cases += 1;
    }
    assert_eq!(cases, 7);
}

#[test]
fn golden_file_records_its_generator_versions() {
    let g = golden();
    assert_eq!(g["generator"], "tests/golden/make_performance.py");
    for key in ["python", "numpy", "sklearn", "scipy"] {
        assert!(g["versions"][key].is_string(), "versions.{key}");
    }
    assert_eq!(g["ece_bins"].as_u64(), Some(10));
}
