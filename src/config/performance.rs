//! `[model.performance]`: what the model predicts, so that delayed labels can be joined to its
//! predictions and turned into quality metrics, and how long predictions wait for their label.

use driftwatch_stats::bounds::Bound;
use serde::{Deserialize, Serialize};

use super::check::Scope;
use super::check_name;

/// What kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Binary,
    Multiclass,
    Regression,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPerformance {
    task: TaskKind,
    positive_class: Option<String>,
    classes: Option<Vec<String>>,
    window: Option<u64>,
    retention_seconds: Option<f64>,
    max_pending: Option<u64>,
    accuracy_target: Option<f64>,
    #[serde(default)]
    estimate: bool,
    label_column: Option<String>,
    prediction_column: Option<String>,
    probability_column: Option<String>,
}

/// A model's validated `[model.performance]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerformanceConfig {
    pub task: TaskKind,
    /// Binary: the label (as text) that is the positive class; every other label is negative.
    pub positive_class: Option<String>,
    /// Multiclass: the classes, in the order probabilities are reported.
    pub classes: Vec<String>,
    /// Joined (prediction, label) rows per evaluation.
    pub window: usize,
    /// A prediction waits this long for its label, then it is expired (and counted).
    pub retention_seconds: f64,
    /// At most this many predictions wait; the oldest is expired to admit a new one.
    pub max_pending: usize,
    /// Classifiers: an evaluated accuracy below this asks for a retrain (trigger `performance`).
    pub accuracy_target: Option<f64>,
    /// Binary classifiers: estimate accuracy, F1 and ROC AUC of every `window` predictions from
    /// their probabilities before labels arrive (NannyML's CBPE), calibrated on the reference
    /// file's labelled predictions (these three columns).
    pub estimate: bool,
    pub label_column: String,
    pub prediction_column: String,
    pub probability_column: String,
}

const WINDOW: Bound<u64> = Bound::between(10, 10_000_000);
const RETENTION: Bound<f64> = Bound::between(1.0, 365.0 * 86_400.0);
const MAX_PENDING: Bound<u64> = Bound::between(1, 100_000_000);
const ACCURACY: Bound<f64> = Bound::between(0.0, 1.0);
const MAX_CLASSES: usize = 1000;

pub(crate) fn validate_performance(
    raw: Option<RawPerformance>,
    at: &mut Scope<'_>,
) -> Option<Option<PerformanceConfig>> {
    let Some(r) = raw else { return Some(None) };
    let mut at = at.nested("performance");
    let before = at.count();
    let classes = r.classes.unwrap_or_default();
    match r.task {
        TaskKind::Binary => {
            if r.positive_class.is_none() {
                at.report("positive_class", "required for task = \"binary\" (the label of the positive class)");
            }
            if !classes.is_empty() {
                at.report("classes", "applies to task = \"multiclass\" only (binary: positive_class)");
            }
        }
        TaskKind::Multiclass => {
            if classes.len() < 2 || classes.len() > MAX_CLASSES {
                at.report("classes", format!("list between 2 and {MAX_CLASSES} classes, got {}", classes.len()));
            }
            let mut sorted = classes.clone();
            sorted.sort();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                at.report("classes", "a class is listed twice");
            }
            if r.positive_class.is_some() {
                at.report("positive_class", "applies to task = \"binary\" only");
            }
        }
        TaskKind::Regression => {
            for (field, set) in [("positive_class", r.positive_class.is_some()), ("classes", !classes.is_empty())] {
                if set {
                    at.report(field, "does not apply to task = \"regression\"");
                }
            }
            if r.accuracy_target.is_some() {
                at.report("accuracy_target", "applies to classifiers only");
            }
        }
    }
    if r.estimate && r.task != TaskKind::Binary {
        at.report("estimate", "label-free estimation (CBPE) is for task = \"binary\" only");
    }
    for (i, c) in classes.iter().enumerate() {
        at.ok(&format!("classes[{i}]"), check_name(c));
    }
    let d = PerformanceConfig::defaults(r.task);
    let cfg = PerformanceConfig {
        task: r.task,
        positive_class: r.positive_class,
        classes,
        window: at.setting("window", r.window, WINDOW, d.window as u64) as usize,
        retention_seconds: at.setting("retention_seconds", r.retention_seconds, RETENTION, d.retention_seconds),
        max_pending: at.setting("max_pending", r.max_pending, MAX_PENDING, d.max_pending as u64) as usize,
        accuracy_target: r.accuracy_target.and_then(|a| at.bounded("accuracy_target", a, ACCURACY)),
        estimate: r.estimate,
        label_column: r.label_column.unwrap_or(d.label_column),
        prediction_column: r.prediction_column.unwrap_or(d.prediction_column),
        probability_column: r.probability_column.unwrap_or(d.probability_column),
    };
    if at.count() > before { None } else { Some(Some(cfg)) }
}

impl PerformanceConfig {
    /// The reference columns CBPE reads, which are not features.
    pub(crate) fn reference_columns(&self) -> [&str; 3] {
        [&self.label_column, &self.prediction_column, &self.probability_column]
    }

    /// 1,000 joined rows per evaluation, a week of waiting, a million predictions waiting.
    fn defaults(task: TaskKind) -> Self {
        PerformanceConfig {
            task,
            positive_class: None,
            classes: Vec::new(),
            window: 1000,
            retention_seconds: 7.0 * 86_400.0,
            max_pending: 1_000_000,
            accuracy_target: None,
            estimate: false,
            label_column: "label".into(),
            prediction_column: "prediction".into(),
            probability_column: "probability".into(),
        }
    }
}
