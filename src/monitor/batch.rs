//! The columnar `Batch` every decoder produces: one column per model feature, in the model's feature
//! order, all of one length. Building it validates everything (known features, value types, equal
//! lengths, at least one row) before any state is touched, so a batch is accepted or rejected whole.

use serde_json::Value;

use super::reference::{ModelSpec, Values};
use crate::error::ApiError;
use driftwatch_stats::drift::FeatureKind;

#[derive(Debug)]
pub struct Batch {
    pub rows: usize,
    /// Aligned with `ModelSpec::features`; numbers use NaN for missing, categories `None`. `None`:
    /// the feature was absent from the body, every row missing (not materialised: a body of one
    /// short column would otherwise cost rows × features × 8 bytes).
    pub columns: Vec<Option<Values>>,
    /// Per feature: how many values were null, NaN, ±Inf or absent.
    pub missing: Vec<u64>,
}

/// A column as a decoder found it.
pub(crate) enum ColumnInput {
    Json(Vec<Value>),
    /// Numbers with NaN for missing, non-finite values already NaN.
    Numbers(Vec<f64>),
    Text(Vec<Option<String>>),
}

impl ColumnInput {
    fn len(&self) -> usize {
        match self {
            ColumnInput::Json(v) => v.len(),
            ColumnInput::Numbers(v) => v.len(),
            ColumnInput::Text(v) => v.len(),
        }
    }
}

/// Collects decoded columns for one model and checks them.
pub(crate) struct BatchBuilder<'a> {
    spec: &'a ModelSpec,
    columns: Vec<Option<Values>>,
    rows: Option<(usize, String)>,
}

impl<'a> BatchBuilder<'a> {
    pub(crate) fn new(spec: &'a ModelSpec) -> Self {
        BatchBuilder { spec, columns: vec![None; spec.features.len()], rows: None }
    }

    /// Adds the column `name`. `field` says how an error should name it (e.g. `features.age`); it is
    /// only called for an error, so a request of 100 columns does not format 100 names.
    pub(crate) fn column(
        &mut self,
        name: &str,
        field: &dyn Fn() -> String,
        input: ColumnInput,
    ) -> Result<(), ApiError> {
        let Some(i) = self.spec.feature_index(name) else {
            return Err(ApiError::unprocessable(
                "unknown_feature",
                Some(&field()),
                format!("feature {name:?} is not configured for model {:?}", self.spec.config.name),
            ));
        };
        if self.columns[i].is_some() {
            return Err(ApiError::bad_request(
                "duplicate_feature",
                Some(&field()),
                format!("feature {name:?} appears twice"),
            ));
        }
        let len = input.len();
        match &self.rows {
            Some((n, first)) if *n != len => {
                return Err(ApiError::unprocessable(
                    "length_mismatch",
                    Some(&field()),
                    format!("column {name:?} has {len} values but {first:?} has {n}"),
                ));
            }
            None => self.rows = Some((len, name.to_owned())),
            _ => {}
        }
        let values = convert(self.spec.features[i].kind, input, field)?;
        self.columns[i] = Some(values);
        Ok(())
    }

    /// Features absent from the batch count as missing for every row.
    pub(crate) fn finish(self) -> Result<Batch, ApiError> {
        let rows = self.rows.as_ref().map_or(0, |r| r.0);
        if rows == 0 {
            return Err(ApiError::unprocessable("empty_batch", Some("features"), "the batch has no samples"));
        }
        let missing = self
            .columns
            .iter()
            .map(|c| match c {
                None => rows as u64,
                Some(Values::Numeric(v)) => v.iter().filter(|x| x.is_nan()).count() as u64,
                Some(Values::Categorical(v)) => v.iter().filter(|x| x.is_none()).count() as u64,
            })
            .collect();
        let columns = self.columns;
        Ok(Batch { rows, columns, missing })
    }
}

fn type_error(field: &dyn Fn() -> String, index: usize, expected: &str, got: &Value) -> ApiError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ApiError::unprocessable(
        "invalid_type",
        Some(&format!("{}[{index}]", field())),
        format!("expected {expected}, got {got}"),
    )
}

fn convert(kind: FeatureKind, input: ColumnInput, field: &dyn Fn() -> String) -> Result<Values, ApiError> {
    match (kind, input) {
        (FeatureKind::Numeric, ColumnInput::Json(values)) => {
            let mut out = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                out.push(match v {
                    Value::Number(n) => n.as_f64().filter(|x| x.is_finite()).unwrap_or(f64::NAN),
                    Value::Null => f64::NAN,
                    other => return Err(type_error(field, i, "a number or null", other)),
                });
            }
            Ok(Values::Numeric(out))
        }
        (FeatureKind::Categorical, ColumnInput::Json(values)) => {
            let mut out = Vec::with_capacity(values.len());
            for (i, v) in values.into_iter().enumerate() {
                out.push(match v {
                    Value::String(s) => Some(s),
                    Value::Null => None,
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                    other => return Err(type_error(field, i, "a string, an integer or null", &other)),
                });
            }
            Ok(Values::Categorical(out))
        }
        (FeatureKind::Numeric, ColumnInput::Numbers(v)) => Ok(Values::Numeric(v)),
        (FeatureKind::Categorical, ColumnInput::Text(v)) => Ok(Values::Categorical(v)),
        (FeatureKind::Numeric, ColumnInput::Text(_)) => {
            Err(ApiError::unprocessable("invalid_type", Some(&field()), "expected a numeric column, got strings"))
        }
        (FeatureKind::Categorical, ColumnInput::Numbers(_)) => Err(ApiError::unprocessable(
            "invalid_type",
            Some(&field()),
            "expected a string column, got floating-point numbers",
        )),
    }
}
