//! Model-server payloads as they are: Open Inference Protocol (KServe v2) inference requests and
//! responses, KServe v1 `{"instances": [...]}` / `{"predictions": [...]}`, and the CloudEvents
//! KServe's inference logger sends (binary and structured mode). Requests give features, responses
//! give predictions; everything is checked before anything is applied, and every mismatch is a 4xx
//! naming its field (`inputs[0].data[3]`, `outputs[1].shape`, `ce-type`).
//!
//! The shapes followed, as documented upstream:
//! - OIP REST (kserve/open-inference-protocol `specification/protocol/inference_rest.md`, and
//!   kserve/kserve `docs/predict-api/v2/required_api.md`): `$inference_request = {"id"?,
//!   "parameters"?, "inputs": [$request_input], "outputs"?: [$request_output]}`, `$request_input =
//!   {"name", "shape", "datatype", "parameters"?, "data"}`, `$inference_response = {"model_name",
//!   "model_version"?, "id", "parameters"?, "outputs": [$response_output]}`. Tensor data is in
//!   row-major order, "in their natural multi-dimensional representation, or as a flattened
//!   one-dimensional representation"; the data types are BOOL, UINT8..UINT64, INT8..INT64, FP16,
//!   FP32, FP64 and BYTES ("the server can decide to coerce each element to the required type or
//!   return an error": this one returns an error).
//! - KServe's logger (kserve/kserve `pkg/logger/worker.go`, `handler.go`; the logger sample's
//!   event_display output in `docs/samples/logger/basic/README.md`): CloudEvents 1.0 in binary
//!   mode, `type` `org.kubeflow.serving.inference.request` / `.response`, `id` the caller's
//!   `Ce-Id` header or a fresh UUID (one id for a request and its response), extensions
//!   `inferenceservicename`, `namespace`, `component`, `endpoint`, the data the request's or
//!   response's body with the request's Content-Type.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::Decoded;
use crate::config::{OipConfig, TaskKind};
use crate::error::ApiError;
use crate::json::{UniqueMap, parse_json};
use crate::monitor::batch::{BatchBuilder, ColumnInput};
use crate::monitor::reference::ModelSpec;
use driftwatch_stats::drift::FeatureKind;

/// The CloudEvent `type` of a logged inference request (KServe `pkg/logger/worker.go`).
pub(crate) const CE_REQUEST: &str = "org.kubeflow.serving.inference.request";
/// The CloudEvent `type` of a logged inference response.
pub(crate) const CE_RESPONSE: &str = "org.kubeflow.serving.inference.response";

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_tensor", Some(field), message)
}

/// A tensor as the body gives it; every key is checked when it is used, so that a missing one is
/// named (`inputs[2].datatype`). Other keys (`parameters`) are ignored.
#[derive(Debug, Deserialize)]
struct RawTensor {
    name: Option<String>,
    shape: Option<Vec<u64>>,
    datatype: Option<String>,
    data: Option<Value>,
}

/// Any of the payloads: a v2 request (`inputs`), a v2 response (`outputs` without `inputs`), a v1
/// request (`instances`), a v1 response (`predictions`), or `{"request": .., "response": ..}`.
/// Keys of none of these (`parameters`, `model_name`, `model_version`) are ignored.
#[derive(Debug, Default, Deserialize)]
struct Payload {
    id: Option<Value>,
    inputs: Option<Vec<RawTensor>>,
    outputs: Option<Vec<RawTensor>>,
    instances: Option<Vec<Instance>>,
    predictions: Option<Vec<Value>>,
    request: Option<Box<Payload>>,
    response: Option<Box<Payload>>,
}

/// A v1 instance: a row in feature order, an object keyed by feature (a key repeated in it is an
/// error, as everywhere), or one value for a model of one column.
#[derive(Debug)]
enum Instance {
    Array(Vec<Value>),
    Object(UniqueMap<Value>),
    Scalar(Value),
}

impl<'de> Deserialize<'de> for Instance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Instance;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an instance: an array, an object or a value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Instance, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Instance::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Instance, A::Error> {
                UniqueMap::deserialize(de::value::MapAccessDeserializer::new(map)).map(Instance::Object)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Instance, E> {
                Ok(Instance::Scalar(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Instance, E> {
                Ok(Instance::Scalar(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Instance, E> {
                Ok(Instance::Scalar(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Instance, E> {
                Ok(Instance::Scalar(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Instance, E> {
                Ok(Instance::Scalar(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Instance, E> {
                Ok(Instance::Scalar(Value::String(v)))
            }
            fn visit_unit<E>(self) -> Result<Instance, E> {
                Ok(Instance::Scalar(Value::Null))
            }
        }
        deserializer.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Tensors

/// The OIP tensor data types (`Tensor Data Types` in the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Datatype {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    F32,
    F64,
    Bytes,
}

const DATATYPES: [(&str, Datatype); 13] = [
    ("BOOL", Datatype::Bool),
    ("UINT8", Datatype::U8),
    ("UINT16", Datatype::U16),
    ("UINT32", Datatype::U32),
    ("UINT64", Datatype::U64),
    ("INT8", Datatype::I8),
    ("INT16", Datatype::I16),
    ("INT32", Datatype::I32),
    ("INT64", Datatype::I64),
    ("FP16", Datatype::F16),
    ("FP32", Datatype::F32),
    ("FP64", Datatype::F64),
    ("BYTES", Datatype::Bytes),
];

impl Datatype {
    fn parse(s: &str) -> Option<Datatype> {
        DATATYPES.iter().find(|(n, _)| *n == s).map(|(_, d)| *d)
    }

    fn name(self) -> &'static str {
        DATATYPES.iter().find(|(_, d)| *d == self).map(|(n, _)| *n).unwrap_or_default()
    }

    fn is_integer(self) -> bool {
        use Datatype::*;
        matches!(self, U8 | U16 | U32 | U64 | I8 | I16 | I32 | I64)
    }

    fn is_float(self) -> bool {
        matches!(self, Datatype::F16 | Datatype::F32 | Datatype::F64)
    }

    fn is_numeric(self) -> bool {
        self.is_integer() || self.is_float()
    }

    /// Whether `v` is a value of this type as JSON carries it: booleans, integers in range,
    /// numbers in range (FP16 at most 65504 in magnitude, FP32 at most f32::MAX), strings.
    fn holds(self, v: &Value) -> bool {
        use Datatype::*;
        let int = |lo: i64, hi: i64| v.as_i64().is_some_and(|x| (lo..=hi).contains(&x));
        let float = |max: f64| v.as_f64().is_some_and(|x| x.abs() <= max);
        match self {
            Bool => v.is_boolean(),
            U8 => int(0, u8::MAX.into()),
            U16 => int(0, u16::MAX.into()),
            U32 => int(0, u32::MAX.into()),
            U64 => v.is_u64(),
            I8 => int(i8::MIN.into(), i8::MAX.into()),
            I16 => int(i16::MIN.into(), i16::MAX.into()),
            I32 => int(i32::MIN.into(), i32::MAX.into()),
            I64 => v.is_i64(),
            F16 => float(65504.0),
            F32 => float(f32::MAX.into()),
            F64 => v.is_number(),
            Bytes => v.is_string(),
        }
    }

    fn expected(self) -> String {
        use Datatype::*;
        let range = |lo: i128, hi: i128| format!("an integer in [{lo}, {hi}]");
        let what = match self {
            Bool => "a boolean".to_owned(),
            U8 => range(0, u8::MAX.into()),
            U16 => range(0, u16::MAX.into()),
            U32 => range(0, u32::MAX.into()),
            U64 => range(0, u64::MAX.into()),
            I8 => range(i8::MIN.into(), i8::MAX.into()),
            I16 => range(i16::MIN.into(), i16::MAX.into()),
            I32 => range(i32::MIN.into(), i32::MAX.into()),
            I64 => range(i64::MIN.into(), i64::MAX.into()),
            F16 => "a number of magnitude at most 65504".to_owned(),
            F32 => format!("a number of magnitude at most {:e}", f32::MAX),
            F64 => "a number".to_owned(),
            Bytes => "a string".to_owned(),
        };
        format!("{what} ({})", self.name())
    }
}

/// A checked tensor: `rows × cols` values of `datatype`, `data` as the body gave it (flat or
/// nested, row-major either way).
struct Tensor {
    /// How errors name it: `inputs[0]`, `response.outputs[1]`.
    field: String,
    name: Option<String>,
    datatype: Datatype,
    shape: Vec<u64>,
    rows: usize,
    cols: usize,
    nested: bool,
    data: Value,
}

impl Tensor {
    fn check(raw: RawTensor, field: String) -> Result<Tensor, ApiError> {
        let at = |key: &str| format!("{field}.{key}");
        let datatype = raw.datatype.as_deref().ok_or_else(|| invalid(&at("datatype"), "missing"))?;
        let datatype = Datatype::parse(datatype).ok_or_else(|| {
            let known: Vec<&str> = DATATYPES.iter().map(|(n, _)| *n).collect();
            invalid(&at("datatype"), format!("unknown datatype {datatype:?}: one of {}", known.join(", ")))
        })?;
        let shape = raw.shape.ok_or_else(|| invalid(&at("shape"), "missing"))?;
        if shape.is_empty() || shape.len() > 2 {
            return Err(invalid(
                &at("shape"),
                format!("driftwatch reads tensors of shape [N] or [N, d] (a row per sample), got {shape:?}"),
            ));
        }
        let (rows, cols) = (shape[0], shape.get(1).copied().unwrap_or(1));
        let too_large = || invalid(&at("shape"), format!("{shape:?} holds more values than this body can"));
        let count = rows.checked_mul(cols).ok_or_else(too_large)?;
        let (rows, cols, count) = match (usize::try_from(rows), usize::try_from(cols), usize::try_from(count)) {
            (Ok(r), Ok(c), Ok(n)) => (r, c, n),
            _ => return Err(too_large()),
        };
        let data = raw.data.ok_or_else(|| {
            invalid(&at("data"), "missing: tensor data is a JSON array in \"data\" (binary tensor data is not read)")
        })?;
        let Value::Array(items) = &data else {
            return Err(invalid(&at("data"), format!("expected an array of {count} values, got {data}")));
        };
        let nested = shape.len() == 2 && items.iter().any(Value::is_array);
        if nested {
            check_nested(items, &[rows, cols], datatype, &mut Vec::new(), &at("data"), &shape)?;
        } else {
            if items.len() != count {
                return Err(invalid(
                    &at("data"),
                    format!("has {} values; a tensor of shape {shape:?} holds {count}", items.len()),
                ));
            }
            if let Some((j, v)) = items.iter().enumerate().find(|(_, v)| !datatype.holds(v)) {
                return Err(invalid(
                    &format!("{field}.data[{j}]"),
                    format!("expected {}, got {}", datatype.expected(), short(v)),
                ));
            }
        }
        Ok(Tensor { field, name: raw.name, datatype, shape, rows, cols, nested, data })
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.field)
    }

    /// The values in row-major order, moved out.
    fn for_each(self, mut f: impl FnMut(Value)) {
        fn walk(v: Value, f: &mut impl FnMut(Value)) {
            match v {
                Value::Array(items) => items.into_iter().for_each(|v| walk(v, f)),
                v => f(v),
            }
        }
        walk(self.data, &mut f);
    }

    /// The `cols` columns, each `rows` long.
    fn columns(self) -> Vec<Vec<Value>> {
        let (rows, cols) = (self.rows, self.cols);
        let mut out: Vec<Vec<Value>> = (0..cols).map(|_| Vec::with_capacity(rows)).collect();
        let mut k = 0;
        self.for_each(|v| {
            out[k % cols].push(v);
            k += 1;
        });
        out
    }
}

/// A value in an error message: long strings and arrays cut short.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

fn check_nested(
    items: &[Value],
    dims: &[usize],
    datatype: Datatype,
    at: &mut Vec<usize>,
    field: &str,
    shape: &[u64],
) -> Result<(), ApiError> {
    let path = |at: &[usize]| format!("{field}{}", at.iter().map(|i| format!("[{i}]")).collect::<String>());
    if items.len() != dims[0] {
        return Err(invalid(
            &path(at),
            format!("has {} values; a tensor of shape {shape:?} has {} here", items.len(), dims[0]),
        ));
    }
    for (i, v) in items.iter().enumerate() {
        at.push(i);
        match (dims.len() > 1, v) {
            (true, Value::Array(inner)) => check_nested(inner, &dims[1..], datatype, at, field, shape)?,
            (true, other) => {
                return Err(invalid(
                    &path(at),
                    format!("expected an array of {} values, got {}", dims[1], short(other)),
                ));
            }
            (false, v) if !datatype.holds(v) => {
                return Err(invalid(&path(at), format!("expected {}, got {}", datatype.expected(), short(v))));
            }
            _ => {}
        }
        at.pop();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Requests: features

/// The features a row of an `[N, d]` tensor (or a v1 instance array) holds, in order.
fn column_order<'a>(spec: &'a ModelSpec, cfg: &'a OipConfig) -> Vec<&'a str> {
    if !cfg.columns.is_empty() {
        return cfg.columns.iter().map(String::as_str).collect();
    }
    let skip_prediction = spec.config.performance.is_some();
    spec.features.iter().map(|f| f.name.as_str()).filter(|n| !(skip_prediction && *n == "prediction")).collect()
}

/// A request's features, not yet finished (a `prediction` column may still join them), with its
/// row count and the features it gave.
struct Features<'a> {
    builder: BatchBuilder<'a>,
    rows: usize,
    given: Vec<String>,
}

fn request_features<'a>(
    spec: &'a ModelSpec,
    cfg: &OipConfig,
    p: Payload,
    prefix: &str,
) -> Result<Features<'a>, ApiError> {
    match (p.inputs, p.instances) {
        (Some(inputs), _) => v2_features(spec, cfg, inputs, prefix),
        (None, Some(instances)) => v1_features(spec, cfg, instances, prefix),
        (None, None) => unreachable!("classified as a request"),
    }
}

fn v2_features<'a>(
    spec: &'a ModelSpec,
    cfg: &OipConfig,
    inputs: Vec<RawTensor>,
    prefix: &str,
) -> Result<Features<'a>, ApiError> {
    if inputs.is_empty() {
        return Err(invalid(&format!("{prefix}inputs"), "is empty"));
    }
    let order = column_order(spec, cfg);
    let mut tensors = Vec::with_capacity(inputs.len());
    for (i, raw) in inputs.into_iter().enumerate() {
        tensors.push(Tensor::check(raw, format!("{prefix}inputs[{i}]"))?);
    }
    let rows = tensors[0].rows;
    if rows == 0 {
        return Err(invalid(&tensors[0].at("shape"), "has no rows"));
    }
    // Which features each tensor feeds, and whether its datatype can feed them, before any is read.
    let mut plan = Vec::with_capacity(tensors.len());
    for t in &tensors {
        if t.rows != rows {
            return Err(invalid(&t.at("shape"), format!("has {} rows but {} has {rows}", t.rows, tensors[0].field)));
        }
        let named = t.name.as_deref().filter(|n| spec.feature_index(n).is_some());
        let features: Vec<String> = match (named, t.cols) {
            (Some(n), 1) => vec![n.to_owned()],
            (_, d) if d == order.len() => order.iter().map(|s| (*s).to_owned()).collect(),
            (_, 1) => {
                let what = match &t.name {
                    Some(name) => format!("{name:?} is not a feature of model {:?}", spec.config.name),
                    None => "missing".to_owned(),
                };
                return Err(ApiError::unprocessable(
                    "unknown_feature",
                    Some(&t.at("name")),
                    format!(
                        "{what}: name a [N] tensor after its feature, or send an [N, {}] tensor of the features \
                         {order:?}",
                        order.len()
                    ),
                ));
            }
            (_, d) => {
                return Err(invalid(
                    &t.at("shape"),
                    format!(
                        "has {d} columns, but the model's features{} are {}: {order:?}",
                        if cfg.columns.is_empty() { "" } else { " ([model.oip] columns)" },
                        order.len()
                    ),
                ));
            }
        };
        for name in &features {
            let Some(i) = spec.feature_index(name) else {
                return Err(ApiError::unprocessable(
                    "unknown_feature",
                    Some(&t.field),
                    format!(
                        "[model.oip] columns names {name:?}, which is not a feature of model {:?}",
                        spec.config.name
                    ),
                ));
            };
            let kind = spec.features[i].kind;
            let fits = match kind {
                FeatureKind::Numeric => t.datatype.is_numeric(),
                FeatureKind::Categorical => !t.datatype.is_float(),
            };
            if !fits {
                let hint = match kind {
                    FeatureKind::Numeric => "a numeric feature takes an integer or FP datatype",
                    FeatureKind::Categorical => "a categorical feature takes BYTES, BOOL or an integer datatype",
                };
                return Err(invalid(
                    &t.at("datatype"),
                    format!("{} values cannot feed feature {name:?}: {hint}", t.datatype.name()),
                ));
            }
        }
        plan.push(features);
    }
    let mut builder = BatchBuilder::new(spec);
    let mut given = Vec::new();
    for (t, features) in tensors.into_iter().zip(plan) {
        let field = t.field.clone();
        let kinds: Vec<FeatureKind> =
            features.iter().map(|n| spec.features[spec.feature_index(n).expect("checked")].kind).collect();
        let mut sinks: Vec<ColumnInput> = kinds
            .iter()
            .map(|k| match k {
                FeatureKind::Numeric => ColumnInput::Numbers(Vec::with_capacity(rows)),
                FeatureKind::Categorical => ColumnInput::Text(Vec::with_capacity(rows)),
            })
            .collect();
        let cols = t.cols;
        let mut k = 0;
        t.for_each(|v| {
            match &mut sinks[k % cols] {
                // As the JSON path reads them: a number is its double; a category is its text.
                ColumnInput::Numbers(out) => out.push(v.as_f64().filter(|x| x.is_finite()).unwrap_or(f64::NAN)),
                ColumnInput::Text(out) => out.push(match v {
                    Value::String(s) => Some(s),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
                ColumnInput::Json(_) => unreachable!("not built here"),
            }
            k += 1;
        });
        for (name, input) in features.into_iter().zip(sinks) {
            builder.column(&name, &|| field.clone(), input)?;
            given.push(name);
        }
    }
    Ok(Features { builder, rows, given })
}

fn v1_features<'a>(
    spec: &'a ModelSpec,
    cfg: &OipConfig,
    instances: Vec<Instance>,
    prefix: &str,
) -> Result<Features<'a>, ApiError> {
    let field = format!("{prefix}instances");
    let n = instances.len();
    if n == 0 {
        return Err(invalid(&field, "is empty"));
    }
    let order = column_order(spec, cfg);
    let mut columns: Vec<Option<Vec<Value>>> = vec![None; spec.features.len()];
    let mut put = |name: &str, r: usize, v: Value, at: &dyn Fn() -> String| -> Result<(), ApiError> {
        let Some(i) = spec.feature_index(name) else {
            return Err(ApiError::unprocessable(
                "unknown_feature",
                Some(&at()),
                format!("feature {name:?} is not configured for model {:?}", spec.config.name),
            ));
        };
        columns[i].get_or_insert_with(|| vec![Value::Null; n])[r] = v;
        Ok(())
    };
    for (r, instance) in instances.into_iter().enumerate() {
        match instance {
            Instance::Array(values) => {
                if values.len() != order.len() {
                    return Err(invalid(
                        &format!("{field}[{r}]"),
                        format!("has {} values, but a row holds the features {order:?}", values.len()),
                    ));
                }
                for (j, v) in values.into_iter().enumerate() {
                    put(order[j], r, v, &|| format!("{field}[{r}][{j}]"))?;
                }
            }
            Instance::Object(map) => {
                for (key, v) in map.0 {
                    put(&key, r, v, &|| format!("{field}[{r}].{key}"))?;
                }
            }
            Instance::Scalar(v) if order.len() == 1 => put(order[0], r, v, &|| format!("{field}[{r}]"))?,
            Instance::Scalar(v) => {
                return Err(invalid(
                    &format!("{field}[{r}]"),
                    format!("a single value {}, but a row holds the features {order:?}", short(&v)),
                ));
            }
        }
    }
    let mut builder = BatchBuilder::new(spec);
    let mut given = Vec::new();
    for (column, feature) in columns.into_iter().zip(&spec.features) {
        if let Some(values) = column {
            builder.column(&feature.name, &|| format!("{field}[].{}", feature.name), ColumnInput::Json(values))?;
            given.push(feature.name.clone());
        }
    }
    if given.is_empty() {
        return Err(ApiError::unprocessable("empty_batch", Some(&field), "the instances have no feature values"));
    }
    Ok(Features { builder, rows: n, given })
}

// ---------------------------------------------------------------------------------------------
// Responses: predictions

/// A response's outputs in the columnar form `predictions::from_columns` reads, and how to name
/// what it finds wrong in the body's terms.
struct Outputs {
    predictions: Vec<Value>,
    /// `(class, column)` in the config's class order.
    probabilities: Option<Vec<(String, Vec<Value>)>>,
    /// The body's name for prediction `i`; for probability `(i, class column)`; for the outputs.
    prediction_at: Box<dyn Fn(usize) -> String>,
    probability_at: Box<dyn Fn(usize, usize) -> String>,
    field: String,
}

/// A classifier's class labels, one per probability column (binary: negative, positive).
fn class_columns(spec: &ModelSpec, cfg: &OipConfig) -> Vec<String> {
    let perf = spec.config.performance.as_ref().expect("checked [model.performance]");
    match perf.task {
        TaskKind::Binary => {
            let positive = perf.positive_class.clone().unwrap_or_default();
            vec![cfg.negative_label(&positive), positive]
        }
        TaskKind::Multiclass => perf.classes.clone(),
        TaskKind::Regression => Vec::new(),
    }
}

/// Each row's class of highest probability (the first of equal ones, as numpy's argmax).
fn argmax(classes: &[String], probabilities: &[(String, Vec<Value>)], rows: usize) -> Vec<Value> {
    (0..rows)
        .map(|r| {
            let mut best = (f64::NEG_INFINITY, 0);
            for (j, (_, column)) in probabilities.iter().enumerate() {
                let p = column[r].as_f64().unwrap_or(f64::NAN);
                if p > best.0 {
                    best = (p, j);
                }
            }
            // Binary with only the positive class's probability: positive above one half.
            if probabilities.len() == 1 {
                let p = probabilities[0].1[r].as_f64().unwrap_or(f64::NAN);
                return Value::String(classes[usize::from(p > 0.5)].clone());
            }
            Value::String(probabilities[best.1].0.clone())
        })
        .collect()
}

fn v2_outputs(spec: &ModelSpec, cfg: &OipConfig, outputs: Vec<RawTensor>, prefix: &str) -> Result<Outputs, ApiError> {
    let field = format!("{prefix}outputs");
    if outputs.is_empty() {
        return Err(invalid(&field, "is empty"));
    }
    let task = spec.config.performance.as_ref().expect("checked").task;
    let find = |name: &str, key: &str| {
        outputs.iter().position(|t| t.name.as_deref() == Some(name)).ok_or_else(|| {
            let names: Vec<&str> = outputs.iter().filter_map(|t| t.name.as_deref()).collect();
            invalid(&field, format!("no output is named {name:?} ([model.oip] {key}); the outputs are {names:?}"))
        })
    };
    let configured = cfg.prediction_output.is_some() || cfg.probabilities_output.is_some();
    let (mut label_at, mut proba_at) = (None, None);
    if configured {
        label_at = cfg.prediction_output.as_deref().map(|n| find(n, "prediction_output")).transpose()?;
        proba_at = cfg.probabilities_output.as_deref().map(|n| find(n, "probabilities_output")).transpose()?;
    }
    let mut tensors: Vec<Option<Tensor>> = Vec::with_capacity(outputs.len());
    for (i, raw) in outputs.into_iter().enumerate() {
        // Only the outputs used are checked: a model may return others (explanations, embeddings).
        let used = if configured { label_at == Some(i) || proba_at == Some(i) } else { i == 0 };
        tensors.push(if used { Some(Tensor::check(raw, format!("{field}[{i}]"))?) } else { None });
    }
    if !configured {
        let first = tensors[0].as_ref().expect("checked");
        if first.cols > 1 && task != TaskKind::Regression {
            proba_at = Some(0);
        } else {
            label_at = Some(0);
        }
    }
    let classes = class_columns(spec, cfg);
    let label = label_at.map(|i| tensors[i].take().expect("checked"));
    let proba = proba_at.map(|i| tensors[i].take().expect("checked"));
    let rows = label.as_ref().or(proba.as_ref()).map(|t| t.rows).expect("one of them");
    for t in label.iter().chain(&proba) {
        if t.rows == 0 {
            return Err(invalid(&t.at("shape"), "has no rows"));
        }
        if t.rows != rows {
            return Err(invalid(&t.at("shape"), format!("has {} rows but the prediction has {rows}", t.rows)));
        }
    }
    if let Some(t) = &label {
        if t.cols != 1 {
            let what = if task == TaskKind::Regression { "a regression model's prediction" } else { "a prediction" };
            return Err(invalid(&t.at("shape"), format!("{what} is [N] or [N, 1], got {:?}", t.shape)));
        }
    }
    if let Some(t) = &proba {
        let k = classes.len();
        let fits = match task {
            TaskKind::Regression => {
                return Err(invalid(&t.field, "a regression model has no class probabilities"));
            }
            TaskKind::Binary => t.cols == 2 || (t.cols == 1 && cfg.probabilities_output.is_some()),
            TaskKind::Multiclass => t.cols == k,
        };
        if !fits {
            let want = match task {
                TaskKind::Binary => "[N, 2] (negative, positive) or, named by probabilities_output, [N]".to_owned(),
                _ => format!("[N, {k}] (the classes {classes:?})"),
            };
            return Err(invalid(&t.at("shape"), format!("class probabilities are {want}, got {:?}", t.shape)));
        }
        if !t.datatype.is_numeric() {
            return Err(invalid(&t.at("datatype"), format!("probabilities are numbers, got {}", t.datatype.name())));
        }
    }
    let label_names = label.as_ref().map(|t| (t.field.clone(), t.nested, t.cols));
    let proba_names = proba.as_ref().map(|t| (t.field.clone(), t.nested, t.cols));
    let probabilities = proba.map(|t| {
        let single = t.cols == 1;
        let columns = t.columns();
        let names: Vec<String> = if single { vec![classes[1].clone()] } else { classes.clone() };
        names.into_iter().zip(columns).collect::<Vec<_>>()
    });
    let predictions = match label {
        Some(t) => {
            let mut v = Vec::with_capacity(rows);
            t.for_each(|x| v.push(x));
            v
        }
        None => argmax(&classes, probabilities.as_ref().expect("one of them"), rows),
    };
    let element = |(field, nested, cols): (String, bool, usize)| {
        move |row: usize, col: usize| {
            if nested { format!("{field}.data[{row}][{col}]") } else { format!("{field}.data[{}]", row * cols + col) }
        }
    };
    let prediction_at: Box<dyn Fn(usize) -> String> = match (label_names, proba_names.clone()) {
        (Some(l), _) => {
            let e = element(l);
            Box::new(move |i| e(i, 0))
        }
        // An argmax: the row of probabilities it came from.
        (None, Some((field, nested, _))) => {
            Box::new(move |i| if nested { format!("{field}.data[{i}]") } else { format!("{field}.data") })
        }
        (None, None) => unreachable!("one of them"),
    };
    let probability_at: Box<dyn Fn(usize, usize) -> String> = match proba_names {
        Some(p) => Box::new(element(p)),
        None => Box::new(|_, _| String::new()),
    };
    Ok(Outputs { predictions, probabilities, prediction_at, probability_at, field })
}

fn v1_outputs(spec: &ModelSpec, cfg: &OipConfig, predictions: Vec<Value>, prefix: &str) -> Result<Outputs, ApiError> {
    let field = format!("{prefix}predictions");
    let n = predictions.len();
    if n == 0 {
        return Err(invalid(&field, "is empty"));
    }
    let task = spec.config.performance.as_ref().expect("checked").task;
    let classes = class_columns(spec, cfg);
    let width = |v: &Value| v.as_array().map(Vec::len);
    let rows_of_probabilities = task != TaskKind::Regression && width(&predictions[0]).is_some_and(|k| k > 1);
    let at = |i: usize| format!("{field}[{i}]");
    if rows_of_probabilities {
        let k = classes.len();
        let mut columns: Vec<Vec<Value>> = (0..k).map(|_| Vec::with_capacity(n)).collect();
        for (i, row) in predictions.into_iter().enumerate() {
            let Value::Array(values) = row else {
                return Err(invalid(&at(i), format!("expected a row of {k} class probabilities, like predictions[0]")));
            };
            if values.len() != k {
                return Err(invalid(
                    &at(i),
                    format!("has {} values; class probabilities are {k}: {classes:?}", values.len()),
                ));
            }
            for (j, v) in values.into_iter().enumerate() {
                if !v.is_number() {
                    return Err(invalid(
                        &format!("{field}[{i}][{j}]"),
                        format!("expected a number, got {}", short(&v)),
                    ));
                }
                columns[j].push(v);
            }
        }
        let probabilities: Vec<(String, Vec<Value>)> = classes.iter().cloned().zip(columns).collect();
        let labels = argmax(&classes, &probabilities, n);
        let f = field.clone();
        return Ok(Outputs {
            predictions: labels,
            probabilities: Some(probabilities),
            prediction_at: Box::new(move |i| format!("{f}[{i}]")),
            probability_at: Box::new({
                let f = field.clone();
                move |i, j| format!("{f}[{i}][{j}]")
            }),
            field,
        });
    }
    let mut labels = Vec::with_capacity(n);
    for (i, v) in predictions.into_iter().enumerate() {
        labels.push(match v {
            Value::Array(mut one) if one.len() == 1 => one.pop().expect("one"),
            Value::Array(_) | Value::Object(_) => {
                return Err(invalid(
                    &at(i),
                    format!("expected one prediction (a label or a value), got {}", short(&v)),
                ));
            }
            v => v,
        });
    }
    let f = field.clone();
    Ok(Outputs {
        predictions: labels,
        probabilities: None,
        prediction_at: Box::new(move |i| format!("{f}[{i}]")),
        probability_at: Box::new(|_, _| String::new()),
        field,
    })
}

/// [`super::predictions::from_columns`] on the outputs, its errors renamed to the body's fields.
fn predictions_of(
    spec: &ModelSpec,
    out: Outputs,
    ids: Option<Vec<Value>>,
    rows: usize,
) -> Result<crate::monitor::performance::Predictions, ApiError> {
    let Outputs { predictions, probabilities, prediction_at, probability_at, field } = out;
    let classes: Vec<String> = probabilities.iter().flatten().map(|(c, _)| c.clone()).collect();
    let map = probabilities.map(UniqueMap);
    let result = super::predictions::from_columns(
        spec,
        ids,
        Some(predictions),
        map,
        Some(rows),
        &super::predictions::JSON_NAMES,
    );
    result.map(|p| p.expect("predictions were given")).map_err(|e| match e {
        ApiError::Invalid { status, reason, field: Some(f), message } => {
            let (index, class) = parse_field(&f);
            let column = class.and_then(|c| classes.iter().position(|k| k == c));
            let renamed = match (f.starts_with("predictions"), f.starts_with("probabilities"), index, column) {
                (true, _, Some(i), _) => prediction_at(i),
                (_, true, Some(i), Some(j)) => probability_at(i, j),
                _ => field.clone(),
            };
            ApiError::Invalid { status, reason, field: Some(renamed), message }
        }
        other => other,
    })
}

/// `predictions[3]` → (3, None); `probabilities[2].yes` → (2, "yes"); `probabilities.yes[2]` → (2,
/// "yes"); `predictions` → (None, None).
fn parse_field(f: &str) -> (Option<usize>, Option<&str>) {
    let rest = f.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let index = |s: &str| s.split_once('[').and_then(|(_, r)| r.split_once(']')).and_then(|(i, _)| i.parse().ok());
    match rest.strip_prefix('.') {
        Some(class_then_index) => {
            let class = class_then_index.rsplit_once('[').map_or(class_then_index, |(c, _)| c);
            (index(class_then_index), Some(class))
        }
        None => (index(rest), rest.split_once("].").map(|(_, c)| c)),
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Any,
    Request,
    Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
}

/// Whether `p` is a request or a response (v1 or v2), or neither: an error naming what is wrong.
fn kind(p: &Payload, prefix: &str) -> Result<Kind, ApiError> {
    let at = |key: &str| format!("{prefix}{key}");
    let request = [("inputs", p.inputs.is_some()), ("instances", p.instances.is_some())];
    let response = [("outputs", p.outputs.is_some() && p.inputs.is_none()), ("predictions", p.predictions.is_some())];
    let given: Vec<&str> = request.iter().chain(&response).filter(|(_, s)| *s).map(|(k, _)| *k).collect();
    match given.as_slice() {
        [one] if matches!(*one, "inputs" | "instances") => Ok(Kind::Request),
        [_] => Ok(Kind::Response),
        [] => Err(invalid(
            &at("inputs"),
            "missing: an inference request has \"inputs\" (Open Inference Protocol) or \"instances\" (KServe v1), \
             a response \"outputs\" or \"predictions\"",
        )),
        [_, second, ..] => Err(invalid(
            &at(second),
            format!(
                "a payload is one request or one response, got {given:?}; send both as {{\"request\": {{..}}, \
                 \"response\": {{..}}}}"
            ),
        )),
    }
}

/// An id as the body or the event gives it: a string, or an integer written as one; `null` or
/// `""` (what a server sends for a request that had none) is no id.
fn id_text(v: Value, field: &str) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        other => Err(invalid(field, format!("an id is a non-empty string or an integer, got {}", short(&other)))),
    }
}

/// Row `r` of `n`: the id itself for one row, `<id>:<row>` for more.
fn row_ids(id: &str, n: usize) -> Vec<Value> {
    if n == 1 {
        vec![Value::String(id.to_owned())]
    } else {
        (0..n).map(|r| Value::String(format!("{id}:{r}"))).collect()
    }
}

fn decode_payload(
    spec: &ModelSpec,
    mut p: Payload,
    prefix: &str,
    expect: Expect,
    event_id: Option<String>,
) -> Result<Decoded, ApiError> {
    let default = OipConfig::default();
    let cfg = spec.config.oip.as_ref().unwrap_or(&default);
    let (request, response) = if p.request.is_some() || p.response.is_some() {
        let key = if p.request.is_some() { "request" } else { "response" };
        if expect != Expect::Any {
            return Err(invalid(&format!("{prefix}{key}"), "an event carries one payload, a request or a response"));
        }
        if p.inputs.is_some() || p.outputs.is_some() || p.instances.is_some() || p.predictions.is_some() {
            return Err(invalid(
                &format!("{prefix}{key}"),
                "a body is {\"request\": .., \"response\": ..} or one payload, not both",
            ));
        }
        let part = |b: Option<Box<Payload>>, key: &str, want: Kind| -> Result<_, ApiError> {
            let Some(b) = b else { return Ok(None) };
            let inner = format!("{prefix}{key}.");
            if b.request.is_some() || b.response.is_some() {
                return Err(invalid(&format!("{inner}request"), "request and response do not nest"));
            }
            if kind(&b, &inner)? != want {
                let is = if want == Kind::Request { "a response" } else { "a request" };
                return Err(invalid(&format!("{prefix}{key}"), format!("holds {is}")));
            }
            Ok(Some((*b, inner)))
        };
        let (rq, rs) = (p.request.take(), p.response.take());
        (part(rq, "request", Kind::Request)?, part(rs, "response", Kind::Response)?)
    } else {
        let k = kind(&p, prefix)?;
        match (expect, k) {
            (Expect::Request, Kind::Response) | (Expect::Response, Kind::Request) => {
                let (is, key) = if k == Kind::Request {
                    ("a request", if p.inputs.is_some() { "inputs" } else { "instances" })
                } else {
                    ("a response", if p.outputs.is_some() { "outputs" } else { "predictions" })
                };
                let says = if expect == Expect::Request { CE_REQUEST } else { CE_RESPONSE };
                return Err(invalid(
                    &format!("{prefix}{key}"),
                    format!("the event's type is {says}, but this is {is}"),
                ));
            }
            _ => {}
        }
        let prefix = prefix.to_owned();
        if k == Kind::Request { (Some((p, prefix)), None) } else { (None, Some((p, prefix))) }
    };

    // The model's outputs need [model.performance]; refused before anything is read.
    if let Some((r, pre)) = &response {
        if spec.config.performance.is_none() {
            let key = if r.outputs.is_some() { "outputs" } else { "predictions" };
            return Err(ApiError::unprocessable(
                "invalid_prediction",
                Some(&format!("{pre}{key}")),
                format!(
                    "model {:?} has no [model.performance]: it takes no predictions (send requests only; KServe's \
                     logger: mode: request)",
                    spec.config.name
                ),
            ));
        }
    }
    let mut body_id = None;
    let mut features = None;
    if let Some((mut r, pre)) = request {
        // The request's id only matters for the response beside it.
        if response.is_some() {
            body_id = r.id.take().map(|v| id_text(v, &format!("{pre}id"))).transpose()?.flatten();
        }
        features = Some(request_features(spec, cfg, r, &pre)?);
    }
    let mut predictions = None;
    if let Some((mut r, pre)) = response {
        let id = match event_id {
            Some(id) => Some(id),
            None => r.id.take().map(|v| id_text(v, &format!("{pre}id"))).transpose()?.flatten().or(body_id),
        };
        let out = match (r.outputs.take(), r.predictions.take()) {
            (Some(o), _) => v2_outputs(spec, cfg, o, &pre)?,
            (None, Some(p)) => v1_outputs(spec, cfg, p, &pre)?,
            (None, None) => unreachable!("classified as a response"),
        };
        let rows = out.predictions.len();
        if let Some(f) = &features {
            if f.rows != rows {
                return Err(invalid(&out.field, format!("has {rows} predictions but the request has {} rows", f.rows)));
            }
        }
        let values = features.as_ref().map(|_| out.predictions.clone());
        let field = out.field.clone();
        let p = predictions_of(spec, out, id.map(|id| row_ids(&id, rows)), rows)?;
        // Prediction drift is scored like a feature's when the model has a `prediction` feature.
        if let (Some(f), Some(values)) = (features.as_mut(), values) {
            if spec.feature_index("prediction").is_some() && !f.given.iter().any(|g| g == "prediction") {
                f.builder.column("prediction", &|| field.clone(), ColumnInput::Json(values))?;
            }
        }
        predictions = Some(p);
    }
    let batch = features.map(|f| f.builder.finish()).transpose()?;
    Ok(Decoded { batch, series: None, predictions })
}

/// `POST /ingest/oip/{model}`: an OIP or KServe v1 request, response, or `{"request", "response"}`.
pub(crate) fn decode(spec: &ModelSpec, body: &[u8]) -> Result<Decoded, ApiError> {
    let payload: Payload = parse_json(body, "invalid JSON body")?;
    decode_payload(spec, payload, "", Expect::Any, None)
}

// ---------------------------------------------------------------------------------------------
// CloudEvents (KServe's inference logger)

/// The `ce-*` headers of a binary-mode CloudEvent that driftwatch reads (others are ignored).
#[derive(Debug, Default)]
pub(crate) struct BinaryHeaders {
    pub(crate) ty: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) inferenceservicename: Option<String>,
}

/// A CloudEvent read but not yet decoded for its model.
pub(crate) struct CloudEvent {
    kind: Kind,
    id: String,
    /// The model it names (`inferenceservicename`), and how errors name that attribute.
    pub(crate) model: Option<String>,
    pub(crate) model_field: &'static str,
    payload: Payload,
    prefix: &'static str,
}

fn event_kind(ty: Option<&str>, field: &str) -> Result<Kind, ApiError> {
    match ty {
        None => Err(ApiError::bad_request(
            "invalid_cloudevent",
            Some(field),
            format!(
                "missing: a KServe logger event has {field} {CE_REQUEST} or {CE_RESPONSE} (structured mode: \
                 Content-Type application/cloudevents+json)"
            ),
        )),
        Some(CE_REQUEST) => Ok(Kind::Request),
        Some(CE_RESPONSE) => Ok(Kind::Response),
        Some(other) => Err(ApiError::unprocessable(
            "invalid_cloudevent",
            Some(field),
            format!("unknown event type {other:?}: driftwatch takes {CE_REQUEST} and {CE_RESPONSE}"),
        )),
    }
}

fn event_id(id: Option<String>, field: &str) -> Result<String, ApiError> {
    id.filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_cloudevent", Some(field), "missing: a CloudEvent has an id"))
}

/// Binary mode: the event's attributes in `ce-*` headers, its data the body (the model server's
/// request or response JSON, whatever Content-Type the caller gave it).
pub(crate) fn binary_event(headers: BinaryHeaders, body: &[u8]) -> Result<CloudEvent, ApiError> {
    let kind = event_kind(headers.ty.as_deref(), "ce-type")?;
    let id = event_id(headers.id, "ce-id")?;
    let payload: Payload = parse_json(body, "invalid JSON body")?;
    Ok(CloudEvent {
        kind,
        id,
        model: headers.inferenceservicename,
        model_field: "ce-inferenceservicename",
        payload,
        prefix: "",
    })
}

/// A structured-mode event (`application/cloudevents+json`): attributes and extensions as
/// top-level keys, the payload in `data` (JSON) or `data_base64`.
#[derive(Debug, Deserialize)]
struct Structured {
    id: Option<Value>,
    #[serde(rename = "type")]
    ty: Option<String>,
    inferenceservicename: Option<String>,
    data: Option<Payload>,
    data_base64: Option<String>,
}

/// Structured mode: `{"specversion", "id", "type", "source", "inferenceservicename"?, "data" |
/// "data_base64"}`; attributes driftwatch does not read are ignored.
pub(crate) fn structured_event(body: &[u8]) -> Result<CloudEvent, ApiError> {
    let e: Structured = parse_json(body, "invalid CloudEvent")?;
    let kind = event_kind(e.ty.as_deref(), "type")?;
    let id = match e.id {
        Some(v) => id_text(v, "id")?,
        None => None,
    };
    let id = event_id(id, "id")?;
    let (payload, prefix) = match (e.data, e.data_base64) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_cloudevent",
                Some("data_base64"),
                "send data or data_base64, not both",
            ));
        }
        (Some(p), None) => (p, "data."),
        (None, Some(b64)) => {
            let bytes = base64_decode(&b64).ok_or_else(|| {
                ApiError::bad_request("invalid_cloudevent", Some("data_base64"), "is not valid base64 (RFC 4648)")
            })?;
            let payload = parse_json(&bytes, "invalid JSON in data_base64").map_err(|e| prefixed(e, "data_base64."))?;
            (payload, "data_base64.")
        }
        (None, None) => {
            return Err(ApiError::bad_request("invalid_cloudevent", Some("data"), "missing: the event's payload"));
        }
    };
    Ok(CloudEvent { kind, id, model: e.inferenceservicename, model_field: "inferenceservicename", payload, prefix })
}

fn prefixed(e: ApiError, prefix: &str) -> ApiError {
    match e {
        ApiError::Invalid { status, reason, field, message } => ApiError::Invalid {
            status,
            reason,
            field: Some(field.map_or_else(|| prefix.trim_end_matches('.').to_owned(), |f| format!("{prefix}{f}"))),
            message,
        },
        other => other,
    }
}

/// The event's payload for `spec`: a request's features, or a response's predictions with the
/// event id (`<id>` for one row, `<id>:<row>` for more) so that labels can join them later.
pub(crate) fn decode_event(spec: &ModelSpec, event: CloudEvent) -> Result<Decoded, ApiError> {
    let expect = if event.kind == Kind::Request { Expect::Request } else { Expect::Response };
    decode_payload(spec, event.payload, event.prefix, expect, Some(event.id))
}

/// Standard base64 (RFC 4648 §4), padding optional; `None` if anything else is in it.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone trailing character cannot end a base64 text.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_rfc_4648_vectors_and_refuses_the_rest() {
        for (text, want) in
            [("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob"), ("Zm9vYmE", "fooba")]
        {
            assert_eq!(base64_decode(text).as_deref(), Some(want.as_bytes()), "{text}");
        }
        for bad in ["Z", "Zm9v!", "Zm 9v", "Zm9vY"] {
            assert!(base64_decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn error_fields_of_the_columnar_form_are_parsed() {
        assert_eq!(parse_field("predictions[3]"), (Some(3), None));
        assert_eq!(parse_field("predictions"), (None, None));
        assert_eq!(parse_field("probabilities[2].yes"), (Some(2), Some("yes")));
        assert_eq!(parse_field("probabilities.yes[2]"), (Some(2), Some("yes")));
        assert_eq!(parse_field("probabilities[4]"), (Some(4), None));
    }

    #[test]
    fn datatypes_hold_exactly_their_values() {
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(Datatype::U8.holds(&v("255")) && !Datatype::U8.holds(&v("256")) && !Datatype::U8.holds(&v("-1")));
        assert!(Datatype::I8.holds(&v("-128")) && !Datatype::I8.holds(&v("128")) && !Datatype::I8.holds(&v("1.0")));
        assert!(Datatype::U64.holds(&v("18446744073709551615")) && !Datatype::I64.holds(&v("18446744073709551615")));
        assert!(Datatype::F16.holds(&v("65504")) && !Datatype::F16.holds(&v("65505")) && Datatype::F16.holds(&v("1")));
        assert!(
            Datatype::F32.holds(&v("3.4e38")) && !Datatype::F32.holds(&v("3.5e38")) && Datatype::F64.holds(&v("1e300"))
        );
        assert!(Datatype::Bool.holds(&v("true")) && !Datatype::Bool.holds(&v("1")));
        assert!(
            Datatype::Bytes.holds(&v("\"a\"")) && !Datatype::Bytes.holds(&v("1")) && !Datatype::F64.holds(&v("null"))
        );
    }
}
