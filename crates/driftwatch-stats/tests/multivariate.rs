//! The multivariate detectors against their oracles, on the data of tests/golden/multivariate.json
//! (written by tests/golden/make_multivariate.py): PCA reconstruction drift against NannyML's
//! DataReconstructionDriftCalculator, MMD² against alibi-detect's, the AUC against scikit-learn's
//! roc_auc_score. Then the point of multivariate drift: the correlation flip, whose marginals do
//! not change, is flagged by all three and by none of the univariate tests.

use driftwatch_stats::drift::{self, Method, NumericReference};
use driftwatch_stats::multivariate::Matrix;
use driftwatch_stats::multivariate::auc::roc_auc;
use driftwatch_stats::multivariate::classifier::{ClassifierSettings, cross_validated_auc};
use driftwatch_stats::multivariate::encode::{Column, Encoder, MISSING};
use driftwatch_stats::multivariate::mmd::{median_sigma, mmd_test, mmd2};
use driftwatch_stats::multivariate::pca::{Band, Pca, chunk_errors};
use serde_json::Value;

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/multivariate.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
}

fn matrix(v: &Value) -> Matrix {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    Matrix::new(rows.len(), cols, rows.iter().flat_map(floats).collect())
}

/// Relative to the larger magnitude, with an absolute floor for values near 0.
fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(got.abs()) + 1e-13
}

/// The frame of one data set: x1..x4 as numbers, c as codes of the reference's sorted categories.
struct Frame {
    numeric: Vec<Vec<f64>>,
    codes: Vec<u32>,
}

fn frame(data: &Value, categories: &[String]) -> Frame {
    let numeric = ["x1", "x2", "x3", "x4"].iter().map(|k| floats(&data[k])).collect();
    let codes = data["c"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match v.as_str() {
            None => MISSING,
            Some(s) => categories.iter().position(|c| c == s).unwrap_or(categories.len()) as u32,
        })
        .collect();
    Frame { numeric, codes }
}

impl Frame {
    fn columns(&self, categories: usize) -> Vec<Column<'_>> {
        let mut cols: Vec<Column<'_>> = self.numeric.iter().map(|v| Column::Numeric(v)).collect();
        cols.push(Column::Categorical { codes: &self.codes, categories });
        cols
    }
}

fn reference_categories(g: &Value) -> Vec<String> {
    let mut cats: Vec<String> =
        g["reference"]["c"].as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    cats.sort();
    cats.dedup();
    cats
}

#[test]
fn reconstruction_drift_equals_nannyml() {
    let g = golden();
    let p = &g["pca"];
    assert_eq!(p["column_order"], serde_json::json!(["x1", "x2", "x3", "x4", "c"]));
    let cats = reference_categories(&g);
    let reference = frame(&g["reference"], &cats);
    let encoder = Encoder::fit(&reference.columns(cats.len())).unwrap();
    for (got, want) in encoder.mean.iter().zip(floats(&p["scaler_mean"])) {
        assert!(close(*got, want, 1e-12), "scaler mean {got} vs {want}");
    }
    for (got, want) in encoder.scale.iter().zip(floats(&p["scaler_scale"])) {
        assert!(close(*got, want, 1e-12), "scaler scale {got} vs {want}");
    }
    let x_ref = encoder.transform(&reference.columns(cats.len()));
    let pca = Pca::fit(&x_ref, p["variance_share"].as_f64().unwrap());
    assert_eq!(pca.n_components as u64, p["n_components"].as_u64().unwrap());
    for (got, want) in pca.explained_variance_ratio.iter().zip(floats(&p["explained_variance_ratio"])) {
        assert!((got - want).abs() < 1e-12, "explained variance ratio {got} vs {want}");
    }
    let chunk = p["chunk_size"].as_u64().unwrap() as usize;
    let errors = chunk_errors(&pca, &x_ref, chunk);
    let want_errors = floats(&p["reference_chunk_errors"]);
    assert_eq!(errors.len(), want_errors.len());
    for (got, want) in errors.iter().zip(&want_errors) {
        assert!(close(*got, *want, 1e-9), "reference chunk error {got} vs {want}");
    }
    let band = Band::from_errors(&errors, 3.0).unwrap();
    assert!(close(band.upper, p["upper_threshold"].as_f64().unwrap(), 1e-9));
    match p["lower_threshold"].as_f64() {
        Some(want) => assert!(close(band.lower.unwrap(), want, 1e-9)),
        None => assert_eq!(band.lower, None),
    }
    let windows = g["windows"].as_array().unwrap();
    let want_windows = p["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 4);
    for (w, want) in windows.iter().zip(want_windows) {
        assert_eq!(w["name"], want["name"]);
        let f = frame(&w["data"], &cats);
        let error = pca.error(&encoder.transform(&f.columns(cats.len())));
        assert!(close(error, want["error"].as_f64().unwrap(), 1e-9), "{}: {error} vs {}", w["name"], want["error"]);
        assert_eq!(band.flags(error), want["alert"].as_bool().unwrap(), "{}", w["name"]);
    }
}

#[test]
fn mmd_equals_alibi_detect_with_a_given_and_the_median_bandwidth() {
    let g = golden();
    let m = &g["mmd"];
    let x_ref = matrix(&m["x_ref"]);
    for w in m["windows"].as_array().unwrap() {
        let x = matrix(&w["x"]);
        let name = &w["name"];
        let sigma = w["sigma"].as_f64().unwrap();
        let got = mmd2(&x_ref, &x, sigma);
        assert!(close(got, w["mmd2"].as_f64().unwrap(), 1e-9), "{name}: σ = {sigma}: {got} vs {}", w["mmd2"]);
        // alibi infers σ from the reference against itself and stores it as f32; the float64
        // value is the heuristic itself, and its γ reproduces alibi's statistic.
        let median = median_sigma(&x_ref, &x_ref);
        assert!(close(median, w["median_sigma_float64"].as_f64().unwrap(), 1e-12), "{name}: median σ {median}");
        let gamma = w["median_gamma"].as_f64().unwrap();
        let got = mmd2(&x_ref, &x, (1.0 / (2.0 * gamma)).sqrt());
        assert!(
            close(got, w["mmd2_median"].as_f64().unwrap(), 1e-9),
            "{name}: median σ: {got} vs {}",
            w["mmd2_median"]
        );
        let cross = median_sigma(&x_ref, &x);
        assert!(close(cross, w["median_sigma_ref_vs_x_float64"].as_f64().unwrap(), 1e-12), "{name}: {cross}");
    }
}

#[test]
fn auc_equals_scikit_learn_including_ties() {
    let g = golden();
    let cases = g["auc"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let y: Vec<bool> = case["y"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() == 1).collect();
        let got = roc_auc(&y, &floats(&case["score"])).unwrap();
        let want = case["auc"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{}: {got} vs {want}", case["name"]);
    }
}

#[test]
fn a_correlation_flip_is_flagged_by_every_multivariate_method_and_no_univariate_one() {
    let g = golden();
    let cats = reference_categories(&g);
    let reference = frame(&g["reference"], &cats);
    let windows = g["windows"].as_array().unwrap();
    let flip = windows.iter().find(|w| w["name"] == "correlation_flip").unwrap();
    let same = windows.iter().find(|w| w["name"] == "same").unwrap();
    let (flip, same) = (frame(&flip["data"], &cats), frame(&same["data"], &cats));

    // Univariate: PSI and KS (Bonferroni over the four numeric features) see nothing in x1..x4.
    for (j, (r, w)) in reference.numeric.iter().zip(&flip.numeric).enumerate() {
        let r = NumericReference::fit(r.iter().copied().filter(|v| !v.is_nan()).collect(), 10).unwrap();
        let mut w: Vec<f64> = w.iter().copied().filter(|v| !v.is_nan()).collect();
        let s = drift::score_numeric(&r, &mut w, &[Method::Psi, Method::Ks], 1e-4);
        assert!(s[0].score < 0.2, "x{}: PSI {}", j + 1, s[0].score);
        assert!(s[1].pvalue.unwrap() > 0.05 / 4.0, "x{}: KS p {}", j + 1, s[1].pvalue.unwrap());
    }

    let encoder = Encoder::fit(&reference.columns(cats.len())).unwrap();
    let x_ref = encoder.transform(&reference.columns(cats.len()));
    let x_flip = encoder.transform(&flip.columns(cats.len()));
    let x_same = encoder.transform(&same.columns(cats.len()));

    let pca = Pca::fit(&x_ref, 0.65);
    let band = Band::from_errors(&chunk_errors(&pca, &x_ref, 500), 3.0).unwrap();
    assert!(band.flags(pca.error(&x_flip)) && !band.flags(pca.error(&x_same)));

    let s = ClassifierSettings::default();
    let auc_flip = cross_validated_auc(&x_ref, &x_flip, s, 1).unwrap();
    let auc_same = cross_validated_auc(&x_ref, &x_same, s, 1).unwrap();
    assert!(auc_flip > 0.65 && auc_same < 0.65, "AUC flip {auc_flip}, same {auc_same}");

    let sub_ref = x_ref.slice_rows(0..500);
    let flip_test = mmd_test(&sub_ref, &x_flip, None, 200, 0.05, 1);
    let same_test = mmd_test(&sub_ref, &x_same, None, 200, 0.05, 1);
    assert!(flip_test.pvalue < 0.05 && flip_test.mmd2 > flip_test.threshold, "{flip_test:?}");
    assert!(same_test.pvalue > 0.05, "{same_test:?}");
}
