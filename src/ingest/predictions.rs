//! The model's outputs in an `/ingest` body (`ids`, `predictions`, `probabilities` beside the
//! features, or `id`, `prediction`, `probabilities` keys of a row) and the bodies of `POST
//! /labels`: decoded against the model's `[model.performance]`, every value checked, errors naming
//! the field (`predictions[3]`, `rows[2].id`).

use serde::Deserialize;
use serde_json::Value;

use crate::config::{PerformanceConfig, TaskKind};
use crate::error::ApiError;
use crate::json::{UniqueMap, json_error, parse_json};
use crate::monitor::performance::{Prediction, Predictions, integral_class};
use crate::monitor::reference::ModelSpec;

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_prediction", Some(field), message)
}

fn performance<'a>(spec: &'a ModelSpec, field: &str) -> Result<&'a PerformanceConfig, ApiError> {
    spec.config.performance.as_ref().ok_or_else(|| {
        invalid(
            field,
            format!("model {:?} has no [model.performance]: it takes no predictions or labels", spec.config.name),
        )
    })
}

/// An id: a string, or an integer written as one. `null`: the row cannot be joined.
fn id(v: &Value, field: &str) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        other => Err(invalid(field, format!("an id is a non-empty string or an integer, got {other}"))),
    }
}

/// A class as text: strings as they are, integers (also 1.0) as integers, booleans as
/// `true`/`false`, so `1`, `1.0` and `"1"` are one class.
fn class_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => integral_class(f).or_else(|| Some(n.to_string())),
            _ => None,
        },
        _ => None,
    }
}

/// A prediction or a label: a class of the config's for classifiers, a finite number for regression.
fn output(cfg: &PerformanceConfig, v: &Value, field: &str) -> Result<Prediction, ApiError> {
    match cfg.task {
        TaskKind::Regression => match v.as_f64() {
            Some(x) if x.is_finite() => Ok(Prediction::Value(x)),
            _ => Err(invalid(field, format!("a regression model's value is a finite number, got {v}"))),
        },
        TaskKind::Binary => class_text(v)
            .map(Prediction::Class)
            .ok_or_else(|| invalid(field, format!("a class is a string, number or boolean, got {v}"))),
        TaskKind::Multiclass => match class_text(v) {
            Some(c) if cfg.classes.contains(&c) => Ok(Prediction::Class(c)),
            _ => Err(invalid(field, format!("{v} is not one of the model's classes {:?}", cfg.classes))),
        },
    }
}

/// One row's probabilities in class order (binary: negative, positive), from `class → p`.
fn probability_row(cfg: &PerformanceConfig, row: &[(String, f64)], field: &str) -> Result<Vec<f64>, ApiError> {
    let check = |p: f64, k: &str| {
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(invalid(&format!("{field}.{k}"), format!("a probability is in [0, 1], got {p}")))
        }
    };
    match cfg.task {
        TaskKind::Binary => {
            let positive = cfg.positive_class.as_deref().unwrap_or_default();
            let (_, p) = row
                .iter()
                .find(|(k, _)| k == positive)
                .ok_or_else(|| invalid(field, format!("needs the probability of the positive class {positive:?}")))?;
            let p = check(*p, positive)?;
            Ok(vec![1.0 - p, p])
        }
        TaskKind::Multiclass => {
            cfg.classes
                .iter()
                .map(|c| {
                    let (_, p) = row.iter().find(|(k, _)| k == c).ok_or_else(|| {
                        invalid(field, format!("needs a probability for every class; {c:?} is missing"))
                    })?;
                    check(*p, c)
                })
                .collect()
        }
        TaskKind::Regression => Err(invalid(field, "a regression model has no class probabilities")),
    }
}

/// How the columnar form's three fields are named in a body, and so in its errors.
pub(crate) struct OutputNames {
    pub(crate) ids: &'static str,
    pub(crate) predictions: &'static str,
    pub(crate) probabilities: &'static str,
}

/// A JSON body's `ids`, `predictions` and `probabilities`.
pub(crate) const JSON_NAMES: OutputNames =
    OutputNames { ids: "ids", predictions: "predictions", probabilities: "probabilities" };

/// An Arrow stream's `id`, `prediction` and `probabilities.<class>` columns.
pub(crate) const ARROW_NAMES: OutputNames =
    OutputNames { ids: "columns.id", predictions: "columns.prediction", probabilities: "columns.probabilities" };

/// The columnar form: `ids`, `predictions`, `probabilities` (`{"<class>": [...]}`), each as long
/// as the batch (`rows`, when it has features).
pub(crate) fn from_columns(
    spec: &ModelSpec,
    ids: Option<Vec<Value>>,
    predictions: Option<Vec<Value>>,
    probabilities: Option<UniqueMap<Vec<Value>>>,
    rows: Option<usize>,
    names: &OutputNames,
) -> Result<Option<Predictions>, ApiError> {
    let Some(predictions) = predictions else {
        for (field, set) in [(names.ids, ids.is_some()), (names.probabilities, probabilities.is_some())] {
            if set {
                return Err(invalid(field, format!("needs {:?} beside it", names.predictions)));
            }
        }
        return Ok(None);
    };
    let cfg = performance(spec, names.predictions)?;
    let n = predictions.len();
    if n == 0 {
        return Err(invalid(names.predictions, "is empty"));
    }
    if let Some(rows) = rows.filter(|&r| r != n) {
        return Err(invalid(names.predictions, format!("has {n} values but the features have {rows} rows")));
    }
    let ids = match ids {
        None => vec![None; n],
        Some(ids) if ids.len() != n => {
            return Err(invalid(names.ids, format!("has {} values for {n} predictions", ids.len())));
        }
        Some(ids) => {
            ids.iter().enumerate().map(|(i, v)| id(v, &format!("{}[{i}]", names.ids))).collect::<Result<_, _>>()?
        }
    };
    let predictions: Vec<Prediction> = predictions
        .iter()
        .enumerate()
        .map(|(i, v)| output(cfg, v, &format!("{}[{i}]", names.predictions)))
        .collect::<Result<_, _>>()?;
    let probabilities = match probabilities {
        None => vec![None; n],
        Some(map) => {
            let probabilities = names.probabilities;
            for (k, v) in &map.0 {
                if v.len() != n {
                    return Err(invalid(
                        &format!("{probabilities}.{k}"),
                        format!("has {} values for {n} predictions", v.len()),
                    ));
                }
            }
            (0..n)
                .map(|i| {
                    let mut row = Vec::with_capacity(map.0.len());
                    for (k, v) in &map.0 {
                        match &v[i] {
                            Value::Null => return Ok(None),
                            x => row.push((
                                k.clone(),
                                x.as_f64().ok_or_else(|| {
                                    invalid(&format!("{probabilities}.{k}[{i}]"), format!("expected a number, got {x}"))
                                })?,
                            )),
                        }
                    }
                    probability_row(cfg, &row, &format!("{probabilities}[{i}]")).map(Some)
                })
                .collect::<Result<_, _>>()?
        }
    };
    Ok(Some(Predictions { ids, predictions, probabilities }))
}

/// The reserved keys of a row object (`id`, `prediction`, `probabilities`), taken out of it; the
/// rest are features. A `prediction` key stays in the row too when the model has a feature of that
/// name (prediction drift is scored like a feature's).
pub(crate) struct RowOutputs {
    ids: Vec<Value>,
    predictions: Vec<Option<Value>>,
    probabilities: Vec<Option<Value>>,
}

impl RowOutputs {
    pub(crate) fn take(spec: &ModelSpec, rows: &mut [UniqueMap<Value>]) -> Option<RowOutputs> {
        let any =
            rows.iter().any(|r| r.0.iter().any(|(k, _)| matches!(k.as_str(), "id" | "prediction" | "probabilities")));
        if !any || spec.config.performance.is_none() {
            return None;
        }
        let keep_prediction = spec.feature_index("prediction").is_some();
        let mut out = RowOutputs { ids: Vec::new(), predictions: Vec::new(), probabilities: Vec::new() };
        for row in rows.iter_mut() {
            let mut take = |key: &str, keep: bool| {
                let at = row.0.iter().position(|(k, _)| k == key)?;
                Some(if keep { row.0[at].1.clone() } else { row.0.remove(at).1 })
            };
            out.ids.push(take("id", false).unwrap_or(Value::Null));
            out.predictions.push(take("prediction", keep_prediction));
            out.probabilities.push(take("probabilities", false));
        }
        Some(out)
    }

    pub(crate) fn decode(self, spec: &ModelSpec, row_field: &str) -> Result<Predictions, ApiError> {
        let cfg = performance(spec, row_field)?;
        let mut p = Predictions { ids: Vec::new(), predictions: Vec::new(), probabilities: Vec::new() };
        for (i, ((id_v, pred), proba)) in self.ids.iter().zip(self.predictions).zip(self.probabilities).enumerate() {
            let pred = pred.ok_or_else(|| {
                invalid(&format!("{row_field}[{i}].prediction"), "a row with an id or probabilities needs a prediction")
            })?;
            p.ids.push(id(id_v, &format!("{row_field}[{i}].id"))?);
            p.predictions.push(output(cfg, &pred, &format!("{row_field}[{i}].prediction"))?);
            p.probabilities.push(match proba {
                None | Some(Value::Null) => None,
                Some(Value::Object(m)) => {
                    let field = format!("{row_field}[{i}].probabilities");
                    let row: Vec<(String, f64)> = m
                        .into_iter()
                        .map(|(k, v)| {
                            v.as_f64()
                                .map(|x| (k.clone(), x))
                                .ok_or_else(|| invalid(&format!("{field}.{k}"), format!("expected a number, got {v}")))
                        })
                        .collect::<Result<_, _>>()?;
                    Some(probability_row(cfg, &row, &field)?)
                }
                Some(other) => {
                    return Err(invalid(
                        &format!("{row_field}[{i}].probabilities"),
                        format!("expected an object of class probabilities, got {other}"),
                    ));
                }
            });
        }
        Ok(p)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsBody {
    model: Option<String>,
    ids: Vec<Value>,
    labels: Vec<Value>,
}

/// A decoded `POST /labels` body: the model it names (JSON `model` or a line's) and its pairs.
pub(crate) struct Labels {
    pub(crate) model: Option<String>,
    pub(crate) ids: Vec<String>,
    pub(crate) labels: Vec<Value>,
    /// How each pair's fields are named in errors.
    fields: Vec<(String, String)>,
}

/// `{"model": "m", "ids": [...], "labels": [...]}`, or NDJSON lines `{"id": .., "label": ..}`
/// (each may name the model; all that do must agree).
pub(crate) fn parse_labels(body: &[u8], ndjson: bool) -> Result<Labels, ApiError> {
    let mut out = Labels { model: None, ids: Vec::new(), labels: Vec::new(), fields: Vec::new() };
    let push =
        |out: &mut Labels, id_v: &Value, label: Value, id_field: String, label_field: String| -> Result<(), ApiError> {
            let id =
                id(id_v, &id_field)?.ok_or_else(|| invalid(&id_field, "a label needs the id of its prediction"))?;
            out.ids.push(id);
            out.labels.push(label);
            out.fields.push((id_field, label_field));
            Ok(())
        };
    if !ndjson {
        let b: LabelsBody = parse_json(body, "invalid JSON body")?;
        if b.ids.len() != b.labels.len() {
            return Err(invalid("labels", format!("has {} values for {} ids", b.labels.len(), b.ids.len())));
        }
        out.model = b.model;
        for (i, (id_v, label)) in b.ids.iter().zip(b.labels).enumerate() {
            push(&mut out, id_v, label, format!("ids[{i}]"), format!("labels[{i}]"))?;
        }
    } else {
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let at = format!("line[{}]", i + 1);
            let row: UniqueMap<Value> =
                serde_json::from_slice(line).map_err(|e| json_error(&e, Some(&at), format!("line {}: {e}", i + 1)))?;
            let (mut id_v, mut label) = (None, None);
            for (k, v) in row.0 {
                match k.as_str() {
                    "id" => id_v = Some(v),
                    "label" => label = Some(v),
                    "model" => {
                        let m = v
                            .as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| invalid(&format!("{at}.model"), "a model name is a string"))?;
                        if out.model.as_ref().is_some_and(|o| o != &m) {
                            return Err(invalid(&format!("{at}.model"), "every line must name the same model"));
                        }
                        out.model = Some(m);
                    }
                    _ => return Err(invalid(&format!("{at}.{k}"), "a label line has only id, label and model")),
                }
            }
            let label = label.ok_or_else(|| invalid(&format!("{at}.label"), "missing"))?;
            push(&mut out, &id_v.unwrap_or(Value::Null), label, format!("{at}.id"), format!("{at}.label"))?;
        }
    }
    if out.ids.is_empty() {
        return Err(ApiError::unprocessable("empty_batch", Some("labels"), "the body has no labels"));
    }
    Ok(out)
}

impl Labels {
    /// The labels checked against the model's task.
    pub(crate) fn decode(&self, spec: &ModelSpec) -> Result<Vec<Prediction>, ApiError> {
        let cfg = performance(spec, "labels")?;
        self.labels.iter().zip(&self.fields).map(|(v, (_, field))| output(cfg, v, field)).collect()
    }
}
