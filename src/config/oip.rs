//! `[model.oip]`: how the tensors of an Open Inference Protocol (KServe v2) or KServe v1 payload
//! map onto the model (`POST /ingest/oip/{model}`, `POST /ingest/kserve`): the column order of an
//! `[N, d]` input tensor, which output is the prediction and which the class probabilities, and
//! what a binary classifier's negative class is called when it is only an argmax. Every key is
//! optional; without the table the defaults below apply.

use serde::{Deserialize, Serialize};

use super::check::Scope;
use super::check_name;
use super::performance::{PerformanceConfig, TaskKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOip {
    columns: Option<Vec<String>>,
    prediction_output: Option<String>,
    probabilities_output: Option<String>,
    negative_class: Option<String>,
}

/// A model's validated `[model.oip]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OipConfig {
    /// The features an `[N, d]` input tensor (and a v1 instance given as an array) holds, in order.
    /// Empty: the model's features in their order (without `prediction`, which comes from the
    /// outputs when the model has `[model.performance]`).
    pub columns: Vec<String>,
    /// The output tensor holding the predicted label (or value). `None`: the first output.
    pub prediction_output: Option<String>,
    /// The output tensor holding the class probabilities. `None`: the first output when it is
    /// `[N, k]`.
    pub probabilities_output: Option<String>,
    /// Binary classifiers: the label an argmax over `[N, 2]` probabilities gives a row that is not
    /// the positive class. `None`: `"0"` for positive class `"1"`, `"false"` for `"true"`, else
    /// `"not_<positive_class>"`.
    pub negative_class: Option<String>,
}

pub(crate) fn validate_oip(
    raw: Option<RawOip>,
    features: &[super::FeatureConfig],
    performance: Option<&PerformanceConfig>,
    at: &mut Scope<'_>,
) -> Option<Option<OipConfig>> {
    let Some(r) = raw else { return Some(None) };
    let mut at = at.nested("oip");
    let before = at.count();
    let columns = r.columns.unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    for (i, name) in columns.iter().enumerate() {
        at.ok(&format!("columns[{i}]"), check_name(name));
        if !seen.insert(name.as_str()) {
            at.report(&format!("columns[{i}]"), format!("{name:?} is listed twice"));
        }
        if !features.is_empty() && !features.iter().any(|f| &f.name == name) {
            at.report(&format!("columns[{i}]"), format!("{name:?} is not one of the model's features"));
        }
    }
    if r.prediction_output.is_some() && r.prediction_output == r.probabilities_output {
        at.report("probabilities_output", "names the same output as prediction_output");
    }
    for (field, name) in
        [("prediction_output", &r.prediction_output), ("probabilities_output", &r.probabilities_output)]
    {
        if name.as_ref().is_some_and(|n| n.is_empty()) {
            at.report(field, "an output name is not empty");
        }
    }
    if let Some(negative) = &r.negative_class {
        match performance {
            Some(p) if p.task == TaskKind::Binary => {
                if p.positive_class.as_ref() == Some(negative) {
                    at.report("negative_class", "is the positive class");
                }
            }
            _ => at.report("negative_class", "applies to [model.performance] task = \"binary\" only"),
        }
    }
    let cfg = OipConfig {
        columns,
        prediction_output: r.prediction_output,
        probabilities_output: r.probabilities_output,
        negative_class: r.negative_class,
    };
    if at.count() > before { None } else { Some(Some(cfg)) }
}

impl OipConfig {
    /// The label of a binary classifier's negative class (see [`OipConfig::negative_class`]).
    pub(crate) fn negative_label(&self, positive: &str) -> String {
        match (&self.negative_class, positive) {
            (Some(n), _) => n.clone(),
            (None, "1") => "0".into(),
            (None, "true") => "false".into(),
            (None, p) => format!("not_{p}"),
        }
    }
}
