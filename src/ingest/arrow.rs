//! `application/vnd.apache.arrow.stream`: an Arrow IPC stream whose columns are features, read with
//! polars; model from `?model=`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use polars::prelude::*;

use crate::batch::{Batch, BatchBuilder, ColumnInput};
use crate::drift::FeatureKind;
use crate::error::ApiError;
use crate::reference::ModelSpec;

pub fn to_batch(spec: &ModelSpec, body: &[u8]) -> Result<Batch, ApiError> {
    let invalid =
        |msg: String| ApiError::bad_request("invalid_arrow", Some("body"), format!("invalid Arrow IPC stream: {msg}"));
    // A malformed stream must not take the request task down with it, whatever the reader does.
    let frame = catch_unwind(AssertUnwindSafe(|| IpcStreamReader::new(Cursor::new(body)).finish()))
        .map_err(|_| invalid("unreadable".into()))?
        .map_err(|e| invalid(e.to_string()))?;
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
