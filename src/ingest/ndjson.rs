//! `application/x-ndjson`: one row object per line (blank lines ignored), model from `?model=`.

use serde_json::Value;

use super::UniqueMap;

use crate::batch::Batch;
use crate::error::ApiError;
use crate::reference::ModelSpec;

pub fn to_batch(spec: &ModelSpec, body: &[u8]) -> Result<Batch, ApiError> {
    let mut rows = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row: UniqueMap<Value> = serde_json::from_slice(line)
            .map_err(|e| super::json_error(&e, Some(&format!("line[{}]", i + 1)), format!("line {}: {e}", i + 1)))?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ApiError::unprocessable("empty_batch", Some("body"), "the body has no rows"));
    }
    super::rows_to_batch(spec, rows, "rows")
}
