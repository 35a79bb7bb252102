//! Realised performance metrics of predictions against the labels that arrive for them, equal to
//! scikit-learn's.
//!
//! Once labels arrive, a model's quality is measured with the metrics its owners already know from
//! scikit-learn, so the numbers the sidecar reports have to be sklearn's to the last few ulps, edge
//! cases included: zero division gives 0 (sklearn's `zero_division` default, which warns), the
//! macro average runs over the classes seen in truth or predictions, log loss clips probabilities
//! to `[ε, 1 − ε]`, R² is forced finite for constant truth. `tests/performance.rs` holds them to
//! sklearn's answers in `tests/golden/performance.json` (written by `make_performance.py`).
//!
//! The one metric sklearn has no function for, the expected calibration error, follows the standard
//! definition (Guo et al. 2017, "On Calibration of Modern Neural Networks") with 10 equal-width bins:
//! see [`ClassificationMetrics::calibration_error`].
//!
//! Means are summed with Neumaier's compensated summation: numpy's pairwise sums err by
//! O(log n · ε) and a plain running sum by O(n · ε), so a compensated sum (error O(ε)) stays within
//! numpy's error of the exact value for any length, and the tests can hold every metric to 1e-12.

use crate::multivariate::auc::roc_auc;

/// What kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Two classes (`classes` must be 2); precision, recall, F1, ROC AUC and the calibration error
    /// are those of class `positive` (0 or 1), sklearn's `average="binary", pos_label=positive`.
    Binary {
        /// The class index the binary metrics are about.
        positive: u32,
    },
    /// Two or more classes; precision, recall and F1 are macro averages, ROC AUC one-vs-rest.
    Multiclass,
}

/// Quality of a classifier's predictions against the truth.
///
/// A field that cannot be computed for empty input is NaN (serialised as `null`); see
/// [`classification_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClassificationMetrics {
    /// Share of predictions equal to the truth (sklearn's `accuracy_score`).
    pub accuracy: f64,
    /// Binary: of the positive class. Multiclass: macro average over the classes present in truth or
    /// predictions (sklearn's labels=None behaviour: the union of classes seen). 0 for a class never
    /// predicted (sklearn's zero_division=0).
    pub precision: f64,
    /// Binary: of the positive class. Multiclass: macro average as for `precision`. 0 for a class
    /// never true (zero_division=0).
    pub recall: f64,
    /// Binary: of the positive class. Multiclass: the mean of the per-class F1s (not the harmonic mean
    /// of the macro precision and recall), each `2·tp / (2·tp + fp + fn)` as sklearn computes it.
    pub f1: f64,
    /// Needs probabilities. Binary: AUC of the positive class's probability; multiclass: sklearn's
    /// roc_auc_score(multi_class="ovr", average="macro"). None when undefined (one class only in truth,
    /// or for ovr a class with no positive/negative — that is, any class of `0..classes` absent from
    /// the truth, which sklearn refuses).
    pub roc_auc: Option<f64>,
    /// Needs probabilities: sklearn's log_loss(truth, probabilities, labels=0..classes): the mean of
    /// `−ln p` of each row's true class, `p` clipped to `[ε, 1 − ε]` with ε = `f64::EPSILON` (so a
    /// confidently wrong row costs `−ln ε` ≈ 36.04, not infinity). Rows are not renormalised: older
    /// sklearn releases divided each row by its sum, 1.9.1 (whose source this follows) only warns when
    /// rows do not sum to 1.
    pub log_loss: Option<f64>,
    /// Needs probabilities: expected calibration error with 10 equal-width bins on [0, 1],
    /// ECE = Σ_b (n_b / n) |mean(y in b) − mean(p in b)|, the bin of p being min(floor(p·10), 9) (so
    /// bins are closed on the left, [0.5, 0.6), and 1 falls in the last). Binary: p is the positive
    /// class's probability and y the positive indicator. Multiclass (Guo et al. 2017): p is each row's
    /// top-label confidence, its largest probability, and y its top-label correctness, whether the
    /// row's argmax (the first on ties) is the truth — the argmax of the probabilities, not
    /// `predicted`, so that the metric is the probabilities' own. 0 for a perfectly calibrated model.
    pub calibration_error: Option<f64>,
}

/// Classification metrics of `predicted` against `truth`.
///
/// `truth`, `predicted`: class indices in 0..classes. `probabilities`: row-major n × classes when
/// given (rows of class probabilities, in class-index order); without them `roc_auc`, `log_loss` and
/// `calibration_error` are `None`. Probabilities are taken as given (sklearn refuses values outside
/// [0, 1]; here they fall into the end bins of the calibration error and are clipped by log loss).
///
/// Empty input (n = 0) gives NaN for `accuracy`, `precision`, `recall` and `f1` and `None` for the
/// rest: there is nothing to measure.
///
/// # Panics
/// If `truth` and `predicted` differ in length, `probabilities` is not `n · classes` long, `classes`
/// is below 2, a class index is not below `classes`, or a [`Task::Binary`] has `classes != 2` or
/// `positive` not 0 or 1.
pub fn classification_metrics(
    truth: &[u32],
    predicted: &[u32],
    classes: usize,
    task: Task,
    probabilities: Option<&[f64]>,
) -> ClassificationMetrics {
    let n = truth.len();
    assert_eq!(predicted.len(), n, "truth and predicted differ in length");
    assert!(classes >= 2, "classification needs at least 2 classes, got {classes}");
    if let Task::Binary { positive } = task {
        assert_eq!(classes, 2, "a binary task has 2 classes, got {classes}");
        assert!(positive < 2, "the positive class of a binary task is 0 or 1, got {positive}");
    }
    if let Some(p) = probabilities {
        assert_eq!(p.len(), n * classes, "probabilities must be n × classes ({n} × {classes})");
    }
    if n == 0 {
        return ClassificationMetrics {
            accuracy: f64::NAN,
            precision: f64::NAN,
            recall: f64::NAN,
            f1: f64::NAN,
            roc_auc: None,
            log_loss: None,
            calibration_error: None,
        };
    }

    // Per class: true positives, how often it is the truth, how often it is predicted. Everything
    // but the probability metrics follows from these counts.
    let mut tp = vec![0u64; classes];
    let mut true_count = vec![0u64; classes];
    let mut pred_count = vec![0u64; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        let (t, p) = (t as usize, p as usize);
        assert!(t < classes && p < classes, "class index not below {classes}: truth {t}, predicted {p}");
        true_count[t] += 1;
        pred_count[p] += 1;
        if t == p {
            tp[t] += 1;
        }
    }
    let accuracy = tp.iter().sum::<u64>() as f64 / n as f64;

    let (precision, recall, f1) = match task {
        Task::Binary { positive } => {
            let k = positive as usize;
            class_scores(tp[k], true_count[k], pred_count[k])
        }
        Task::Multiclass => {
            // sklearn's labels=None: the sorted union of the classes in truth and predictions; a class
            // seen in neither does not dilute the average.
            let seen: Vec<usize> = (0..classes).filter(|&c| true_count[c] + pred_count[c] > 0).collect();
            let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
            for &c in &seen {
                let (pc, rc, fc) = class_scores(tp[c], true_count[c], pred_count[c]);
                p += pc;
                r += rc;
                f += fc;
            }
            let m = seen.len() as f64;
            (p / m, r / m, f / m)
        }
    };

    let (roc_auc, log_loss, calibration_error) = match probabilities {
        None => (None, None, None),
        Some(probs) => (
            probability_auc(truth, classes, task, probs),
            Some(log_loss(truth, classes, probs)),
            Some(calibration(truth, classes, task, probs)),
        ),
    };

    ClassificationMetrics { accuracy, precision, recall, f1, roc_auc, log_loss, calibration_error }
}

/// Precision, recall and F1 of one class from its counts, 0 where a denominator is 0 (sklearn's
/// zero_division=0). F1 is `2·tp / (true + predicted)`, the form sklearn 1.9.1 computes (it equals
/// the harmonic mean of precision and recall, but is defined when only one of them is).
fn class_scores(tp: u64, true_count: u64, pred_count: u64) -> (f64, f64, f64) {
    let divide = |num: f64, den: u64| if den == 0 { 0.0 } else { num / den as f64 };
    let tp = tp as f64;
    (divide(tp, pred_count), divide(tp, true_count), divide(2.0 * tp, true_count + pred_count))
}

/// Column `c` of the row-major n × classes matrix `probs`.
fn column(probs: &[f64], classes: usize, c: usize) -> Vec<f64> {
    probs.iter().skip(c).step_by(classes).copied().collect()
}

fn probability_auc(truth: &[u32], classes: usize, task: Task, probs: &[f64]) -> Option<f64> {
    match task {
        Task::Binary { positive } => {
            let positives: Vec<bool> = truth.iter().map(|&t| t == positive).collect();
            roc_auc(&positives, &column(probs, classes, positive as usize))
        }
        Task::Multiclass => {
            // One-vs-rest per class, then the unweighted mean; sklearn refuses the whole score if any
            // class is absent from the truth, and `roc_auc` gives None for exactly that class.
            let mut total = 0.0;
            for c in 0..classes {
                let positives: Vec<bool> = truth.iter().map(|&t| t as usize == c).collect();
                total += roc_auc(&positives, &column(probs, classes, c))?;
            }
            Some(total / classes as f64)
        }
    }
}

fn log_loss(truth: &[u32], classes: usize, probs: &[f64]) -> f64 {
    // sklearn clips every probability, then sums xlogy(one-hot, p) per row: only the true class's
    // term is non-zero, so a row's loss is −ln of its clipped true-class probability.
    let mut sum = Neumaier::default();
    for (row, &t) in probs.chunks_exact(classes).zip(truth) {
        sum.add(-row[t as usize].clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln());
    }
    sum.total() / truth.len() as f64
}

fn calibration(truth: &[u32], classes: usize, task: Task, probs: &[f64]) -> f64 {
    let mut bins = [Bin::default(); 10];
    for (row, &t) in probs.chunks_exact(classes).zip(truth) {
        let (p, hit) = match task {
            Task::Binary { positive } => (row[positive as usize], t == positive),
            Task::Multiclass => {
                // The first maximum, as numpy's argmax (a strict comparison keeps the earlier one).
                let mut top = 0;
                for (c, &v) in row.iter().enumerate().skip(1) {
                    if v > row[top] {
                        top = c;
                    }
                }
                (row[top], top == t as usize)
            }
        };
        // `as usize` saturates: a negative (or NaN) p lands in bin 0, and min puts 1 in bin 9.
        let b = ((p * 10.0).floor() as usize).min(9);
        bins[b].count += 1;
        bins[b].p.add(p);
        bins[b].y.add(if hit { 1.0 } else { 0.0 });
    }
    let n = truth.len() as f64;
    let mut ece = 0.0;
    for bin in bins.iter().filter(|b| b.count > 0) {
        let nb = bin.count as f64;
        ece += nb / n * (bin.y.total() / nb - bin.p.total() / nb).abs();
    }
    ece
}

/// One calibration bin: how many rows, and the sums of their probabilities and outcomes.
#[derive(Clone, Copy, Default)]
struct Bin {
    count: u64,
    p: Neumaier,
    y: Neumaier,
}

/// Quality of a regressor's predictions against the truth.
///
/// A field that cannot be computed is NaN (serialised as `null`); see [`regression_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RegressionMetrics {
    /// Mean absolute error (sklearn's `mean_absolute_error`).
    pub mae: f64,
    /// Root mean squared error (sklearn's `root_mean_squared_error`).
    pub rmse: f64,
    /// Mean absolute percentage error as a fraction (0.1 is 10 %), sklearn's
    /// `mean_absolute_percentage_error`: the mean of |y − ŷ| / max(|y|, `f64::EPSILON`), so a true
    /// value of 0 contributes |ŷ| / ε (huge, but finite) rather than infinity.
    pub mape: f64,
    /// Coefficient of determination, sklearn's `r2_score` with force_finite: 1 for a perfect fit (even
    /// of constant truth), 0 for an imperfect fit of constant truth, NaN for fewer than two samples.
    pub r2: f64,
}

/// Regression metrics of `predicted` against `truth`: sklearn's mean_absolute_error, root of
/// mean_squared_error, mean_absolute_percentage_error (|y − ŷ| / max(|y|, f64::EPSILON)), r2_score
/// (with its force_finite behaviour for constant truth).
///
/// Truth counts as constant when all its values are equal. sklearn instead tests its sum of squared
/// deviations from the mean for 0, and numpy's mean of a constant that is not a short dyadic number
/// can be an ulp off (the mean of three 0.1s is not 0.1), leaving a denominator of ~1e-32 and an R²
/// of about −5e29 where sklearn meant 0; this returns 0 (or 1 for a perfect fit) there too.
///
/// Empty input gives NaN for every field.
///
/// # Panics
/// If `truth` and `predicted` differ in length.
pub fn regression_metrics(truth: &[f64], predicted: &[f64]) -> RegressionMetrics {
    assert_eq!(truth.len(), predicted.len(), "truth and predicted differ in length");
    let n = truth.len() as f64;
    let (mut abs, mut sq, mut pct, mut y_sum) =
        (Neumaier::default(), Neumaier::default(), Neumaier::default(), Neumaier::default());
    for (&y, &yhat) in truth.iter().zip(predicted) {
        let e = (y - yhat).abs();
        abs.add(e);
        sq.add(e * e);
        pct.add(e / y.abs().max(f64::EPSILON));
        y_sum.add(y);
    }
    let r2 = if truth.len() < 2 {
        f64::NAN
    } else {
        let residual = sq.total();
        let mean = y_sum.total() / n;
        let constant = truth.iter().all(|&y| y == truth[0]);
        let mut deviation = Neumaier::default();
        if !constant {
            for &y in truth {
                deviation.add((y - mean) * (y - mean));
            }
        }
        let total = deviation.total();
        // force_finite: a zero residual is a perfect fit whatever the truth; a non-zero residual
        // against constant truth would be −∞, and sklearn reports 0 instead.
        if residual == 0.0 {
            1.0
        } else if total == 0.0 {
            0.0
        } else {
            1.0 - residual / total
        }
    };
    RegressionMetrics { mae: abs.total() / n, rmse: (sq.total() / n).sqrt(), mape: pct.total() / n, r2 }
}

/// Neumaier's compensated sum: the running sum plus the low-order bits each addition dropped, so
/// the total errs by O(ε) of the sum of magnitudes whatever the length.
#[derive(Clone, Copy, Default)]
struct Neumaier {
    sum: f64,
    compensation: f64,
}

impl Neumaier {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        // Whichever of the two is larger kept its bits; recover what the smaller lost.
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINARY: Task = Task::Binary { positive: 1 };

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-15 * want.abs().max(1.0)
    }

    #[test]
    fn binary_counts_give_precision_recall_f1_of_the_positive_class() {
        // tp = 1 (row 0), fn = 1 (row 1), fp = 1 (row 2), tn = 1 (row 3).
        let m = classification_metrics(&[1, 1, 0, 0], &[1, 0, 1, 0], 2, BINARY, None);
        assert_eq!((m.accuracy, m.precision, m.recall, m.f1), (0.5, 0.5, 0.5, 0.5));
        assert_eq!((m.roc_auc, m.log_loss, m.calibration_error), (None, None, None));
        // Positive class 0: tp = 2, fp = 1, fn = 0.
        let m = classification_metrics(&[0, 0, 1, 1], &[0, 0, 0, 1], 2, Task::Binary { positive: 0 }, None);
        assert_eq!((m.precision, m.recall, m.f1), (2.0 / 3.0, 1.0, 0.8));
    }

    #[test]
    fn no_positive_predicted_scores_zero_not_nan() {
        let m = classification_metrics(&[1, 0, 1], &[0, 0, 0], 2, BINARY, None);
        assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
        // No positive in truth either: recall and F1 have zero denominators too.
        let m = classification_metrics(&[0, 0], &[0, 0], 2, BINARY, None);
        assert_eq!((m.accuracy, m.precision, m.recall, m.f1), (1.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn macro_average_runs_over_classes_seen_in_truth_or_predictions() {
        // Class 0: P 1, R 1/2, F1 2/3. Class 1: P 1/2, R 1/2, F1 1/2. Class 2 (predicted, never
        // true): all 0. Class 3 is in neither, so it is not averaged.
        let m = classification_metrics(&[0, 0, 1, 1], &[0, 1, 1, 2], 4, Task::Multiclass, None);
        assert_eq!(m.accuracy, 0.5);
        assert!(close(m.precision, 0.5));
        assert!(close(m.recall, 1.0 / 3.0));
        assert!(close(m.f1, 7.0 / 18.0));
    }

    #[test]
    fn log_loss_clips_zero_and_one_to_epsilon_and_does_not_renormalise() {
        // Row 0: true class has probability 1 → −ln(1 − ε). Row 1: true class has 0 → −ln ε.
        let m = classification_metrics(&[1, 1], &[1, 0], 2, BINARY, Some(&[0.0, 1.0, 1.0, 0.0]));
        let want = (-(1.0 - f64::EPSILON).ln() - f64::EPSILON.ln()) / 2.0;
        assert_eq!(m.log_loss, Some(want));
        assert!((want - 18.021826694558577).abs() < 1e-12);
        // A row summing to 0.5 is used as it is: −ln 0.25, not −ln 0.5.
        let m = classification_metrics(&[0], &[0], 2, BINARY, Some(&[0.25, 0.25]));
        assert_eq!(m.log_loss, Some(-(0.25f64).ln()));
    }

    #[test]
    fn calibration_error_weights_each_bin_gap_by_its_share() {
        // Bin 0 holds p = 0.05 with y = 0 (gap 0.05); bin 9 holds p = 0.95 and p = 1 with y = 1, 1
        // (gap 1 − 0.975 = 0.025). ECE = 1/3 · 0.05 + 2/3 · 0.025.
        let probs = [0.95, 0.05, 0.05, 0.95, 0.0, 1.0];
        let m = classification_metrics(&[0, 1, 1], &[0, 1, 1], 2, BINARY, Some(&probs));
        assert!(close(m.calibration_error.unwrap(), 0.05 / 3.0 + 0.05 / 3.0));
        // 0.5 is the left edge of bin 5: two rows at 0.5, one positive, are perfectly calibrated.
        let m = classification_metrics(&[0, 1], &[1, 1], 2, BINARY, Some(&[0.5, 0.5, 0.5, 0.5]));
        assert_eq!(m.calibration_error, Some(0.0));
    }

    #[test]
    fn multiclass_calibration_uses_the_first_argmax_not_the_prediction() {
        // Row 0's top label is class 1 (0.5 first, tied with class 2), which is the truth: correct at
        // confidence 0.5, whatever `predicted` says. Row 1's top label 0 at 0.75 is wrong.
        // Bin 5: |1 − 0.5| · 1/2; bin 7: |0 − 0.75| · 1/2.
        let probs = [0.0, 0.5, 0.5, 0.75, 0.125, 0.125];
        let m = classification_metrics(&[1, 2], &[2, 2], 3, Task::Multiclass, Some(&probs));
        assert_eq!(m.calibration_error, Some(0.25 + 0.375));
    }

    #[test]
    fn multiclass_roc_auc_is_the_mean_of_one_vs_rest_and_undefined_for_an_absent_class() {
        // Every class is perfectly ranked one-vs-rest.
        let probs = [0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8];
        let m = classification_metrics(&[0, 1, 2], &[0, 1, 2], 3, Task::Multiclass, Some(&probs));
        assert_eq!(m.roc_auc, Some(1.0));
        // Class 2 never true: no positive for its one-vs-rest AUC.
        let m = classification_metrics(&[0, 1, 1], &[0, 1, 2], 3, Task::Multiclass, Some(&probs));
        assert_eq!(m.roc_auc, None);
        assert!(m.log_loss.is_some());
    }

    #[test]
    fn empty_classification_input_is_nan() {
        let m = classification_metrics(&[], &[], 2, BINARY, Some(&[]));
        assert!(m.accuracy.is_nan() && m.precision.is_nan() && m.recall.is_nan() && m.f1.is_nan());
        assert_eq!((m.roc_auc, m.log_loss, m.calibration_error), (None, None, None));
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn mismatched_classification_lengths_panic() {
        classification_metrics(&[0, 1], &[0], 2, BINARY, None);
    }

    #[test]
    #[should_panic(expected = "n × classes")]
    fn probabilities_of_the_wrong_shape_panic() {
        classification_metrics(&[0, 1], &[0, 1], 2, BINARY, Some(&[0.5, 0.5]));
    }

    #[test]
    #[should_panic(expected = "class index")]
    fn class_index_out_of_range_panics() {
        classification_metrics(&[0, 2], &[0, 1], 2, BINARY, None);
    }

    #[test]
    fn regression_metrics_by_hand() {
        // Errors 0, 0, 1 against truth 1, 2, 3: residual 1, deviations from the mean 2 sum to 2.
        let m = regression_metrics(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!(close(m.mae, 1.0 / 3.0));
        assert!(close(m.rmse, (1.0f64 / 3.0).sqrt()));
        assert!(close(m.mape, 1.0 / 9.0));
        assert_eq!(m.r2, 0.5);
    }

    #[test]
    fn mape_divides_a_zero_truth_by_epsilon() {
        let m = regression_metrics(&[0.0, 1.0], &[1.0, 1.0]);
        assert_eq!(m.mape, (1.0 / f64::EPSILON) / 2.0);
    }

    #[test]
    fn r2_of_constant_truth_is_forced_finite() {
        assert_eq!(regression_metrics(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).r2, 0.0);
        assert_eq!(regression_metrics(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
        // A constant whose mean is not exact in floating point (sklearn: about −5e29).
        assert_eq!(regression_metrics(&[0.1, 0.1, 0.1], &[0.11, 0.11, 0.11]).r2, 0.0);
    }

    #[test]
    fn r2_of_fewer_than_two_samples_and_empty_input_are_nan() {
        let m = regression_metrics(&[2.0], &[2.5]);
        assert_eq!((m.mae, m.rmse, m.mape), (0.5, 0.5, 0.25));
        assert!(m.r2.is_nan());
        let m = regression_metrics(&[], &[]);
        assert!(m.mae.is_nan() && m.rmse.is_nan() && m.mape.is_nan() && m.r2.is_nan());
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn mismatched_regression_lengths_panic() {
        regression_metrics(&[1.0], &[]);
    }

    #[test]
    fn compensated_sum_keeps_what_a_running_sum_drops() {
        let mut s = Neumaier::default();
        for x in [1.0, 1e100, 1.0, -1e100] {
            s.add(x);
        }
        assert_eq!(s.total(), 2.0);
    }
}
