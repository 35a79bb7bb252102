//! `application/vnd.apache.arrow.stream`: an Arrow IPC stream whose columns are features, read with
//! polars; model from `?model=`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use polars::prelude::*;

use super::series::SeriesBatch;
use crate::error::ApiError;
use crate::monitor::batch::{Batch, BatchBuilder, ColumnInput};
use crate::monitor::reference::ModelSpec;
use driftwatch_stats::drift::FeatureKind;

fn invalid(msg: String) -> ApiError {
    ApiError::bad_request("invalid_arrow", Some("body"), format!("invalid Arrow IPC stream: {msg}"))
}

/// What an Arrow stream holds: feature columns, or a long-form series table whose columns are
/// exactly `series` (string), `timestamp` (numeric seconds) and `value` (numeric).
pub(crate) enum Decoded {
    Features(Batch),
    Series(SeriesBatch),
}

/// The framing is checked first ([`crate::arrow_guard`]); feature streams of flat columns are then
/// read directly ([`super::arrow_direct`]), the rest by polars. polars panics on some malformed
/// streams instead of returning an error (found by the `ingest_arrow` fuzz target: an unwrap in
/// `RecordBatch` → `DataFrame`), so its part runs under `catch_unwind`: a bad body is a 400, never a
/// dead request task. The direct reader does not (a panic there is a bug the fuzzer must see).
pub(crate) fn decode(spec: &ModelSpec, body: &[u8]) -> Result<Decoded, ApiError> {
    crate::arrow_guard::check_stream(body).map_err(invalid)?;
    if let Some(batch) = super::arrow_direct::decode(spec, body) {
        return batch.map(Decoded::Features);
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
    features(spec, &frame).map(Decoded::Features)
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

fn features(spec: &ModelSpec, frame: &DataFrame) -> Result<Batch, ApiError> {
    let mut builder = BatchBuilder::new(spec);
    for column in frame.columns() {
        let name = column.name().as_str();
        let field = || format!("columns.{name}");
        let kind = spec.feature_index(name).map(|i| spec.features[i].kind);
        let dtype = column.dtype();
        let wants_numbers = kind == Some(FeatureKind::Numeric);
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
                Some(&field()),
                format!("unsupported column type {dtype}"),
            ));
        };
        builder.column(name, &field, input)?;
    }
    builder.finish()
}
