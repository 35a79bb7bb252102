//! `application/x-ndjson`: one object per line (blank lines ignored), model from `?model=`. A line
//! is a feature row, or — when it has a string `series` key — a series point
//! `{"series": "latency_p95", "timestamp": 1732500000, "value": 0.12}`.

use serde_json::Value;

use super::series::SeriesBatch;
use crate::json::{UniqueMap, json_error};

use crate::error::ApiError;
use crate::monitor::batch::Batch;
use crate::monitor::performance::Predictions;
use crate::monitor::reference::ModelSpec;

/// Feature rows and series points of one body; at least one of them is present.
/// Feature rows, series points and the rows' predictions (their `id`, `prediction`, `probabilities`
/// keys, for a model with `[model.performance]`).
pub(crate) type Lines = (Option<Batch>, Option<SeriesBatch>, Option<Predictions>);

pub(crate) fn decode(spec: &ModelSpec, body: &[u8]) -> Result<Lines, ApiError> {
    let mut rows = Vec::new();
    let mut points = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let at = format!("line[{}]", i + 1);
        let row: UniqueMap<Value> =
            serde_json::from_slice(line).map_err(|e| json_error(&e, Some(&at), format!("line {}: {e}", i + 1)))?;
        if let Some(Value::String(_)) = row.0.iter().find(|(k, _)| k == "series").map(|(_, v)| v) {
            points.push((i + 1, series_point(row, &at)?));
        } else {
            rows.push(row);
        }
    }
    if rows.is_empty() && points.is_empty() {
        return Err(ApiError::unprocessable("empty_batch", Some("body"), "the body has no rows"));
    }
    let lines: Vec<usize> = points.iter().map(|(l, _)| *l).collect();
    let series = if points.is_empty() {
        None
    } else {
        Some(super::series::from_rows(points.into_iter().map(|(_, p)| p), |k| format!("line[{}]", lines[k]))?)
    };
    let outputs = super::predictions::RowOutputs::take(spec, &mut rows);
    let features = rows.iter().any(|r| !r.0.is_empty());
    let batch = if rows.is_empty() || (outputs.is_some() && !features) {
        None
    } else {
        Some(super::rows_to_batch(spec, rows, "rows")?)
    };
    let predictions = outputs.map(|o| o.decode(spec, "rows")).transpose()?;
    Ok((batch, series, predictions))
}

fn series_point(row: UniqueMap<Value>, at: &str) -> Result<(String, Option<f64>, Option<f64>), ApiError> {
    let (mut name, mut t, mut v) = (None, None, None);
    for (k, value) in row.0 {
        let field = format!("{at}.{k}");
        match (k.as_str(), value) {
            ("series", Value::String(s)) => name = Some(s),
            ("timestamp", Value::Number(n)) => t = n.as_f64(),
            ("value", Value::Number(n)) => v = n.as_f64(),
            ("value", Value::Null) => {}
            ("timestamp" | "value", other) => {
                return Err(ApiError::bad_request(
                    "invalid_type",
                    Some(&field),
                    format!("expected a number, got {other}"),
                ));
            }
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_series",
                    Some(&field),
                    "a series line has only series, timestamp and value",
                ));
            }
        }
    }
    if t.is_none() {
        return Err(ApiError::unprocessable(
            "invalid_series",
            Some(&format!("{at}.timestamp")),
            "a series line needs a timestamp",
        ));
    }
    Ok((name.expect("matched on a string series key"), t, v))
}
