//! Confidence-based performance estimation (NannyML's CBPE) for binary classifiers: ROC AUC, F1
//! and accuracy estimated from the model's own probabilities, before the labels arrive.
//!
//! If a classifier's probabilities are calibrated (of the rows given probability p, a share p is
//! positive), the expected confusion matrix of a window follows from its probabilities and
//! predictions alone: a row predicted positive with probability p is a true positive with
//! probability p and a false positive with probability 1 − p. CBPE fits on a labelled reference:
//! it decides whether the reference's probabilities need calibrating and if so fits an isotonic
//! calibrator, takes the sampling-error components of each metric from the reference, and sets
//! each metric's alert thresholds from the metric's realised values on reference chunks. A window
//! is then estimated from its (calibrated) probabilities.
//!
//! Everything follows the source of nannyml 0.13.1, scikit-learn 1.9.1, scipy 1.17.1 and
//! numpy 1.26.4, down to the order of floating-point operations (numpy's pairwise summation
//! included), so that on the data of `tests/golden/cbpe.json` (written by
//! `tests/golden/make_cbpe.py`) `tests/cbpe.rs` finds every estimate, sampling error, bound,
//! component, fold and calibration error equal to NannyML's bit for bit (the realised reference
//! ROC AUC, from the crate's Mann–Whitney [`roc_auc`] rather than scikit-learn's trapezoid, and the
//! ROC AUC thresholds agree to 1e-15):
//!
//! - **Calibration rule** (`nannyml/calibration.py::needs_calibration`): no calibration when the
//!   reference has one class or its ROC AUC exceeds 0.999. Otherwise scikit-learn's
//!   `StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42)` (reproduced with numpy's
//!   legacy MT19937 `RandomState`, see [`calibration_folds`]) makes 10 folds; on each, an isotonic
//!   calibrator fitted on the train part calibrates the test part. The test parts (and their
//!   calibrated values) are concatenated, sorted, cut into 10 equal-count bins
//!   (`_get_bin_index_edges`) and the expected calibration error `Σ (bin size / n)·|mean p − mean y|`
//!   (`_calculate_expected_calibration_error`) computed before and after; calibration is needed iff
//!   the error before is larger.
//! - **Calibrator** (`IsotonicCalibrator`: `IsotonicRegression(out_of_bounds="clip",
//!   increasing=True)`): see [`Isotonic`].
//! - **Estimates** (`performance_estimation/confidence_based/metrics.py`), with calibrated
//!   probabilities c and predictions ŷ: `TP = Σ_{ŷ=1} c`, `FP = Σ_{ŷ=1} (1 − c)`,
//!   `FN = Σ_{ŷ=0} c`, `TN = Σ_{ŷ=0} (1 − c)`; accuracy `(TP + TN) / n` (`estimate_accuracy`); F1
//!   `TP / (TP + (FP + FN)/2)`, 0 when that is 0 (`estimate_f1`); ROC AUC (`estimate_roc_auc`): rows
//!   sorted by the *uncalibrated* probability, descending; the cumulative sums of c (expected true
//!   positives) and of 1 − c (expected false positives), each rounded to 5 decimals, divided by
//!   their totals give the expected TPR/FPR curve, whose trapezoidal area (`sklearn.metrics.auc`) is
//!   the estimate.
//! - **Sampling error** (`nannyml/sampling_error/binary_classification.py`), from the
//!   *uncalibrated* reference (the metrics are fitted before the calibrator): accuracy
//!   `std(1[y = ŷ]) / √n`; F1 `std(v) / √(n·f)` where v has one entry `m / (TP + (FP + FN)/2)` per
//!   reference true positive and a 0 per false positive and false negative (m of them in all) and
//!   f = m / n_ref; ROC AUC `std(s) / √(n·f)` where, with the classes swapped if more than half the
//!   reference is positive, the reference is sorted by probability (ranks from 0) and s holds, for
//!   each positive at rank r > 0, r minus the number of earlier such positives — the negatives
//!   ranked below it, plus one if the row at rank 0 is a positive, which `np.unique(ranks)[1:]`
//!   drops — over the number of negatives; f is the share of positives. n is the
//!   window's row count, std numpy's (population) standard deviation.
//! - **Confidence band** (`Metric.get_chunk_record`): estimate ± 3·sampling error
//!   (`SAMPLING_ERROR_RANGE`), clipped to [0, 1] (the metrics' value limits).
//! - **Thresholds** (`thresholds.py`, `StandardDeviationThreshold` defaults and
//!   `calculate_threshold_values`): the realised metric (on the uncalibrated probabilities, labels
//!   and predictions) of each reference chunk of `chunk` rows (`SizeBasedChunker`, a last partial
//!   chunk kept), then `nanmean ± 3·nanstd`. A lower threshold at or below 0 *becomes 0* and an
//!   upper one at or above 1 becomes 1: CBPE's metrics pass the limits but not
//!   `override_using_none`, so the limit replaces the value (None is only for threshold values
//!   that are NaN here, e.g. every reference chunk single-class). A window alerts when its
//!   estimate is below the lower or above the upper threshold.
//!
//! Deviations (the golden data show only the first, in a diagnostic value):
//! - Ties. numpy's `argsort` (quicksort; AVX-512 x86-simd-sort where available) leaves the order
//!   of equal values unspecified, and two of NannyML's steps depend on it: the ROC AUC sampling
//!   error (tied reference probabilities of a positive and a negative) and the calibration errors
//!   of the rule (tied values straddling a bin edge; the isotonic outputs are full of ties). Here
//!   ties keep their input order (a stable sort), so those numbers are deterministic but can differ
//!   from a NannyML run by a few 1e-4 (the golden case's error after calibration: 0.012784 in
//!   NannyML, 0.012396 with a stable sort; the decision is the same). The calibrator and the
//!   estimates themselves do not depend on the order of ties.
//! - Invalid input: [`CbpeReference::fit`] returns None where NannyML raises (empty or
//!   mismatched input, a non-finite probability, a class with a single row when the rule has to
//!   split the reference); [`CbpeReference::estimate`] drops rows whose probability is NaN (as
//!   NannyML's `common_nan_removal` does when it does not calibrate; with a calibrator NannyML
//!   raises).

use crate::multivariate::auc::roc_auc;

/// NannyML's `SAMPLING_ERROR_RANGE`: the confidence band is the estimate ± this many sampling
/// errors.
pub const SAMPLING_ERROR_RANGE: f64 = 3.0;
/// `StandardDeviationThreshold`'s default multipliers: thresholds are the mean of the reference
/// chunks' realised values ± this many standard deviations.
pub const THRESHOLD_STD_MULTIPLIER: f64 = 3.0;
/// `needs_calibration`'s defaults: folds, the test share of each, the seed, and the bins of the
/// expected calibration error.
const SPLITS: usize = 10;
const TEST_SIZE: f64 = 0.1;
const SPLIT_SEED: u32 = 42;
const ECE_BINS: usize = 10;

/// A metric CBPE estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CbpeMetric {
    Accuracy,
    F1,
    RocAuc,
}

impl CbpeMetric {
    /// The metrics in the order [`CbpeReference::estimate`] returns them (NannyML's
    /// `metrics=["roc_auc", "f1", "accuracy"]`).
    pub const ALL: [CbpeMetric; 3] = [CbpeMetric::RocAuc, CbpeMetric::F1, CbpeMetric::Accuracy];

    /// NannyML's name of the metric.
    pub fn name(self) -> &'static str {
        match self {
            CbpeMetric::Accuracy => "accuracy",
            CbpeMetric::F1 => "f1",
            CbpeMetric::RocAuc => "roc_auc",
        }
    }
}

/// One metric's estimate for one window, with NannyML's uncertainty and alert.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CbpeEstimate {
    pub metric: CbpeMetric,
    /// The estimated metric (NaN when the window has no usable row).
    pub value: f64,
    /// The estimate's sampling error for a window of this size.
    pub sampling_error: f64,
    /// `max(0, value − 3·sampling_error)` (NannyML's `lower_confidence_boundary`).
    pub lower: f64,
    /// `min(1, value + 3·sampling_error)` (NannyML's `upper_confidence_boundary`).
    pub upper: f64,
    pub lower_threshold: Option<f64>,
    pub upper_threshold: Option<f64>,
    /// The estimate is below the lower or above the upper threshold.
    pub alert: bool,
}

/// The outcome of NannyML's `needs_calibration` rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationCheck {
    pub needed: bool,
    /// The expected calibration errors of the folds' test parts before and after calibration; None
    /// when the rule decided without them (one class, or ROC AUC above 0.999).
    pub ece_before: Option<f64>,
    pub ece_after: Option<f64>,
}

/// What the reference fixes for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricReference {
    pub metric: CbpeMetric,
    /// The sampling-error components: the reference standard deviation and, for F1 and ROC AUC,
    /// the fraction of relevant rows (1 for accuracy, whose error is `std / √n`).
    pub std: f64,
    pub fraction: f64,
    /// The realised metric of each reference chunk (NaN where undefined), the thresholds' input.
    pub reference_realized: Vec<f64>,
    pub lower_threshold: Option<f64>,
    pub upper_threshold: Option<f64>,
}

impl MetricReference {
    /// The sampling error of an estimate over `n` rows.
    pub fn sampling_error(&self, n: usize) -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        match self.metric {
            CbpeMetric::Accuracy => self.std / (n as f64).sqrt(),
            CbpeMetric::F1 | CbpeMetric::RocAuc => self.std / (n as f64 * self.fraction).sqrt(),
        }
    }

    /// NannyML's `Metric.alert`.
    pub fn alert(&self, value: f64) -> bool {
        self.lower_threshold.is_some_and(|l| value < l) || self.upper_threshold.is_some_and(|u| value > u)
    }
}

/// CBPE fitted on a labelled reference.
#[derive(Debug, Clone, PartialEq)]
pub struct CbpeReference {
    /// Rows per reference chunk (the thresholds' chunks).
    pub chunk: usize,
    pub calibration: CalibrationCheck,
    /// The isotonic calibrator, fitted on the whole reference when `calibration.needed`.
    pub calibrator: Option<Isotonic>,
    /// One per metric, in [`CbpeMetric::ALL`] order.
    pub metrics: Vec<MetricReference>,
}

impl CbpeReference {
    /// Fits on a labelled reference: y_true/y_pred as bools (positive class), proba = the positive
    /// class's probability; `chunk` = rows per chunk (the sidecar's performance window) for the
    /// reference-side thresholds. None where NannyML would raise: empty or mismatched input,
    /// `chunk` 0, a non-finite probability, or a class with one row when the calibration rule has
    /// to split the reference.
    pub fn fit(y_true: &[bool], y_pred: &[bool], proba: &[f64], chunk: usize) -> Option<CbpeReference> {
        let n = y_true.len();
        if n == 0 || y_pred.len() != n || proba.len() != n || chunk == 0 || proba.iter().any(|p| !p.is_finite()) {
            return None;
        }
        // CBPE._fit_binary fits the metrics first, on the uncalibrated reference.
        let (roc_std, roc_fraction) = auroc_sampling_error_components(y_true, proba);
        let (f1_std, f1_fraction) = f1_sampling_error_components(y_true, y_pred);
        let accuracy_std = accuracy_sampling_error_std(y_true, y_pred);
        let metrics = CbpeMetric::ALL
            .iter()
            .map(|&metric| {
                let (std, fraction) = match metric {
                    CbpeMetric::RocAuc => (roc_std, roc_fraction),
                    CbpeMetric::F1 => (f1_std, f1_fraction),
                    CbpeMetric::Accuracy => (accuracy_std, 1.0),
                };
                let reference_realized: Vec<f64> = (0..n)
                    .step_by(chunk)
                    .map(|a| {
                        let b = (a + chunk).min(n);
                        realized(metric, &y_true[a..b], &y_pred[a..b], &proba[a..b])
                    })
                    .collect();
                let (lower_threshold, upper_threshold) = thresholds(&reference_realized);
                MetricReference { metric, std, fraction, reference_realized, lower_threshold, upper_threshold }
            })
            .collect();
        let calibration = needs_calibration(y_true, proba)?;
        let calibrator = if calibration.needed {
            let y: Vec<f64> = y_true.iter().map(|&t| f64::from(u8::from(t))).collect();
            Some(Isotonic::fit(proba, &y)?)
        } else {
            None
        };
        Some(CbpeReference { chunk, calibration, calibrator, metrics })
    }

    /// The reference's fit of `metric`.
    pub fn metric(&self, metric: CbpeMetric) -> &MetricReference {
        self.metrics.iter().find(|m| m.metric == metric).expect("every metric is fitted")
    }

    /// The probabilities as CBPE uses them: calibrated when the reference needed it.
    pub fn calibrate(&self, proba: &[f64]) -> Vec<f64> {
        match &self.calibrator {
            Some(c) => proba.iter().map(|&p| c.predict(p)).collect(),
            None => proba.to_vec(),
        }
    }

    /// Estimates every metric (in [`CbpeMetric::ALL`] order) for one window of predictions and
    /// probabilities. Rows whose probability is NaN are left out; with no row left every value is
    /// NaN (and nothing alerts). Empty when the lengths differ.
    pub fn estimate(&self, y_pred: &[bool], proba: &[f64]) -> Vec<CbpeEstimate> {
        if y_pred.len() != proba.len() {
            return Vec::new();
        }
        let (pred, raw): (Vec<bool>, Vec<f64>) =
            y_pred.iter().zip(proba).filter(|(_, p)| !p.is_nan()).map(|(&y, &p)| (y, p)).unzip();
        let calibrated = self.calibrate(&raw);
        self.metrics
            .iter()
            .map(|m| {
                let (value, sampling_error) = if raw.is_empty() {
                    (f64::NAN, f64::NAN)
                } else {
                    let value = match m.metric {
                        CbpeMetric::RocAuc => estimate_roc_auc(&calibrated, &raw),
                        CbpeMetric::F1 => estimate_f1(&pred, &calibrated),
                        CbpeMetric::Accuracy => estimate_accuracy(&pred, &calibrated),
                    };
                    (value, m.sampling_error(raw.len()))
                };
                // np.minimum / np.maximum propagate NaN (f64::min / max would not).
                let band = |x: f64, limit: f64, pick: fn(f64, f64) -> f64| if x.is_nan() { x } else { pick(x, limit) };
                CbpeEstimate {
                    metric: m.metric,
                    value,
                    sampling_error,
                    lower: band(value - SAMPLING_ERROR_RANGE * sampling_error, 0.0, f64::max),
                    upper: band(value + SAMPLING_ERROR_RANGE * sampling_error, 1.0, f64::min),
                    lower_threshold: m.lower_threshold,
                    upper_threshold: m.upper_threshold,
                    alert: m.alert(value),
                }
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------------------------
// Estimators

/// NannyML's `estimate_roc_auc`: the area under the expected ROC curve, rows ordered by the
/// uncalibrated probability (descending) and weighted by the calibrated one. NaN when the curve
/// is undefined (no expected positive or negative) or not monotone (sklearn's `auc` raises).
pub fn estimate_roc_auc(calibrated: &[f64], uncalibrated: &[f64]) -> f64 {
    assert_eq!(calibrated.len(), uncalibrated.len());
    let n = calibrated.len();
    // Ties in the uncalibrated probability have equal calibrated ones, so their order is moot.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| uncalibrated[b].total_cmp(&uncalibrated[a]));
    let mut tps = Vec::with_capacity(n + 1);
    let mut fps = Vec::with_capacity(n + 1);
    tps.push(0.0);
    fps.push(0.0);
    let mut cum = 0.0;
    for (i, &k) in order.iter().enumerate() {
        cum += calibrated[k];
        tps.push(round5(cum));
        fps.push(round5((i + 1) as f64 - cum));
    }
    let (t_total, f_total) = (tps[n], fps[n]);
    let tpr: Vec<f64> = tps.iter().map(|t| t / t_total).collect();
    let fpr: Vec<f64> = fps.iter().map(|f| f / f_total).collect();
    auc(&fpr, &tpr)
}

/// `np.round(x, 5)`: multiply by 10⁵, round half to even, divide.
fn round5(x: f64) -> f64 {
    (x * 100_000.0).round_ties_even() / 100_000.0
}

/// `sklearn.metrics.auc`: the trapezoidal area (scipy's `trapezoid`, numpy's sum), negated for a
/// decreasing x; NaN for an x neither increasing nor decreasing or fewer than two points.
fn auc(x: &[f64], y: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let dx: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let mut direction = 1.0;
    if dx.iter().any(|&d| d < 0.0) {
        if dx.iter().all(|&d| d <= 0.0) {
            direction = -1.0;
        } else {
            return f64::NAN;
        }
    }
    let terms: Vec<f64> = dx.iter().zip(y.windows(2)).map(|(d, w)| d * (w[1] + w[0]) / 2.0).collect();
    direction * np_sum(&terms)
}

/// The expected entries of the confusion matrix as NannyML sums them (`np.sum(np.where(...))`).
fn expected_counts(y_pred: &[bool], calibrated: &[f64]) -> [f64; 4] {
    assert_eq!(y_pred.len(), calibrated.len());
    let pick = |positive: bool, f: fn(f64) -> f64| -> f64 {
        let v: Vec<f64> =
            y_pred.iter().zip(calibrated).map(|(&y, &c)| if y == positive { f(c) } else { 0.0 }).collect();
        np_sum(&v)
    };
    let tp = pick(true, |c| c);
    let fp = pick(true, |c| 1.0 - c);
    let fn_ = pick(false, |c| c);
    let tn = pick(false, |c| 1.0 - c);
    [tp, fp, fn_, tn]
}

/// NannyML's `estimate_f1`: `TP / (TP + (FP + FN)/2)` of the expected confusion matrix, 0 when the
/// denominator is 0.
pub fn estimate_f1(y_pred: &[bool], calibrated: &[f64]) -> f64 {
    let [tp, fp, fn_, _] = expected_counts(y_pred, calibrated);
    let denominator = tp + 0.5 * (fp + fn_);
    if denominator != 0.0 { tp / denominator } else { 0.0 }
}

/// NannyML's `estimate_accuracy`: `(TP + TN) / n` of the expected confusion matrix.
pub fn estimate_accuracy(y_pred: &[bool], calibrated: &[f64]) -> f64 {
    let [tp, _, _, tn] = expected_counts(y_pred, calibrated);
    (tp + tn) / y_pred.len() as f64
}

// ------------------------------------------------------------------------------------------------
// Reference side: sampling-error components, realised metrics, thresholds

/// `bse.auroc_sampling_error_components`: (std, fraction of positives). Ties in the probabilities
/// keep their input order (numpy's is unspecified).
fn auroc_sampling_error_components(y_true: &[bool], proba: &[f64]) -> (f64, f64) {
    let n = y_true.len();
    let positives = y_true.iter().filter(|&&t| t).count();
    // np.mean(y_true) > 0.5: swap the classes.
    let flip = positives as f64 / n as f64 > 0.5;
    let (y, p): (Vec<bool>, Vec<f64>) =
        y_true.iter().zip(proba).map(|(&t, &q)| if flip { (!t, 1.0 - q) } else { (t, q) }).unzip();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    // np.unique(y * rank)[1:]: the non-zero ranks of positives (a positive at rank 0 is dropped).
    let ranks: Vec<usize> = order.iter().enumerate().filter(|&(r, &k)| y[k] && r > 0).map(|(r, _)| r).collect();
    let n_pos = y.iter().filter(|&&t| t).count();
    let n_neg = n - n_pos;
    let ser: Vec<f64> = ranks.iter().enumerate().map(|(i, &r)| (r - i) as f64 / n_neg as f64).collect();
    (np_std(&ser), n_pos as f64 / n as f64)
}

/// `bse.f1_sampling_error_components`: (std, fraction of rows that are TP, FP or FN); (NaN, 0)
/// when there are none.
fn f1_sampling_error_components(y_true: &[bool], y_pred: &[bool]) -> (f64, f64) {
    let tp = y_true.iter().zip(y_pred).filter(|&(&t, &p)| t && p).count();
    let fp = y_true.iter().zip(y_pred).filter(|&(&t, &p)| !t && p).count();
    let fn_ = y_true.iter().zip(y_pred).filter(|&(&t, &p)| t && !p).count();
    let m = tp + fp + fn_;
    if m == 0 {
        return (f64::NAN, 0.0);
    }
    let factor = m as f64 / ((fn_ + fp) as f64 * 0.5 + tp as f64);
    // np.concatenate([TP, FN, FP]) * correcting_factor
    let mut obs = vec![factor; tp];
    obs.resize(m, 0.0);
    (np_std(&obs), m as f64 / y_true.len() as f64)
}

/// `bse.accuracy_sampling_error_components`: the std of the 0/1 correctness.
fn accuracy_sampling_error_std(y_true: &[bool], y_pred: &[bool]) -> f64 {
    let correct: Vec<f64> = y_true.iter().zip(y_pred).map(|(t, p)| f64::from(u8::from(t == p))).collect();
    np_std(&correct)
}

/// The metric on labelled rows, as NannyML's `_realized_performance` computes it: ROC AUC of the
/// uncalibrated probability (NaN for one class), F1 (NaN for one class in truth or predictions),
/// accuracy.
fn realized(metric: CbpeMetric, y_true: &[bool], y_pred: &[bool], proba: &[f64]) -> f64 {
    let n = y_true.len();
    match metric {
        CbpeMetric::RocAuc => roc_auc(y_true, proba).unwrap_or(f64::NAN),
        CbpeMetric::F1 => {
            let n_true = y_true.iter().filter(|&&t| t).count();
            let n_pred = y_pred.iter().filter(|&&p| p).count();
            if n_true == 0 || n_true == n || n_pred == 0 || n_pred == n {
                return f64::NAN;
            }
            let tp = y_true.iter().zip(y_pred).filter(|&(&t, &p)| t && p).count();
            // sklearn: (1 + β²)·tp / (β²·n_true + n_pred)
            (2 * tp) as f64 / (n_true + n_pred) as f64
        }
        CbpeMetric::Accuracy => y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count() as f64 / n as f64,
    }
}

/// `StandardDeviationThreshold().thresholds` then `calculate_threshold_values` with the limits
/// [0, 1]: a value beyond a limit becomes the limit. NaN (no defined reference value) is None.
fn thresholds(values: &[f64]) -> (Option<f64>, Option<f64>) {
    let (mean, std) = (np_nanmean(values), np_nanstd(values));
    let mut lower = mean - std * THRESHOLD_STD_MULTIPLIER;
    let mut upper = mean + std * THRESHOLD_STD_MULTIPLIER;
    if lower <= 0.0 {
        lower = 0.0;
    }
    if upper >= 1.0 {
        upper = 1.0;
    }
    let some = |v: f64| if v.is_nan() { None } else { Some(v) };
    (some(lower), some(upper))
}

// ------------------------------------------------------------------------------------------------
// The calibration rule

/// NannyML's `needs_calibration(y_true, y_pred_proba, IsotonicCalibrator())` with its defaults
/// (10 bins, 10 folds). None where it raises (a class with a single row, too few rows to split).
pub fn needs_calibration(y_true: &[bool], proba: &[f64]) -> Option<CalibrationCheck> {
    let no = CalibrationCheck { needed: false, ece_before: None, ece_after: None };
    assert_eq!(y_true.len(), proba.len());
    let Some(auc) = roc_auc(y_true, proba) else {
        return Some(no); // one class (or none)
    };
    if auc > 0.999 {
        return Some(no);
    }
    let folds = calibration_folds(y_true)?;
    let (mut ys, mut raw, mut calibrated) = (Vec::new(), Vec::new(), Vec::new());
    for (train, test) in folds {
        let xs: Vec<f64> = train.iter().map(|&i| proba[i]).collect();
        let ts: Vec<f64> = train.iter().map(|&i| f64::from(u8::from(y_true[i]))).collect();
        let calibrator = Isotonic::fit(&xs, &ts)?;
        for &i in &test {
            ys.push(f64::from(u8::from(y_true[i])));
            raw.push(proba[i]);
            calibrated.push(calibrator.predict(proba[i]));
        }
    }
    let edges = bin_index_edges(raw.len(), ECE_BINS)?;
    let before = expected_calibration_error(&ys, &raw, &edges);
    let after = expected_calibration_error(&ys, &calibrated, &edges);
    Some(CalibrationCheck { needed: before > after, ece_before: Some(before), ece_after: Some(after) })
}

/// `_get_bin_index_edges`: `bin_count` (or `n / 2` if that is fewer than `2·bin_count`) bins of
/// `n / bin_count` rows, the last one taking the remainder. None for fewer than 2 bins.
fn bin_index_edges(n: usize, bin_count: usize) -> Option<Vec<(usize, usize)>> {
    let mut bins = bin_count;
    if n <= 2 * bins {
        bins = n / 2;
        if bins < 2 {
            return None;
        }
    }
    let width = n / bins;
    let mut edges: Vec<usize> = (0..=n).step_by(width).collect();
    *edges.last_mut().expect("n ≥ 4") = n;
    Some(edges.windows(2).map(|w| (w[0], w[1])).collect())
}

/// `_calculate_expected_calibration_error` over rows sorted by probability (stable for ties).
fn expected_calibration_error(y: &[f64], p: &[f64], edges: &[(usize, usize)]) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let sp: Vec<f64> = order.iter().map(|&i| p[i]).collect();
    let sy: Vec<f64> = order.iter().map(|&i| y[i]).collect();
    let terms: Vec<f64> = edges
        .iter()
        .map(|&(a, b)| {
            let weight = (b - a) as f64 / p.len() as f64;
            weight * (np_mean(&sp[a..b]) - np_mean(&sy[a..b])).abs()
        })
        .collect();
    np_sum(&terms)
}

/// The folds of `needs_calibration`: scikit-learn's `StratifiedShuffleSplit(n_splits=10,
/// test_size=0.1, random_state=42).split(proba, y_true)` as (train, test) row indices, in
/// scikit-learn's order. None where scikit-learn raises (a class with fewer than 2 rows, or a
/// train or test part smaller than the number of classes).
pub fn calibration_folds(y_true: &[bool]) -> Option<Vec<(Vec<usize>, Vec<usize>)>> {
    let n = y_true.len();
    let n_test = (TEST_SIZE * n as f64).ceil() as usize;
    let n_train = n.checked_sub(n_test)?;
    // np.unique(y): the classes present, sorted (false < true).
    let class_indices: Vec<Vec<usize>> = [false, true]
        .iter()
        .map(|&c| (0..n).filter(|&i| y_true[i] == c).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect();
    let counts: Vec<usize> = class_indices.iter().map(Vec::len).collect();
    let classes = counts.len();
    if n_train == 0 || counts.iter().any(|&c| c < 2) || n_train < classes || n_test < classes {
        return None;
    }
    let mut rng = Mt19937::new(SPLIT_SEED);
    let mut folds = Vec::with_capacity(SPLITS);
    for _ in 0..SPLITS {
        let n_i = approximate_mode(&counts, n_train, &mut rng);
        let remaining: Vec<usize> = counts.iter().zip(&n_i).map(|(c, k)| c - k).collect();
        let t_i = approximate_mode(&remaining, n_test, &mut rng);
        let (mut train, mut test) = (Vec::with_capacity(n_train), Vec::with_capacity(n_test));
        for (class, indices) in class_indices.iter().enumerate() {
            let perm = rng.permutation(indices.len());
            let shuffled: Vec<usize> = perm.iter().map(|&k| indices[k]).collect();
            train.extend_from_slice(&shuffled[..n_i[class]]);
            test.extend_from_slice(&shuffled[n_i[class]..n_i[class] + t_i[class]]);
        }
        rng.shuffle(&mut train);
        rng.shuffle(&mut test);
        folds.push((train, test));
    }
    Some(folds)
}

/// scikit-learn's `_approximate_mode(class_counts, n_draws, rng)`: floor of the proportional
/// allocation, the rest given to the largest remainders, ties among them broken with
/// `rng.choice(..., replace=False)` (a permutation's prefix).
fn approximate_mode(counts: &[usize], n_draws: usize, rng: &mut Mt19937) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let continuous: Vec<f64> = counts.iter().map(|&c| c as f64 / total as f64 * n_draws as f64).collect();
    let mut floored: Vec<f64> = continuous.iter().map(|c| c.floor()).collect();
    let mut need = (n_draws as f64 - np_sum(&floored)) as i64;
    if need > 0 {
        let remainder: Vec<f64> = continuous.iter().zip(&floored).map(|(c, f)| c - f).collect();
        let mut values = remainder.clone();
        values.sort_by(|a, b| b.total_cmp(a));
        values.dedup();
        for value in values {
            let inds: Vec<usize> = (0..remainder.len()).filter(|&i| remainder[i] == value).collect();
            let add_now = inds.len().min(need as usize);
            let perm = rng.permutation(inds.len());
            for &k in &perm[..add_now] {
                floored[inds[k]] += 1.0;
            }
            need -= add_now as i64;
            if need == 0 {
                break;
            }
        }
    }
    floored.iter().map(|&f| f as usize).collect()
}

/// numpy's legacy `RandomState` generator (MT19937 with `init_genrand` seeding), as far as
/// `permutation` / `shuffle` need it.
struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Mt19937 {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1_812_433_253u32.wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.state[k] = self.state[(k + 397) % 624] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `random_interval(max)`: uniform in `0..=max` by masked rejection.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        loop {
            let v = if max <= u64::from(u32::MAX) {
                u64::from(self.next_u32()) & mask
            } else {
                ((u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())) & mask
            };
            if v <= max {
                return v;
            }
        }
    }

    /// `RandomState.shuffle` (Fisher–Yates from the end).
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.interval(i as u64) as usize;
            v.swap(i, j);
        }
    }

    /// `RandomState.permutation(n)`.
    fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        self.shuffle(&mut v);
        v
    }
}

// ------------------------------------------------------------------------------------------------
// Isotonic regression

/// scikit-learn's `IsotonicRegression(out_of_bounds="clip", increasing=True)`, fitted with unit
/// weights: rows sorted by (x, y) (`np.lexsort`), equal x (within `np.finfo(float64).resolution`,
/// 1e-15, of the first of a run) pooled into their mean (`_make_unique`), the pool adjacent
/// violators algorithm of scipy's `optimize.isotonic_regression` ([`isotonic_regression`]) on those
/// means weighted by their counts, and the interior points equal to both neighbours dropped.
/// Prediction clips to the fitted x range and interpolates linearly (`np.interp`).
#[derive(Debug, Clone, PartialEq)]
pub struct Isotonic {
    /// `X_thresholds_`, ascending.
    pub x_thresholds: Vec<f64>,
    /// `y_thresholds_`, non-decreasing.
    pub y_thresholds: Vec<f64>,
    /// `X_min_`, `X_max_`: the fitted x range predictions are clipped to.
    pub x_min: f64,
    pub x_max: f64,
}

impl Isotonic {
    /// Fits y on x; None for empty or mismatched input or a non-finite value (sklearn raises).
    pub fn fit(x: &[f64], y: &[f64]) -> Option<Isotonic> {
        if x.is_empty() || x.len() != y.len() || x.iter().chain(y).any(|v| !v.is_finite()) {
            return None;
        }
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));
        // _make_unique
        let eps = 1e-15;
        let (mut ux, mut uy, mut uw) = (Vec::new(), Vec::new(), Vec::new());
        let (mut cur_x, mut cur_y, mut cur_w) = (x[order[0]], 0.0, 0.0);
        for &i in &order {
            if x[i] - cur_x >= eps {
                ux.push(cur_x);
                uy.push(cur_y / cur_w);
                uw.push(cur_w);
                (cur_x, cur_y, cur_w) = (x[i], y[i], 1.0);
            } else {
                cur_w += 1.0;
                cur_y += y[i];
            }
        }
        ux.push(cur_x);
        uy.push(cur_y / cur_w);
        uw.push(cur_w);
        let fitted = isotonic_regression(&uy, &uw);
        let (x_min, x_max) = (ux[0], ux[ux.len() - 1]);
        let m = fitted.len();
        let keep = |i: usize| i == 0 || i + 1 == m || fitted[i] != fitted[i - 1] || fitted[i] != fitted[i + 1];
        let (x_thresholds, y_thresholds): (Vec<f64>, Vec<f64>) =
            (0..m).filter(|&i| keep(i)).map(|i| (ux[i], fitted[i])).unzip();
        Some(Isotonic { x_thresholds, y_thresholds, x_min, x_max })
    }

    /// The calibrated value of `t` (NaN stays NaN, except for a one-point fit, which is constant).
    pub fn predict(&self, t: f64) -> f64 {
        if self.y_thresholds.len() == 1 {
            return self.y_thresholds[0];
        }
        interp(t.clamp(self.x_min, self.x_max), &self.x_thresholds, &self.y_thresholds)
    }
}

/// numpy's `interp` (`arr_interp` in `compiled_base.c`) for ascending `xp` of two or more points.
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    if x.is_nan() {
        return x;
    }
    let last = xp.len() - 1;
    let above = xp.partition_point(|&v| v <= x); // xp[above - 1] <= x < xp[above]
    if above == 0 {
        return fp[0];
    }
    let j = above - 1;
    if j == last || xp[j] == x {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let mut r = slope * (x - xp[j]) + fp[j];
    if r.is_nan() {
        r = slope * (x - xp[j + 1]) + fp[j + 1];
        if r.is_nan() && fp[j] == fp[j + 1] {
            r = fp[j];
        }
    }
    r
}

/// Weighted isotonic (non-decreasing) regression of `y`: scipy's `optimize.isotonic_regression`
/// (`_pava_pybind.cpp`, Algorithm 1 of Busing 2022, "Monotone Regression: A Simple and Fast O(n)
/// PAVA Implementation"), transcribed operation for operation. Weights must be positive.
pub fn isotonic_regression(y: &[f64], w: &[f64]) -> Vec<f64> {
    assert_eq!(y.len(), w.len());
    let n = y.len();
    let mut x = y.to_vec();
    if n == 0 {
        return x;
    }
    let mut w = w.to_vec();
    let mut r = vec![0usize; n + 1];
    r[1] = 1;
    let mut b = 0usize;
    let (mut xb_prev, mut wb_prev) = (x[0], w[0]);
    let mut i = 1;
    while i < n {
        b += 1;
        let (mut xb, mut wb) = (x[i], w[i]);
        if xb_prev >= xb {
            b -= 1;
            let mut sb = wb_prev * xb_prev + wb * xb;
            wb += wb_prev;
            xb = sb / wb;
            while i < n - 1 && xb >= x[i + 1] {
                i += 1;
                sb += w[i] * x[i];
                wb += w[i];
                xb = sb / wb;
            }
            while b > 0 && x[b - 1] >= xb {
                b -= 1;
                sb += w[b] * x[b];
                wb += w[b];
                xb = sb / wb;
            }
        }
        x[b] = xb;
        xb_prev = xb;
        w[b] = wb;
        wb_prev = wb;
        r[b + 1] = i + 1;
        i += 1;
    }
    // Expand the blocks: block k covers r[k]..r[k + 1].
    let mut end = n;
    for k in (0..=b).rev() {
        let start = r[k];
        let xk = x[k];
        x[start..end].fill(xk);
        end = start;
    }
    x
}

// ------------------------------------------------------------------------------------------------
// numpy's reductions, operation for operation

/// numpy's `pairwise_sum` (`loops_utils.h.src`): 8 accumulators up to 128 values, halves above.
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        for block in a[8..full].chunks_exact(8) {
            for (acc, v) in r.iter_mut().zip(block) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[full..] {
            res += v;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// `np.sum` of a contiguous float64 array: pairwise sums of 8192-element buffers, added in turn.
fn np_sum(a: &[f64]) -> f64 {
    let mut total = 0.0;
    for chunk in a.chunks(8192) {
        total += pairwise_sum(chunk);
    }
    total
}

/// `np.mean` (NaN when empty).
fn np_mean(a: &[f64]) -> f64 {
    np_sum(a) / a.len() as f64
}

/// `np.std` (population; NaN when empty): the mean of the squared deviations from the mean.
fn np_std(a: &[f64]) -> f64 {
    let mean = np_mean(a);
    let squares: Vec<f64> = a.iter().map(|v| (v - mean) * (v - mean)).collect();
    (np_sum(&squares) / a.len() as f64).sqrt()
}

/// `np.nanmean`: NaN entries count as 0 in the sum and not at all in the count.
fn np_nanmean(a: &[f64]) -> f64 {
    let zeroed: Vec<f64> = a.iter().map(|&v| if v.is_nan() { 0.0 } else { v }).collect();
    np_sum(&zeroed) / a.iter().filter(|v| !v.is_nan()).count() as f64
}

/// `np.nanstd` (`nanvar`: the squared deviations of NaN entries are 0).
fn np_nanstd(a: &[f64]) -> f64 {
    let count = a.iter().filter(|v| !v.is_nan()).count() as f64;
    let mean = np_nanmean(a);
    let squares: Vec<f64> = a.iter().map(|&v| if v.is_nan() { 0.0 } else { (v - mean) * (v - mean) }).collect();
    (np_sum(&squares) / count).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(x: &[f64], y: &[f64]) -> Isotonic {
        Isotonic::fit(x, y).unwrap()
    }

    #[test]
    fn pava_pools_adjacent_violators() {
        // Textbook: the violating pairs (3, 2) and (4, 3) pool into their means.
        assert_eq!(isotonic_regression(&[1.0, 3.0, 2.0, 4.0, 3.0, 5.0], &[1.0; 6]), [1.0, 2.5, 2.5, 3.5, 3.5, 5.0]);
        // sklearn's isotonic_regression docstring: [5, 3, 1, 2] → 11/4, [8, 10, 7, 9, 6, 4] → 44/6.
        let y = [5.0, 3.0, 1.0, 2.0, 8.0, 10.0, 7.0, 9.0, 6.0, 4.0];
        let got = isotonic_regression(&y, &[1.0; 10]);
        assert_eq!(got[..4], [2.75; 4]);
        assert_eq!(got[4..], [44.0 / 6.0; 6]);
        // Weighted: (4·1 + 1·3) / 4 = 1.75.
        assert_eq!(isotonic_regression(&[4.0, 1.0, 3.0], &[1.0, 3.0, 1.0]), [1.75, 1.75, 3.0]);
        // Already monotone, constant, decreasing, single, empty.
        assert_eq!(isotonic_regression(&[0.0, 1.0, 2.0], &[1.0; 3]), [0.0, 1.0, 2.0]);
        assert_eq!(isotonic_regression(&[2.0, 2.0], &[1.0; 2]), [2.0, 2.0]);
        assert_eq!(isotonic_regression(&[3.0, 2.0, 1.0], &[1.0; 3]), [2.0; 3]);
        assert_eq!(isotonic_regression(&[7.0], &[1.0]), [7.0]);
        assert!(isotonic_regression(&[], &[]).is_empty());
    }

    #[test]
    fn isotonic_pools_ties_trims_and_clips() {
        // x = 0.1 twice (labels 1, 0 → 0.5), then 0.2 → 0, which violates and pools to 1/3.
        let iso = fit(&[0.1, 0.1, 0.2, 0.3], &[1.0, 0.0, 0.0, 1.0]);
        assert_eq!(iso.x_thresholds, [0.1, 0.2, 0.3]);
        assert_eq!(iso.y_thresholds, [1.0 / 3.0, 1.0 / 3.0, 1.0]);
        assert_eq!((iso.x_min, iso.x_max), (0.1, 0.3));
        assert_eq!(iso.predict(0.0), 1.0 / 3.0); // clipped
        assert_eq!(iso.predict(0.25), (1.0 - 1.0 / 3.0) / (0.3 - 0.2) * (0.25 - 0.2) + 1.0 / 3.0);
        assert_eq!(iso.predict(0.3), 1.0);
        assert_eq!(iso.predict(9.0), 1.0);
        assert!(iso.predict(f64::NAN).is_nan());
        // Interior points equal to both neighbours are dropped.
        let flat = fit(&[1.0, 2.0, 3.0, 4.0, 5.0], &[0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(flat.x_thresholds, [1.0, 4.0, 5.0]);
        assert_eq!(flat.y_thresholds, [0.0, 0.0, 1.0]);
        // One distinct x: constant.
        let one = fit(&[0.4, 0.4, 0.4], &[1.0, 0.0, 0.0]);
        assert_eq!(one.x_thresholds, [0.4]);
        assert_eq!(one.y_thresholds, [1.0 / 3.0]);
        assert_eq!(one.predict(f64::NAN), 1.0 / 3.0);
        assert!(Isotonic::fit(&[], &[]).is_none());
        assert!(Isotonic::fit(&[f64::NAN], &[1.0]).is_none());
    }

    #[test]
    fn numpy_random_state_is_reproduced() {
        // MT19937's reference output for init_genrand(5489).
        assert_eq!(Mt19937::new(5489).next_u32(), 3_499_211_612);
        // np.random.RandomState(42).permutation(10)
        assert_eq!(Mt19937::new(42).permutation(10), [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]);
    }

    #[test]
    fn folds_are_stratified() {
        let y: Vec<bool> = (0..200).map(|i| i % 4 == 0).collect();
        let folds = calibration_folds(&y).unwrap();
        assert_eq!(folds.len(), 10);
        for (train, test) in &folds {
            assert_eq!((train.len(), test.len()), (180, 20));
            assert_eq!(test.iter().filter(|&&i| y[i]).count(), 5);
            let mut all: Vec<usize> = train.iter().chain(test).copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..200).collect::<Vec<_>>());
        }
        // A class of one row: sklearn refuses to split.
        let mut lone = vec![false; 50];
        lone[7] = true;
        assert!(calibration_folds(&lone).is_none());
    }

    #[test]
    fn sums_follow_numpy() {
        // 1 + 2⁵³ rounds to 2⁵³ (half to even) but 1 − 2⁵³ is exact: a running sum loses both ones,
        // numpy's pairing ((1 + 2⁵³) + (1 − 2⁵³)) + … keeps one. Below 8 values numpy runs a plain sum.
        let big = 2f64.powi(53);
        assert_eq!(pairwise_sum(&[1.0, big, 1.0, -big, 0.0, 0.0, 0.0, 0.0]), 1.0);
        assert_eq!(pairwise_sum(&[1.0, big, 1.0, -big, 0.0, 0.0, 0.0]), 0.0);
        // Above 8192 values numpy adds the pairwise sums of 8192-value buffers.
        let mut long = vec![0.0; 8200];
        long[..4].copy_from_slice(&[1.0, big, 1.0, -big]);
        long[8192] = 0.5;
        assert_eq!(np_sum(&long), 1.5);
        assert_eq!(np_std(&[1.0, 1.0, 0.0, 0.0]), 0.5);
        assert!(np_std(&[]).is_nan());
        assert_eq!(np_nanmean(&[0.5, f64::NAN, 1.0]), 0.75);
        assert_eq!(np_nanstd(&[0.5, f64::NAN, 1.0]), 0.25);
    }

    #[test]
    fn thresholds_become_the_limits() {
        // nannyml: calculate_threshold_values(StandardDeviationThreshold(), [0.9, 0.99, 0.5, 1.0], 0, 1)
        // = (0.23437786697918017, 1): the upper value 1.3… becomes the limit 1, not None.
        let (lower, upper) = thresholds(&[0.9, 0.99, 0.5, 1.0]);
        assert!((lower.unwrap() - 0.23437786697918017).abs() < 1e-15);
        assert_eq!(upper, Some(1.0));
        assert_eq!(thresholds(&[0.0, 0.5, 1.0]), (Some(0.0), Some(1.0)));
        assert_eq!(thresholds(&[f64::NAN, f64::NAN]), (None, None));
    }

    #[test]
    fn bins_follow_nannyml() {
        // nannyml's docstring: get_bin_edge_indexes(20, 4).
        assert_eq!(bin_index_edges(20, 4).unwrap(), [(0, 5), (5, 10), (10, 15), (15, 20)]);
        // 23 rows, 10 bins: width 2, so 11 bins, the last of 3 rows (NannyML's range(0, n + 1, width)).
        let edges = bin_index_edges(23, 10).unwrap();
        assert_eq!((edges.len(), edges[10]), (11, (20, 23)));
        // 15 ≤ 2·10 rows: 15 / 2 = 7 bins of 2, the last of 3.
        assert_eq!(bin_index_edges(15, 10).unwrap().len(), 7);
        assert_eq!(bin_index_edges(25, 2).unwrap().last(), Some(&(12, 25)));
        assert!(bin_index_edges(3, 10).is_none());
    }

    #[test]
    fn estimators_on_hand_cases() {
        let pred = [true, true, false, false];
        let p = [0.9, 0.6, 0.2, 0.4];
        // TP = 1.5, FP = 0.5, FN = 0.6, TN = 1.4.
        assert!((estimate_accuracy(&pred, &p) - 2.9 / 4.0).abs() < 1e-15);
        assert!((estimate_f1(&pred, &p) - 1.5 / (1.5 + 0.55)).abs() < 1e-15);
        assert_eq!(estimate_f1(&[false, false], &[0.0, 0.0]), 0.0);
        // Perfectly separating, certain probabilities: AUC 1; no expected positive: undefined.
        assert_eq!(estimate_roc_auc(&[1.0, 1.0, 0.0], &[0.9, 0.8, 0.1]), 1.0);
        assert!(estimate_roc_auc(&[0.0, 0.0], &[0.3, 0.2]).is_nan());
        // Ordered by the uncalibrated value: reversing it reverses the curve.
        assert_eq!(estimate_roc_auc(&[1.0, 0.0], &[0.1, 0.9]), 0.0);
    }

    #[test]
    fn sampling_error_components_on_hand_cases() {
        // nannyml.sampling_error.binary_classification on the same series.
        let p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        // Positives at ranks 0, 2, 5: the one at rank 0 is dropped, the others give [2 − 0, 5 − 1] / 3.
        let y = [true, false, true, false, false, true];
        assert_eq!(auroc_sampling_error_components(&y, &p), (0.3333333333333333, 0.5));
        // Two thirds positive: classes swapped, probabilities 1 − p, positives at ranks 1 and 3 → [1, 2] / 4.
        let y = [true, true, false, true, false, true];
        assert_eq!(auroc_sampling_error_components(&y, &p), (0.125, 0.3333333333333333));
        // TP, FP, FN = 2, 1, 1: v = [4/3, 4/3, 0, 0] over 4 of 6 rows.
        let (t, yp) = ([true, false, true, false, false, true], [true, true, false, false, false, true]);
        assert_eq!(f1_sampling_error_components(&t, &yp), (0.6666666666666666, 0.6666666666666666));
        assert!(f1_sampling_error_components(&[false], &[false]).0.is_nan());
    }

    #[test]
    fn fit_rejects_what_nannyml_rejects() {
        let y = [true, false, true, false];
        assert!(CbpeReference::fit(&[], &[], &[], 10).is_none());
        assert!(CbpeReference::fit(&y, &y, &[0.5; 3], 10).is_none());
        assert!(CbpeReference::fit(&y, &y, &[0.5; 4], 0).is_none());
        assert!(CbpeReference::fit(&y, &y, &[0.5, f64::NAN, 0.5, 0.5], 10).is_none());
        // One class: nothing to calibrate, the metrics' reference statistics are NaN.
        let one = CbpeReference::fit(&[true; 6], &[true; 6], &[0.7; 6], 3).unwrap();
        assert!(!one.calibration.needed && one.calibrator.is_none());
        let est = one.estimate(&[true, false], &[0.8, 0.3]);
        assert_eq!(est.len(), 3);
        assert!(est.iter().all(|e| e.lower_threshold.is_none() || e.metric == CbpeMetric::Accuracy));
        assert!(one.metric(CbpeMetric::RocAuc).sampling_error(10).is_nan());
        // A window with no usable row: NaN, no alert.
        let empty = one.estimate(&[true], &[f64::NAN]);
        assert!(empty.iter().all(|e| e.value.is_nan() && e.sampling_error.is_nan() && !e.alert));
        assert!(one.estimate(&[true], &[]).is_empty());
    }
}
