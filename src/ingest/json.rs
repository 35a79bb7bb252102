//! `application/json`: `{"model": "...", "features": {"age": [..], ...}}` (columnar) or
//! `{"model": "...", "rows": [{"age": .., ...}, ...]}`.

use serde::Deserialize;
use serde_json::Value;

use crate::json::{UniqueMap, parse_json};

use crate::error::ApiError;
use crate::monitor::batch::{Batch, BatchBuilder, ColumnInput};
use crate::monitor::reference::ModelSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonBody {
    pub(crate) model: Option<String>,
    pub(crate) features: Option<UniqueMap<Vec<Value>>>,
    pub(crate) rows: Option<Vec<UniqueMap<Value>>>,
    pub(crate) series: Option<UniqueMap<super::series::JsonSeries>>,
    /// The model's outputs per row (`[model.performance]`): see `ingest::predictions`.
    pub(crate) ids: Option<Vec<Value>>,
    pub(crate) predictions: Option<Vec<Value>>,
    pub(crate) probabilities: Option<UniqueMap<Vec<Value>>>,
}

/// Parses the envelope (errors name their path, trailing data is refused).
pub(crate) fn parse(body: &[u8]) -> Result<JsonBody, ApiError> {
    parse_json(body, "invalid JSON body")
}

pub(crate) fn to_batch(spec: &ModelSpec, body: JsonBody) -> Result<Batch, ApiError> {
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
                builder.column(&name, &|| format!("features.{name}"), ColumnInput::Json(values))?;
            }
            builder.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json's default float parser can be one ulp off; ingest needs `float_roundtrip` so the
    /// values scored are the values sent (found by the kill -9 test: a KS p-value one ulp away).
    #[test]
    fn json_numbers_parse_to_the_exact_double_that_was_printed() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = Vec::new();
        for i in 0..100_000u64 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // Decimals like the ones model servers send, and full-precision doubles.
            values.push(if i % 2 == 0 {
                (z % 100_000) as f64 / 10.0 + 15.0
            } else {
                (z >> 11) as f64 / (1u64 << 53) as f64 * 1e3
            });
        }
        let body = serde_json::to_vec(&serde_json::json!({"model": "m", "features": {"x": values}})).unwrap();
        let parsed = parse(&body).unwrap();
        let (_, column) = &parsed.features.unwrap().0[0];
        let wrong =
            column.iter().zip(&values).filter(|(v, want)| v.as_f64().unwrap().to_bits() != want.to_bits()).count();
        assert_eq!(wrong, 0);
    }
}
