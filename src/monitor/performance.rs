//! Model quality from delayed labels: predictions that carry an id wait (bounded by time and
//! count) for their label; a label joins its prediction, and every `window` joined rows are
//! evaluated with the statistics crate's metrics (scikit-learn's). What expires unjoined, and
//! labels that find no prediction, are counted, never dropped silently. The waiting predictions
//! and the partly filled window are in the snapshot: labels arrive days and restarts later.

use std::collections::{HashMap, VecDeque};

use driftwatch_stats::performance::cbpe::CbpeReference;
use driftwatch_stats::performance::metrics::{Task, classification_metrics, regression_metrics};
use serde::{Deserialize, Serialize};

use crate::config::{PerformanceConfig, TaskKind};

/// A model's output for one row, or the label that arrives for it, as decoded: a class (as text)
/// or a regression value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Prediction {
    Class(String),
    Value(f64),
}

/// An integral number as the class it names (`1.0` and `1` are the class `"1"`), the one rule
/// `/ingest`, `/labels` and a CBPE reference's numeric columns share; `None` for other numbers.
pub(crate) fn integral_class(f: f64) -> Option<String> {
    (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| format!("{}", f as i64))
}

/// The predictions of one `/ingest` batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Per row; `None` rows cannot be joined later.
    pub ids: Vec<Option<String>>,
    pub predictions: Vec<Prediction>,
    /// Per row, the probability of each class in the config's class order (binary: of the
    /// negative and the positive class); `None` where the row sent none.
    pub probabilities: Vec<Option<Vec<f64>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    /// Arrival order, so a stale expiry entry of a replaced prediction is recognised.
    seq: u64,
    at: f64,
    prediction: Prediction,
    probabilities: Option<Vec<f64>>,
}

/// Joined rows waiting for the window to fill.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Joined {
    truth: Vec<Prediction>,
    predicted: Vec<Prediction>,
    probabilities: Vec<Option<Vec<f64>>>,
}

/// One evaluated window of joined rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceReport {
    pub seq: u64,
    pub rows: usize,
    pub completed_at: f64,
    /// (metric, value): accuracy, precision, recall, f1, roc_auc, log_loss, calibration_error for
    /// classifiers (the probability-based ones when every row had probabilities); mae, rmse, mape,
    /// r2 for regression.
    pub metrics: std::collections::BTreeMap<String, f64>,
}

impl PerformanceReport {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }
}

/// One CBPE metric of one window of predictions (NannyML's estimate, its confidence band of ± 3
/// sampling errors, its alert thresholds from the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub sampling_error: f64,
    pub lower: f64,
    pub upper: f64,
    pub lower_threshold: Option<f64>,
    pub upper_threshold: Option<f64>,
    pub alert: bool,
}

/// The label-free estimate of one window of `window` predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimateReport {
    pub seq: u64,
    pub rows: usize,
    pub completed_at: f64,
    /// accuracy, f1, roc_auc.
    pub metrics: std::collections::BTreeMap<String, Estimate>,
}

/// A model's performance state; what the snapshot stores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PerformanceState {
    pending: HashMap<String, Pending>,
    /// (seq, at, id), oldest first; entries whose id was predicted again since are skipped.
    order: VecDeque<(u64, f64, String)>,
    next_seq: u64,
    joined: Joined,
    evaluated: u64,
    pub(crate) latest: Option<PerformanceReport>,
    /// Predictions (positive?, probability of the positive class) waiting to fill CBPE's window.
    estimating: Vec<(bool, f64)>,
    estimated: u64,
    pub(crate) latest_estimate: Option<EstimateReport>,
}

/// What one call did, for the counters and the response.
#[derive(Debug, Default, PartialEq, Serialize)]
pub(crate) struct Outcome {
    pub(crate) joined: u64,
    pub(crate) unmatched: u64,
    pub(crate) expired: u64,
    pub(crate) pending: usize,
    #[serde(skip)]
    pub(crate) reports: Vec<PerformanceReport>,
    #[serde(skip)]
    pub(crate) estimates: Vec<EstimateReport>,
}

impl PerformanceState {
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Expires predictions older than the retention, then as many of the oldest as needed to make
    /// room for `incoming` more under `max_pending`.
    fn expire(&mut self, cfg: &PerformanceConfig, now: f64, incoming: usize) -> u64 {
        let mut expired = 0;
        let cutoff = now - cfg.retention_seconds;
        while let Some((seq, at, id)) = self.order.front().cloned() {
            let live = self.pending.get(&id).is_some_and(|p| p.seq == seq);
            if !live {
                self.order.pop_front();
                continue;
            }
            let over_count = self.pending.len() + incoming > cfg.max_pending;
            if at >= cutoff && !over_count {
                break;
            }
            self.order.pop_front();
            self.pending.remove(&id);
            expired += 1;
        }
        expired
    }

    /// Keeps a batch's predictions that carry an id until their label comes, and (with `cbpe`)
    /// estimates every window of predictions with probabilities.
    pub(crate) fn add_predictions(
        &mut self,
        cfg: &PerformanceConfig,
        p: &Predictions,
        now: f64,
        cbpe: Option<&CbpeReference>,
    ) -> Outcome {
        let estimates = cbpe.map_or_else(Vec::new, |c| self.estimate(cfg, c, p, now));
        // Only new ids need room: a repredicted id replaces its own entry.
        let new = p.ids.iter().flatten().filter(|id| !self.pending.contains_key(*id)).count();
        let expired = self.expire(cfg, now, new.min(cfg.max_pending));
        for ((id, prediction), probabilities) in p.ids.iter().zip(&p.predictions).zip(&p.probabilities) {
            let Some(id) = id else { continue };
            let seq = self.next_seq;
            self.next_seq += 1;
            self.pending.insert(
                id.clone(),
                Pending { seq, at: now, prediction: prediction.clone(), probabilities: probabilities.clone() },
            );
            self.order.push_back((seq, now, id.clone()));
        }
        // A batch larger than max_pending keeps only its newest predictions.
        let expired = expired + self.expire(cfg, now, 0);
        Outcome { expired, pending: self.pending.len(), estimates, ..Outcome::default() }
    }

    fn estimate(
        &mut self,
        cfg: &PerformanceConfig,
        cbpe: &CbpeReference,
        p: &Predictions,
        now: f64,
    ) -> Vec<EstimateReport> {
        let mut out = Vec::new();
        for (prediction, probabilities) in p.predictions.iter().zip(&p.probabilities) {
            let Some(proba) = probabilities.as_ref().and_then(|v| v.get(1).copied()) else { continue };
            self.estimating.push((class_index(cfg, prediction) == 1, proba));
            if self.estimating.len() == cfg.window {
                let rows = std::mem::take(&mut self.estimating);
                let (y_pred, proba): (Vec<bool>, Vec<f64>) = rows.into_iter().unzip();
                self.estimated += 1;
                let metrics = cbpe
                    .estimate(&y_pred, &proba)
                    .into_iter()
                    .map(|e| {
                        let estimate = Estimate {
                            value: e.value,
                            sampling_error: e.sampling_error,
                            lower: e.lower,
                            upper: e.upper,
                            lower_threshold: e.lower_threshold,
                            upper_threshold: e.upper_threshold,
                            alert: e.alert,
                        };
                        (e.metric.name().to_owned(), estimate)
                    })
                    .collect();
                let report = EstimateReport { seq: self.estimated, rows: y_pred.len(), completed_at: now, metrics };
                self.latest_estimate = Some(report.clone());
                out.push(report);
            }
        }
        out
    }

    /// Joins labels to their predictions and evaluates every window that fills.
    pub(crate) fn add_labels(
        &mut self,
        cfg: &PerformanceConfig,
        ids: &[String],
        labels: &[Prediction],
        now: f64,
    ) -> Outcome {
        let mut out = Outcome { expired: self.expire(cfg, now, 0), ..Outcome::default() };
        for (id, label) in ids.iter().zip(labels) {
            let Some(p) = self.pending.remove(id) else {
                out.unmatched += 1;
                continue;
            };
            out.joined += 1;
            self.joined.truth.push(label.clone());
            self.joined.predicted.push(p.prediction);
            self.joined.probabilities.push(p.probabilities);
            if self.joined.truth.len() == cfg.window {
                let joined = std::mem::take(&mut self.joined);
                self.evaluated += 1;
                let report = evaluate(cfg, &joined, self.evaluated, now);
                self.latest = Some(report.clone());
                out.reports.push(report);
            }
        }
        out.pending = self.pending.len();
        out
    }

    /// Whether restored state is one this config could have made.
    pub(crate) fn fits(&self, cfg: &PerformanceConfig) -> bool {
        self.joined.truth.len() < cfg.window
            && self.estimating.len() < cfg.window
            && self.joined.truth.len() == self.joined.predicted.len()
            && self.joined.truth.len() == self.joined.probabilities.len()
            && self.order.len() >= self.pending.len()
    }
}

/// A class label's index: binary 1 for the positive class and 0 otherwise; multiclass its place
/// in `classes` (validation keeps labels and predictions in it).
fn class_index(cfg: &PerformanceConfig, p: &Prediction) -> u32 {
    let Prediction::Class(c) = p else { return 0 };
    match cfg.task {
        TaskKind::Binary => u32::from(cfg.positive_class.as_deref() == Some(c.as_str())),
        _ => cfg.classes.iter().position(|k| k == c).unwrap_or(0) as u32,
    }
}

fn evaluate(cfg: &PerformanceConfig, j: &Joined, seq: u64, now: f64) -> PerformanceReport {
    let rows = j.truth.len();
    let metrics = match cfg.task {
        TaskKind::Regression => {
            let value = |p: &Prediction| match p {
                Prediction::Value(v) => *v,
                Prediction::Class(_) => f64::NAN,
            };
            let truth: Vec<f64> = j.truth.iter().map(value).collect();
            let predicted: Vec<f64> = j.predicted.iter().map(value).collect();
            let m = regression_metrics(&truth, &predicted);
            vec![("mae", m.mae), ("rmse", m.rmse), ("mape", m.mape), ("r2", m.r2)]
        }
        TaskKind::Binary | TaskKind::Multiclass => {
            let classes = if cfg.task == TaskKind::Binary { 2 } else { cfg.classes.len() };
            let truth: Vec<u32> = j.truth.iter().map(|p| class_index(cfg, p)).collect();
            let predicted: Vec<u32> = j.predicted.iter().map(|p| class_index(cfg, p)).collect();
            let probabilities: Option<Vec<f64>> = j
                .probabilities
                .iter()
                .map(|p| p.as_ref().filter(|p| p.len() == classes))
                .collect::<Option<Vec<_>>>()
                .map(|rows| rows.into_iter().flatten().copied().collect());
            let task = if cfg.task == TaskKind::Binary { Task::Binary { positive: 1 } } else { Task::Multiclass };
            let m = classification_metrics(&truth, &predicted, classes, task, probabilities.as_deref());
            let mut v = vec![("accuracy", m.accuracy), ("precision", m.precision), ("recall", m.recall), ("f1", m.f1)];
            v.extend(m.roc_auc.map(|x| ("roc_auc", x)));
            v.extend(m.log_loss.map(|x| ("log_loss", x)));
            v.extend(m.calibration_error.map(|x| ("calibration_error", x)));
            v
        }
    };
    PerformanceReport {
        seq,
        rows,
        completed_at: now,
        metrics: metrics.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl PerformanceState {
        fn add_predictions_for_test(&mut self, cfg: &PerformanceConfig, p: &Predictions, now: f64) -> Outcome {
            self.add_predictions(cfg, p, now, None)
        }
    }

    fn cfg(window: usize, retention: f64, max_pending: usize) -> PerformanceConfig {
        PerformanceConfig {
            task: TaskKind::Binary,
            positive_class: Some("yes".into()),
            classes: Vec::new(),
            window,
            retention_seconds: retention,
            max_pending,
            accuracy_target: None,
            estimate: false,
            label_column: "label".into(),
            prediction_column: "prediction".into(),
            probability_column: "probability".into(),
        }
    }

    fn batch(ids: &[&str], preds: &[&str]) -> Predictions {
        Predictions {
            ids: ids.iter().map(|s| Some(s.to_string())).collect(),
            predictions: preds.iter().map(|p| Prediction::Class(p.to_string())).collect(),
            probabilities: vec![None; ids.len()],
        }
    }

    fn labels(v: &[&str]) -> Vec<Prediction> {
        v.iter().map(|s| Prediction::Class(s.to_string())).collect()
    }

    #[test]
    fn predictions_older_than_the_retention_expire_and_their_labels_count_as_unmatched() {
        let c = cfg(10, 60.0, 100);
        let mut s = PerformanceState::default();
        s.add_predictions_for_test(&c, &batch(&["a", "b"], &["yes", "no"]), 0.0);
        s.add_predictions_for_test(&c, &batch(&["c"], &["yes"]), 30.0);
        // At t = 61 a and b are past the 60 s retention, c is not.
        let out = s.add_labels(&c, &["a".into(), "c".into()], &labels(&["yes", "yes"]), 61.0);
        assert_eq!((out.expired, out.unmatched, out.joined, out.pending), (2, 1, 1, 0));
    }

    #[test]
    fn over_max_pending_the_oldest_prediction_is_expired_and_a_repredicted_id_keeps_its_newest() {
        let c = cfg(10, 1e6, 2);
        let mut s = PerformanceState::default();
        s.add_predictions_for_test(&c, &batch(&["a", "b"], &["yes", "no"]), 0.0);
        // "a" again: replaced in place, nothing expires; then "c" pushes out the oldest live one, b.
        assert_eq!(s.add_predictions_for_test(&c, &batch(&["a"], &["no"]), 1.0).expired, 0);
        let out = s.add_predictions_for_test(&c, &batch(&["c"], &["yes"]), 2.0);
        assert_eq!((out.expired, out.pending), (1, 2));
        assert!(s.pending.contains_key("a") && s.pending.contains_key("c"));
        assert_eq!(s.pending["a"].prediction, Prediction::Class("no".into()));
    }

    #[test]
    fn every_window_of_joined_rows_is_evaluated_once_and_the_remainder_waits() {
        let c = cfg(4, 1e6, 100);
        let mut s = PerformanceState::default();
        let ids: Vec<String> = (0..6).map(|i| i.to_string()).collect();
        let idr: Vec<&str> = ids.iter().map(String::as_str).collect();
        s.add_predictions_for_test(&c, &batch(&idr, &["yes", "yes", "no", "no", "yes", "no"]), 0.0);
        let out = s.add_labels(&c, &ids, &labels(&["yes", "no", "no", "no", "yes", "yes"]), 1.0);
        assert_eq!(out.reports.len(), 1);
        let r = &out.reports[0];
        // Rows 0..4: right, wrong, right, right.
        assert_eq!((r.rows, r.metric("accuracy")), (4, Some(0.75)));
        assert_eq!(s.joined.truth.len(), 2);
        assert!(s.fits(&c));
    }
}
