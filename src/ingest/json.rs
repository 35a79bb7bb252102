//! `application/json`: `{"model": "...", "features": {"age": [..], ...}}` (columnar) or
//! `{"model": "...", "rows": [{"age": .., ...}, ...]}`.

use serde::Deserialize;
use serde_json::Value;

use super::UniqueMap;

use crate::batch::{Batch, BatchBuilder, ColumnInput};
use crate::error::ApiError;
use crate::reference::ModelSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonBody {
    pub model: Option<String>,
    pub features: Option<UniqueMap<Vec<Value>>>,
    pub rows: Option<Vec<UniqueMap<Value>>>,
}

/// Parses the envelope; serde_path_to_error makes type errors name their path (`features.age[3]`).
pub fn parse(body: &[u8]) -> Result<JsonBody, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { None } else { Some(path.as_str()) };
        let inner = e.into_inner();
        super::json_error(&inner, field, format!("invalid JSON body: {inner}"))
    })?;
    // Anything after the value (`{..} xyz`, a second object) makes the body ambiguous.
    de.end().map_err(|e| super::json_error(&e, None, format!("invalid JSON body: {e}")))?;
    Ok(parsed)
}

pub fn to_batch(spec: &ModelSpec, body: JsonBody) -> Result<Batch, ApiError> {
    match (body.features, body.rows) {
        (Some(_), Some(_)) => {
            Err(ApiError::bad_request("invalid_shape", Some("rows"), "send either features or rows, not both"))
        }
        (None, None) => {
            Err(ApiError::unprocessable("empty_batch", Some("features"), "the body has neither features nor rows"))
        }
        (None, Some(rows)) => super::rows_to_batch(spec, rows, "rows"),
        (Some(features), None) => {
            let mut builder = BatchBuilder::new(spec);
            for (name, values) in features.0 {
                builder.column(&name, &format!("features.{name}"), ColumnInput::Json(values))?;
            }
            builder.finish()
        }
    }
}
