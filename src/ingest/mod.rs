//! Decoders from request bodies to [`Batch`]es: JSON (columnar `features` or `rows`), NDJSON (one row
//! object per line) and Arrow IPC streams. Each validates fully and fails with an [`ApiError`] naming
//! the offending field; none touches model state.

pub mod arrow;
mod arrow_guard;
pub mod json;
pub mod ndjson;
pub mod series;

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

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

/// Decodes a body for `spec`: everything `/ingest` does before it touches state. The fuzz targets
/// (`tests/fuzz`) drive this.
pub fn decode(spec: &ModelSpec, format: Format, body: &[u8]) -> Result<Decoded, ApiError> {
    match format {
        Format::Json => decode_json(spec, json::parse(body)?),
        Format::Ndjson => ndjson::decode(spec, body).map(|(batch, series)| Decoded { batch, series }),
        Format::ArrowStream => Ok(match arrow::decode(spec, body)? {
            arrow::Decoded::Features(b) => Decoded { batch: Some(b), series: None },
            arrow::Decoded::Series(s) => Decoded { batch: None, series: Some(s) },
        }),
    }
}

/// A decoded `/ingest` body: feature samples, series points, or both; never neither.
#[derive(Debug)]
pub struct Decoded {
    pub batch: Option<Batch>,
    pub series: Option<series::SeriesBatch>,
}

/// The JSON envelope after its `model` was read: series (if any) and features (if any, or if there
/// are no series, so that an empty body still says what is missing).
pub fn decode_json(spec: &ModelSpec, mut body: json::JsonBody) -> Result<Decoded, ApiError> {
    let series = body.series.take().map(series::from_json).transpose()?;
    let batch = if series.is_some() && body.features.is_none() && body.rows.is_none() {
        None
    } else {
        Some(json::to_batch(spec, body)?)
    };
    Ok(Decoded { batch, series })
}

fn unsupported(what: &str) -> ApiError {
    ApiError::Invalid {
        status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        reason: "unsupported_media_type",
        field: Some("Content-Type".into()),
        message: format!("{what}: use application/json, application/x-ndjson or application/vnd.apache.arrow.stream"),
    }
}

/// Keys one object may have: more than any model's features, few enough that a hostile body of a
/// million keys is refused while parsing instead of being built up in memory first.
pub const MAX_OBJECT_KEYS: usize = 10_000;

/// A JSON object kept in order that rejects a repeated key instead of silently keeping the last one
/// (`{"x": [1], "x": [2]}` is ambiguous data, not a batch), and one of more than [`MAX_OBJECT_KEYS`].
#[derive(Debug)]
pub struct UniqueMap<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UniqueVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueVisitor<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = HashSet::new();
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    if entries.len() == MAX_OBJECT_KEYS {
                        return Err(de::Error::custom(format!("object has more than {MAX_OBJECT_KEYS} keys")));
                    }
                    entries.push((key, map.next_value()?));
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_map(UniqueVisitor(PhantomData))
    }
}

/// The 400 for a JSON syntax or shape error; duplicate keys get their own reason.
pub(crate) fn json_error(e: &serde_json::Error, field: Option<&str>, message: String) -> ApiError {
    let reason = if e.to_string().starts_with("duplicate key") {
        "duplicate_key"
    } else if e.is_data() {
        "invalid_type"
    } else {
        "invalid_json"
    };
    ApiError::bad_request(reason, field, message)
}

/// Parses a whole JSON document into `T`: type errors name their path (`features.age[3]`, via
/// serde_path_to_error), and anything after the value (`{..} xyz`, a second object) is an error, as
/// it makes the body ambiguous. `what` starts the message ("invalid JSON body").
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { None } else { Some(path.as_str()) };
        let inner = e.into_inner();
        json_error(&inner, field, format!("{what}: {inner}"))
    })?;
    de.end().map_err(|e| json_error(&e, None, format!("{what}: {e}")))?;
    Ok(parsed)
}

/// Transposes row objects into columns; keys absent from a row are missing values.
pub(crate) fn rows_to_batch(spec: &ModelSpec, rows: Vec<UniqueMap<Value>>, row_field: &str) -> Result<Batch, ApiError> {
    let n = rows.len();
    let mut columns: Vec<Option<Vec<Value>>> = vec![None; spec.features.len()];
    for (r, row) in rows.into_iter().enumerate() {
        for (key, value) in row.0 {
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
