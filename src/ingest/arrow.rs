//! `application/vnd.apache.arrow.stream`: an Arrow IPC stream whose columns are features and, for a
//! model with `[model.performance]`, its outputs (`id`, `prediction`, `probabilities.<class>`, one
//! value per row as in a JSON row object); model from `?model=`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use polars::prelude::*;

use serde_json::Value;

use super::predictions::{ARROW_NAMES, from_columns};
use super::series::SeriesBatch;
use crate::config::TaskKind;
use crate::error::ApiError;
use crate::json::UniqueMap;
use crate::monitor::batch::{Batch, BatchBuilder, ColumnInput};
use crate::monitor::performance::Predictions;
use crate::monitor::reference::ModelSpec;
use driftwatch_stats::drift::FeatureKind;

fn invalid(msg: String) -> ApiError {
    ApiError::bad_request("invalid_arrow", Some("body"), format!("invalid Arrow IPC stream: {msg}"))
}

/// What an Arrow stream holds: feature columns and the model's outputs (either may be absent, not
/// both), or a long-form series table whose columns are exactly `series` (string), `timestamp`
/// (numeric seconds) and `value` (numeric).
pub(crate) enum Decoded {
    Features { batch: Option<Batch>, predictions: Option<Predictions> },
    Series(SeriesBatch),
}

/// The prefix of a column holding one class's probabilities.
const PROBABILITIES: &str = "probabilities.";

/// Whether an integer column `name` is read as numbers (else as text, a category's spelling):
/// numeric features, class probabilities and a regression model's predictions.
pub(super) fn integers_as_numbers(spec: &ModelSpec, name: &str) -> bool {
    spec.feature_index(name).is_some_and(|i| spec.features[i].kind == FeatureKind::Numeric)
        || spec.config.performance.as_ref().is_some_and(|p| {
            name.starts_with(PROBABILITIES) || (name == "prediction" && p.task == TaskKind::Regression)
        })
}

/// A decoded column's values as JSON values, so outputs are checked by the rules every other
/// body's are; missing (null, NaN) is `null`.
fn as_values(input: &ColumnInput) -> Vec<Value> {
    match input {
        ColumnInput::Json(v) => v.clone(),
        ColumnInput::Numbers(v) => {
            v.iter().map(|&x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)).collect()
        }
        ColumnInput::Text(v) => v.iter().map(|s| s.clone().map_or(Value::Null, Value::String)).collect(),
    }
}

/// The stream's columns as a batch and predictions. For a model with `[model.performance]`, `id`,
/// `prediction` and `probabilities.<class>` are its outputs, not features (`prediction` is both when
/// the model has a feature of that name: prediction drift is scored like a feature's).
pub(super) fn assemble(spec: &ModelSpec, columns: Vec<(String, ColumnInput)>) -> Result<Decoded, ApiError> {
    let outputs = spec.config.performance.is_some();
    let mut builder = BatchBuilder::new(spec);
    let (mut ids, mut predictions, mut probabilities, mut features) = (None, None, Vec::new(), 0);
    for (name, input) in columns {
        if outputs {
            if name == "id" {
                ids = Some(as_values(&input));
                continue;
            }
            if let Some(class) = name.strip_prefix(PROBABILITIES) {
                probabilities.push((class.to_owned(), as_values(&input)));
                continue;
            }
            if name == "prediction" {
                predictions = Some(as_values(&input));
                if spec.feature_index(&name).is_none() {
                    continue;
                }
            }
        }
        features += 1;
        builder.column(&name, &|| format!("columns.{name}"), input)?;
    }
    let batch = if features == 0 && predictions.is_some() { None } else { Some(builder.finish()?) };
    let probabilities = (!probabilities.is_empty()).then_some(UniqueMap(probabilities));
    let rows = batch.as_ref().map(|b| b.rows);
    let predictions = from_columns(spec, ids, predictions, probabilities, rows, &ARROW_NAMES)?;
    Ok(Decoded::Features { batch, predictions })
}

/// The framing is checked first ([`crate::arrow_guard`]); feature streams of flat columns are then
/// read directly ([`super::arrow_direct`]), the rest by polars. polars panics on some malformed
/// streams instead of returning an error (found by the `ingest_arrow` fuzz target: an unwrap in
/// `RecordBatch` → `DataFrame`), so its part runs under `catch_unwind`: a bad body is a 400, never a
/// dead request task. The direct reader does not (a panic there is a bug the fuzzer must see).
pub(crate) fn decode(spec: &ModelSpec, body: &[u8]) -> Result<Decoded, ApiError> {
    crate::arrow_guard::check_stream(body).map_err(invalid)?;
    if let Some(decoded) = super::arrow_direct::decode(spec, body) {
        return decoded;
    }
    catch_unwind(AssertUnwindSafe(|| with_polars(spec, body))).unwrap_or_else(|_| Err(invalid("unreadable".into())))
}

/// The polars path: every stream `arrow_guard` lets through, series tables included.
pub(super) fn with_polars(spec: &ModelSpec, body: &[u8]) -> Result<Decoded, ApiError> {
    let frame = IpcStreamReader::new(Cursor::new(body)).finish().map_err(|e| invalid(e.to_string()))?;
    let mut names: Vec<&str> = frame.get_column_names().into_iter().map(|n| n.as_str()).collect();
    names.sort_unstable();
    if names == ["series", "timestamp", "value"] {
        return series(&frame).map(Decoded::Series);
    }
    assemble(spec, features(spec, &frame)?)
}

fn series(frame: &DataFrame) -> Result<SeriesBatch, ApiError> {
    let col = |name: &str, to: &DataType| -> Result<Column, ApiError> {
        let c = frame.column(name).map_err(|e| invalid(e.to_string()))?;
        let ok = if to == &DataType::String {
            c.dtype() == &DataType::String
        } else {
            c.dtype().is_primitive_numeric() || c.dtype() == &DataType::Null
        };
        if !ok {
            return Err(ApiError::unprocessable(
                "invalid_type",
                Some(&format!("columns.{name}")),
                format!("unsupported column type {}", c.dtype()),
            ));
        }
        c.cast(to).map_err(|e| invalid(e.to_string()))
    };
    let names = col("series", &DataType::String)?;
    let ts = col("timestamp", &DataType::Float64)?;
    let vs = col("value", &DataType::Float64)?;
    let (names, ts, vs) = (
        names.str().map_err(|e| invalid(e.to_string()))?,
        ts.f64().map_err(|e| invalid(e.to_string()))?,
        vs.f64().map_err(|e| invalid(e.to_string()))?,
    );
    let mut rows = Vec::with_capacity(frame.height());
    for (i, ((n, t), v)) in names.iter().zip(ts.iter()).zip(vs.iter()).enumerate() {
        let n = n.ok_or_else(|| {
            ApiError::unprocessable("invalid_series", Some(&format!("rows[{i}].series")), "series name is null")
        })?;
        rows.push((n.to_owned(), t, v));
    }
    if rows.is_empty() {
        return Err(ApiError::unprocessable("empty_batch", Some("body"), "the stream has no rows"));
    }
    super::series::from_rows(rows.into_iter(), |i| format!("rows[{i}]"))
}

fn features(spec: &ModelSpec, frame: &DataFrame) -> Result<Vec<(String, ColumnInput)>, ApiError> {
    let mut columns = Vec::with_capacity(frame.width());
    for column in frame.columns() {
        let name = column.name().as_str();
        let dtype = column.dtype();
        let wants_numbers = integers_as_numbers(spec, name);
        let input = if dtype.is_float() || (wants_numbers && (dtype.is_primitive_numeric() || dtype == &DataType::Null))
        {
            let c = column.cast(&DataType::Float64).map_err(|e| invalid(e.to_string()))?;
            let c = c.f64().map_err(|e| invalid(e.to_string()))?;
            ColumnInput::Numbers(c.iter().map(|x| x.filter(|x| x.is_finite()).unwrap_or(f64::NAN)).collect())
        } else if dtype.is_primitive_numeric() || matches!(dtype, DataType::String | DataType::Boolean | DataType::Null)
        {
            let c = column.cast(&DataType::String).map_err(|e| invalid(e.to_string()))?;
            ColumnInput::Text(
                c.str().map_err(|e| invalid(e.to_string()))?.iter().map(|v| v.map(str::to_owned)).collect(),
            )
        } else {
            return Err(ApiError::unprocessable(
                "invalid_type",
                Some(&format!("columns.{name}")),
                format!("unsupported column type {dtype}"),
            ));
        };
        columns.push((name.to_owned(), input));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;
    use crate::ingest::{Format, decode as decode_body};

    fn spec() -> ModelSpec {
        let config = crate::config::Sources::embedded().validate().unwrap();
        crate::monitor::reference::load_model(config.models[0].clone()).unwrap().0
    }

    fn stream(mut frame: DataFrame) -> Vec<u8> {
        let mut out = Vec::new();
        IpcStreamWriter::new(std::io::Cursor::new(&mut out)).finish(&mut frame).unwrap();
        out
    }

    fn outputs(body: &[u8], format: Format) -> Result<(Option<usize>, String), String> {
        let d = decode_body(&spec(), format, body).map_err(|e| e.to_string())?;
        Ok((d.batch.map(|b| b.rows), format!("{:?}", d.predictions)))
    }

    /// What a pyarrow/polars client writes (integer ids, integer classes, one probability column)
    /// decodes to the predictions the same rows give as columnar JSON.
    #[test]
    fn arrow_output_columns_decode_as_the_same_json_columns_do() {
        let frame = df!(
            "age" => [31.0f64, 45.0, 29.0],
            "id" => [Some(7i64), None, Some(9)],
            "prediction" => [1i64, 0, 1],
            "probabilities.1" => [Some(0.9f64), Some(0.2), None],
        )
        .unwrap();
        let json = r#"{"model": "demo-churn", "features": {"age": [31, 45, 29]}, "ids": [7, null, 9],
            "predictions": [1, 0, 1], "probabilities": {"1": [0.9, 0.2, null]}}"#;
        let arrow = outputs(&stream(frame.clone()), Format::ArrowStream).unwrap();
        assert_eq!(arrow, outputs(json.as_bytes(), Format::Json).unwrap());
        assert!(arrow.1.contains(r#"ids: [Some("7"), None, Some("9")]"#), "{}", arrow.1);
        // Without feature columns: predictions only, as a JSON body without features.
        let only = frame.drop("age").unwrap();
        let (rows, predictions) = outputs(&stream(only), Format::ArrowStream).unwrap();
        assert_eq!((rows, predictions), (None, arrow.1));
    }

    #[test]
    fn bad_output_columns_are_named_as_the_streams_columns() {
        let cases = [
            (
                df!("age" => [1.0f64], "prediction" => [1i64], "probabilities.1" => [1.5f64]).unwrap(),
                "columns.probabilities[0].1",
            ),
            (df!("age" => [1.0f64], "prediction" => [1i64], "id" => [1.5f64]).unwrap(), "columns.id[0]"),
            (df!("age" => [1.0f64, 2.0], "prediction" => [Some(1i64), None]).unwrap(), "columns.prediction[1]"),
            (df!("age" => [1.0f64], "id" => [3i64]).unwrap(), "columns.id"),
        ];
        for (frame, field) in cases {
            let err = decode_body(&spec(), Format::ArrowStream, &stream(frame)).unwrap_err();
            assert_eq!(err.status(), 422, "{err}");
            assert!(format!("{err:?}").contains(&format!("{field:?}")), "{field}: {err:?}");
        }
    }
}
