//! Decoders from request bodies to [`Batch`]es: JSON (columnar `features` or `rows`), NDJSON (one row
//! object per line) and Arrow IPC streams; model-server payloads (Open Inference Protocol / KServe v1
//! requests and responses, KServe logger CloudEvents) in [`oip`]. Each validates fully and fails with an [`ApiError`] naming
//! the offending field; none touches model state.

pub(crate) mod arrow;
mod arrow_direct;
pub(crate) mod json;
pub(crate) mod json_columns;
pub(crate) mod ndjson;
pub(crate) mod oip;
pub(crate) mod predictions;
pub(crate) mod series;

use serde_json::Value;

use crate::error::ApiError;
use crate::json::UniqueMap;
use crate::monitor::batch::{Batch, BatchBuilder, ColumnInput};
use crate::monitor::reference::ModelSpec;

/// The body formats `/ingest` understands, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    ArrowStream,
}

impl Format {
    pub(crate) fn from_content_type(ct: Option<&str>) -> Result<Format, ApiError> {
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

impl Format {
    /// At most how many bytes decoding a body of this format holds per byte of body, the body
    /// itself included: what `/ingest` reserves against `server.max_decode_bytes`. Measured (peak
    /// heap, allocator chunks counted) on the worst shapes by `tests/it/decode_memory.rs`.
    pub fn decode_factor(self) -> usize {
        use crate::config::server::{ARROW_DECODE_FACTOR, TEXT_DECODE_FACTOR};
        match self {
            Format::Json | Format::Ndjson => TEXT_DECODE_FACTOR,
            Format::ArrowStream => ARROW_DECODE_FACTOR,
        }
    }
}

impl Format {
    /// What `/ingest` reserves for decoding the whole of `body`: [`Format::decode_factor`] per
    /// byte, plus for Arrow a fixed cost per declared cell ([`crate::arrow_guard`] counts them from
    /// the metadata; a stream it refuses is refused before anything is decoded).
    pub fn decode_reservation(self, body: &[u8]) -> usize {
        let cells = match self {
            Format::ArrowStream => crate::arrow_guard::check_stream(body).unwrap_or(0),
            Format::Json | Format::Ndjson => 0,
        };
        let per_cell = crate::config::server::ARROW_CELL_BYTES;
        body.len().saturating_mul(self.decode_factor()).saturating_add((cells as usize).saturating_mul(per_cell))
    }
}

/// Decodes a body for `spec`: everything `/ingest` does before it touches state. The fuzz targets
/// (`tests/fuzz`) drive this.
pub fn decode(spec: &ModelSpec, format: Format, body: &[u8]) -> Result<Decoded, ApiError> {
    match format {
        Format::Json => decode_json_for(body, None, |_| Ok(spec), |s| s).map(|(_, decoded)| decoded),
        _ => decode_general(spec, format, body),
    }
}

/// A JSON body for the model it names (else `query_model`), found by `resolve`: the columnar shape
/// in one pass ([`json_columns`]), anything else — or a column of a kind its feature does not
/// take — by the general parser, whose answer the fast path always equals.
pub(crate) fn decode_json_for<M>(
    body: &[u8],
    query_model: Option<String>,
    resolve: impl Fn(Option<String>) -> Result<M, ApiError>,
    spec: impl for<'a> Fn(&'a M) -> &'a ModelSpec,
) -> Result<(M, Decoded), ApiError> {
    if let Some(columns) = json_columns::parse(body) {
        let model = resolve(columns.model.clone().or_else(|| query_model.clone()))?;
        if let Some(batch) = columns.into_batch(spec(&model)) {
            return Ok((model, Decoded { batch: Some(batch?), series: None, predictions: None }));
        }
    }
    let mut parsed = json::parse(body)?;
    let model = resolve(parsed.model.take().or(query_model))?;
    let decoded = decode_json(spec(&model), parsed)?;
    Ok((model, decoded))
}

/// [`decode`] without the columnar JSON fast path ([`json_columns`]): what the fuzz target holds
/// it to.
pub fn decode_general(spec: &ModelSpec, format: Format, body: &[u8]) -> Result<Decoded, ApiError> {
    match format {
        Format::Json => decode_json(spec, json::parse(body)?),
        Format::Ndjson => {
            ndjson::decode(spec, body).map(|(batch, series, predictions)| Decoded { batch, series, predictions })
        }
        Format::ArrowStream => Ok(match arrow::decode(spec, body)? {
            arrow::Decoded::Features { batch, predictions } => Decoded { batch, series: None, predictions },
            arrow::Decoded::Series(s) => Decoded { batch: None, series: Some(s), predictions: None },
        }),
    }
}

/// What a model server's body is: what `/ingest/oip/{model}` takes, or a KServe logger event at
/// `/ingest/kserve` (structured mode, or binary mode with these `ce-type` and `ce-id` headers).
#[derive(Debug, Clone, Copy)]
pub enum ModelServerBody<'a> {
    Oip,
    StructuredEvent,
    BinaryEvent { ce_type: &'a str, ce_id: &'a str },
}

/// Decodes a model server's body for `spec` as those routes do before they touch state (the
/// `model_server` fuzz target drives this).
pub fn decode_model_server(spec: &ModelSpec, kind: ModelServerBody<'_>, body: &[u8]) -> Result<Decoded, ApiError> {
    let event = match kind {
        ModelServerBody::Oip => return oip::decode(spec, body),
        ModelServerBody::StructuredEvent => oip::structured_event(body)?,
        ModelServerBody::BinaryEvent { ce_type, ce_id } => oip::binary_event(
            oip::BinaryHeaders { ty: Some(ce_type.to_owned()), id: Some(ce_id.to_owned()), inferenceservicename: None },
            body,
        )?,
    };
    oip::decode_event(spec, event)
}

/// A decoded `/ingest` body: feature samples, series points, predictions, or several; never none.
#[derive(Debug)]
pub struct Decoded {
    pub(crate) batch: Option<Batch>,
    pub(crate) series: Option<series::SeriesBatch>,
    pub(crate) predictions: Option<crate::monitor::performance::Predictions>,
}

/// The JSON envelope after its `model` was read: series (if any) and features (if any, or if there
/// are no series, so that an empty body still says what is missing).
pub(crate) fn decode_json(spec: &ModelSpec, mut body: json::JsonBody) -> Result<Decoded, ApiError> {
    let series = body.series.take().map(series::from_json).transpose()?;
    let (ids, outputs, probabilities) = (body.ids.take(), body.predictions.take(), body.probabilities.take());
    let row_outputs = body.rows.as_mut().and_then(|rows| predictions::RowOutputs::take(spec, rows));
    // Prediction drift is scored like a feature's when the model has a `prediction` feature.
    if let (Some(p), Some(features)) = (&outputs, body.features.as_mut()) {
        if spec.feature_index("prediction").is_some() && !features.0.iter().any(|(k, _)| k == "prediction") {
            features.0.push(("prediction".to_owned(), p.clone()));
        }
    }
    let rows_empty = body.rows.as_ref().is_some_and(|r| r.iter().all(|row| row.0.is_empty()));
    let no_features = (body.features.is_none() && body.rows.is_none()) || (row_outputs.is_some() && rows_empty);
    let batch = if (series.is_some() || outputs.is_some() || row_outputs.is_some()) && no_features {
        None
    } else {
        Some(json::to_batch(spec, body)?)
    };
    let predictions = match row_outputs {
        Some(r) => Some(r.decode(spec, "rows")?),
        None => predictions::from_columns(
            spec,
            ids,
            outputs,
            probabilities,
            batch.as_ref().map(|b| b.rows),
            &predictions::JSON_NAMES,
        )?,
    };
    Ok(Decoded { batch, series, predictions })
}

fn unsupported(what: &str) -> ApiError {
    ApiError::Invalid {
        status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        reason: "unsupported_media_type",
        field: Some("Content-Type".into()),
        message: format!("{what}: use application/json, application/x-ndjson or application/vnd.apache.arrow.stream"),
    }
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
            builder.column(&feature.name, &|| format!("{row_field}[].{}", feature.name), ColumnInput::Json(values))?;
        }
    }
    if !any {
        return Err(ApiError::unprocessable("empty_batch", Some(row_field), "the batch has no feature values"));
    }
    builder.finish()
}
