//! Decoders from request bodies to [`Batch`]es: JSON (columnar `features` or `rows`), NDJSON (one row
//! object per line) and Arrow IPC streams. Each validates fully and fails with an [`ApiError`] naming
//! the offending field; none touches model state.

pub mod arrow;
pub mod json;
pub mod ndjson;

use serde_json::{Map, Value};

use crate::batch::{Batch, BatchBuilder, ColumnInput};
use crate::error::ApiError;
use crate::reference::ModelSpec;

/// The body formats `/ingest` understands, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    ArrowStream,
}

impl Format {
    pub fn from_content_type(ct: Option<&str>) -> Result<Format, ApiError> {
        let Some(ct) = ct else {
            return Err(unsupported("no Content-Type header"));
        };
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Ok(Format::Json),
            "application/x-ndjson" | "application/ndjson" | "application/jsonlines" => Ok(Format::Ndjson),
            "application/vnd.apache.arrow.stream" => Ok(Format::ArrowStream),
            _ => Err(unsupported(&format!("unsupported Content-Type {ct:?}"))),
        }
    }
}

fn unsupported(what: &str) -> ApiError {
    ApiError::Invalid {
        status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        reason: "unsupported_media_type",
        field: Some("Content-Type".into()),
        message: format!(
            "{what}: use application/json, application/x-ndjson or application/vnd.apache.arrow.stream"
        ),
    }
}

/// Transposes row objects into columns; keys absent from a row are missing values.
pub(crate) fn rows_to_batch(spec: &ModelSpec, rows: Vec<Map<String, Value>>, row_field: &str) -> Result<Batch, ApiError> {
    let n = rows.len();
    let mut columns: Vec<Option<Vec<Value>>> = vec![None; spec.features.len()];
    for (r, row) in rows.into_iter().enumerate() {
        for (key, value) in row {
            let Some(i) = spec.feature_index(&key) else {
                return Err(ApiError::unprocessable(
                    "unknown_feature",
                    Some(&format!("{row_field}[{r}].{key}")),
                    format!("feature {key:?} is not configured for model {:?}", spec.config.name),
                ));
            };
            columns[i].get_or_insert_with(|| vec![Value::Null; n])[r] = value;
        }
    }
    let mut builder = BatchBuilder::new(spec);
    let mut any = false;
    for (column, feature) in columns.into_iter().zip(&spec.features) {
        if let Some(values) = column {
            any = true;
            builder.column(&feature.name, &format!("{row_field}[].{}", feature.name), ColumnInput::Json(values))?;
        }
    }
    if !any {
        return Err(ApiError::unprocessable("empty_batch", Some(row_field), "the batch has no feature values"));
    }
    builder.finish()
}
