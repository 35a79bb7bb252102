//! `application/vnd.apache.arrow.stream`: an Arrow IPC stream whose columns are features, read with
//! polars; model from `?model=`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use polars::prelude::*;

use crate::batch::{Batch, BatchBuilder, ColumnInput};
use crate::drift::FeatureKind;
use crate::error::ApiError;
use crate::reference::ModelSpec;

fn invalid(msg: String) -> ApiError {
    ApiError::bad_request("invalid_arrow", Some("body"), format!("invalid Arrow IPC stream: {msg}"))
}

/// polars panics on some malformed streams instead of returning an error (found by the
/// `ingest_arrow` fuzz target: an unwrap in `RecordBatch` → `DataFrame`), so the whole decode runs
/// under `catch_unwind`: a bad body is a 400, never a dead request task.
pub fn to_batch(spec: &ModelSpec, body: &[u8]) -> Result<Batch, ApiError> {
    catch_unwind(AssertUnwindSafe(|| decode(spec, body))).unwrap_or_else(|_| Err(invalid("unreadable".into())))
}

fn decode(spec: &ModelSpec, body: &[u8]) -> Result<Batch, ApiError> {
    super::arrow_guard::check_stream(body).map_err(invalid)?;
    let frame = IpcStreamReader::new(Cursor::new(body)).finish().map_err(|e| invalid(e.to_string()))?;
    let mut builder = BatchBuilder::new(spec);
    for column in frame.columns() {
        let name = column.name().as_str();
        let field = format!("columns.{name}");
        let kind = spec.feature_index(name).map(|i| spec.features[i].kind);
        let dtype = column.dtype();
        let wants_numbers = kind == Some(FeatureKind::Numeric);
        let input = if dtype.is_float() || (wants_numbers && (dtype.is_primitive_numeric() || dtype == &DataType::Null))
        {
            let c = column.cast(&DataType::Float64).map_err(|e| invalid(e.to_string()))?;
            ColumnInput::Float(c.f64().map_err(|e| invalid(e.to_string()))?.iter().collect())
        } else if dtype.is_primitive_numeric() || matches!(dtype, DataType::String | DataType::Boolean | DataType::Null)
        {
            let c = column.cast(&DataType::String).map_err(|e| invalid(e.to_string()))?;
            ColumnInput::Text(
                c.str().map_err(|e| invalid(e.to_string()))?.iter().map(|v| v.map(str::to_owned)).collect(),
            )
        } else {
            return Err(ApiError::unprocessable(
                "invalid_type",
                Some(&field),
                format!("unsupported column type {dtype}"),
            ));
        };
        builder.column(name, &field, input)?;
    }
    builder.finish()
}
