//! Loading a model's reference (CSV, Parquet or Arrow IPC via polars, or the first N ingested samples)
//! and resolving the model's features: their kind (declared, or inferred from the column type) and
//! methods (declared, or the defaults for the kind).

use std::collections::HashMap;
use std::io::Cursor;

use polars::prelude::*;

use driftwatch_stats::drift::{CategoricalReference, FeatureKind, Method, NumericReference};

use super::performance::integral_class;
use crate::config::{ModelConfig, ReferenceSource};
use crate::digest::key_from;

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference {source_name}: {message}")]
    Read { source_name: String, message: String },
    #[error("model {model:?}: {message}")]
    Model { model: String, message: String },
}

/// A feature with nothing to fit a reference from.
#[derive(Debug, thiserror::Error)]
#[error("feature {0:?} has no non-missing reference values")]
pub struct EmptyFeature(pub String);

/// A reference column whose type does not fit the feature's kind.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ColumnMismatch(String);

/// One feature of a model, fully resolved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Feature {
    pub name: String,
    pub kind: FeatureKind,
    pub methods: Vec<Method>,
}

/// A model's configuration together with its resolved features.
#[derive(Debug)]
pub struct ModelSpec {
    pub config: ModelConfig,
    pub features: Vec<Feature>,
    index: HashMap<String, usize>,
}

impl ModelSpec {
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// A fitted reference, one entry per feature in [`ModelSpec::features`] order.
#[derive(Debug)]
pub struct Reference {
    pub features: Vec<FeatureReference>,
    pub samples: usize,
    /// The multivariate methods' reference side, when the model configures them.
    pub multivariate: Option<super::multivariate::MultivariateReference>,
    /// CBPE fitted on the reference's labelled predictions (`[model.performance] estimate`).
    pub cbpe: Option<driftwatch_stats::performance::cbpe::CbpeReference>,
}

#[derive(Debug)]
pub enum FeatureReference {
    Numeric(NumericReference),
    Categorical(CategoricalReference),
}

/// Raw values of one column: numbers with NaN for missing, or optional strings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Values {
    Numeric(Vec<f64>),
    Categorical(Vec<Option<String>>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Numeric(v) => v.len(),
            Values::Categorical(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) fn read_frame(source: &ReferenceSource) -> Result<DataFrame, ReferenceError> {
    read_columns(source, None)
}

/// Reads `columns` only (all when `None`): Parquet and Arrow read just those columns; CSV is parsed
/// whole but only those are kept. `driftwatch report` reads a file one column at a time with it, so
/// a file larger than memory still fits a column at a time.
///
/// A malformed file is an error naming it, never a panic or an abort: Arrow framing is checked
/// before polars trusts its sizes, and a panic inside a reader is caught.
pub(crate) fn read_columns(source: &ReferenceSource, columns: Option<&[String]>) -> Result<DataFrame, ReferenceError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_columns_inner(source, columns))).unwrap_or_else(
        |_| {
            Err(ReferenceError::Read {
                source_name: source.to_string(),
                message: "the file is malformed (the reader failed)".into(),
            })
        },
    )
}

fn read_columns_inner(source: &ReferenceSource, columns: Option<&[String]>) -> Result<DataFrame, ReferenceError> {
    let err = |e: PolarsError| ReferenceError::Read { source_name: source.to_string(), message: e.to_string() };
    let names = columns.map(<[String]>::to_vec);
    let csv = || {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .with_columns(names.as_ref().map(|n| n.iter().map(|c| PlSmallStr::from(c.as_str())).collect()))
    };
    match source {
        ReferenceSource::Embedded { bytes, .. } => {
            csv().into_reader_with_file_handle(Cursor::new(*bytes)).finish().map_err(err)
        }
        ReferenceSource::File(path) => {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let file = std::fs::File::open(path)
                .map_err(|e| ReferenceError::Read { source_name: source.to_string(), message: e.to_string() })?;
            match ext.as_str() {
                "csv" | "tsv" | "txt" => csv().into_reader_with_file_handle(file).finish().map_err(err),
                "parquet" | "pq" => ParquetReader::new(file).with_columns(names.clone()).finish().map_err(err),
                "arrow" | "ipc" | "arrows" => {
                    let mut file = file;
                    let read = |e: std::io::Error| ReferenceError::Read {
                        source_name: source.to_string(),
                        message: e.to_string(),
                    };
                    let len = file.metadata().map_err(read)?.len();
                    crate::arrow_guard::check_reader(&mut file, len, crate::arrow_guard::Limits::for_file(len))
                        .map_err(|message| ReferenceError::Read { source_name: source.to_string(), message })?;
                    std::io::Seek::rewind(&mut file).map_err(read)?;
                    IpcStreamReader::new(file).with_columns(names.clone()).finish().map_err(err)
                }
                _ => Err(ReferenceError::Read {
                    source_name: source.to_string(),
                    message: "unknown format: use a .csv, .parquet or .arrow (IPC stream) file".into(),
                }),
            }
        }
    }
}

/// Kind a column of this type gets when the config does not say.
pub(crate) fn infer_kind(dtype: &DataType) -> Option<FeatureKind> {
    if dtype.is_primitive_numeric() {
        Some(FeatureKind::Numeric)
    } else if matches!(dtype, DataType::String | DataType::Boolean) {
        Some(FeatureKind::Categorical)
    } else {
        None
    }
}

/// Extracts a column as `kind`: numbers as f64 (null, NaN and ±Inf become NaN, i.e. missing), categories
/// as strings (integers and booleans are formatted).
pub(crate) fn column_values(column: &Column, kind: FeatureKind) -> Result<Values, ColumnMismatch> {
    match kind {
        FeatureKind::Numeric => {
            if !column.dtype().is_primitive_numeric() && column.dtype() != &DataType::Null {
                return Err(ColumnMismatch(format!("is {} but the feature is numeric", column.dtype())));
            }
            let c = column.cast(&DataType::Float64).map_err(|e| ColumnMismatch(e.to_string()))?;
            let ca = c.f64().map_err(|e| ColumnMismatch(e.to_string()))?;
            Ok(Values::Numeric(ca.iter().map(|v| v.filter(|x| x.is_finite()).unwrap_or(f64::NAN)).collect()))
        }
        FeatureKind::Categorical => {
            if column.dtype().is_float() {
                return Err(ColumnMismatch(format!(
                    "is {} (floating point) but the feature is categorical",
                    column.dtype()
                )));
            }
            let c = column.cast(&DataType::String).map_err(|e| ColumnMismatch(e.to_string()))?;
            let ca = c.str().map_err(|e| ColumnMismatch(e.to_string()))?;
            Ok(Values::Categorical(ca.iter().map(|v| v.map(str::to_owned)).collect()))
        }
    }
}

/// Resolves features from the config and (when there is one) the reference frame.
pub(crate) fn resolve_features(config: &ModelConfig, frame: Option<&DataFrame>) -> Result<Vec<Feature>, String> {
    let mut problems = Vec::new();
    let declared: Vec<(String, Option<FeatureKind>, Option<Vec<Method>>)> = if config.features.is_empty() {
        let frame = frame.ok_or("no features listed and no reference to take them from")?;
        // CBPE's label, prediction and probability columns are not features.
        let skip: Vec<&str> =
            config.performance.as_ref().filter(|p| p.estimate).map_or(Vec::new(), |p| p.reference_columns().to_vec());
        frame
            .columns()
            .iter()
            .filter(|c| !skip.contains(&c.name().as_str()))
            .map(|c| (c.name().to_string(), None, None))
            .collect()
    } else {
        config.features.iter().map(|f| (f.name.clone(), f.kind, f.methods.clone())).collect()
    };
    let mut features = Vec::new();
    for (name, kind, methods) in declared {
        let kind = match (kind, frame) {
            (Some(k), _) => Some(k),
            (None, Some(df)) => match df.column(&name) {
                Ok(c) => infer_kind(c.dtype()).or_else(|| {
                    problems.push(format!("column {name:?} has unsupported type {}", c.dtype()));
                    None
                }),
                Err(_) => None,
            },
            (None, None) => None,
        };
        if let Some(df) = frame {
            if df.column(&name).is_err() {
                problems.push(format!("feature {name:?} is not a column of the reference"));
                continue;
            }
        }
        let Some(kind) = kind else { continue };
        let methods = methods.unwrap_or_else(|| Method::defaults(kind));
        for m in methods.iter().filter(|m| !m.supports(kind)) {
            problems.push(format!("feature {name:?}: {} does not apply to {kind:?} features", m.as_str()));
        }
        if let Err(e) = crate::config::check_name(&name) {
            problems.push(format!("feature {name:?}: name {e}"));
        }
        features.push(Feature { name, kind, methods });
    }
    if problems.is_empty() { Ok(features) } else { Err(problems.join("; ")) }
}

impl Reference {
    /// A digest of everything scoring depends on (edges, counts, categories), so a snapshot taken
    /// against one reference is not restored against another.
    pub(crate) fn digest(&self) -> String {
        let mut parts: Vec<String> = vec![self.samples.to_string()];
        for f in &self.features {
            match f {
                FeatureReference::Numeric(r) => {
                    parts.push(format!("n{}", r.sorted.len()));
                    parts.extend(r.edges.iter().map(|e| e.to_bits().to_string()));
                    parts.extend(r.counts.iter().map(u64::to_string));
                }
                FeatureReference::Categorical(r) => {
                    parts.push(format!("c{}", r.categories.len()));
                    parts.extend(r.categories.iter().cloned());
                    parts.extend(r.counts.iter().map(u64::to_string));
                }
            }
        }
        key_from(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// Fits every feature's reference from raw column values (same order as `features`), and the
/// multivariate methods' when `config` has them.
pub fn fit(features: &[Feature], columns: Vec<Values>, config: &ModelConfig) -> Result<Reference, EmptyFeature> {
    let samples = columns.first().map_or(0, Values::len);
    let bins = config.bins.get();
    let mut out = Vec::with_capacity(features.len());
    for (f, values) in features.iter().zip(&columns) {
        let fitted = match values {
            Values::Numeric(v) => NumericReference::fit(v.iter().copied().filter(|x| x.is_finite()).collect(), bins)
                .map(FeatureReference::Numeric),
            Values::Categorical(v) => {
                CategoricalReference::fit(v.iter().flatten().map(String::as_str)).map(FeatureReference::Categorical)
            }
        };
        out.push(fitted.ok_or_else(|| EmptyFeature(f.name.clone()))?);
    }
    let multivariate = config.multivariate.as_ref().and_then(|m| {
        let fitted = super::multivariate::MultivariateReference::fit(m, features, &columns, &out, config.window);
        if fitted.is_none() {
            tracing::warn!(model = %config.name, samples, "multivariate drift needs two reference rows and two features: off");
        }
        fitted
    });
    Ok(Reference { features: out, samples, multivariate, cbpe: None })
}

/// Builds a model's spec and, for file references, its fitted reference.
pub fn load_model(config: ModelConfig) -> Result<(ModelSpec, Option<Reference>), ReferenceError> {
    let model_err = |message: String| ReferenceError::Model { model: config.name.clone(), message };
    let frame = config.reference.as_ref().map(read_frame).transpose()?;
    let features = resolve_features(&config, frame.as_ref()).map_err(model_err)?;
    let reference = match &frame {
        Some(df) => {
            let mut columns = Vec::with_capacity(features.len());
            for f in &features {
                let col = df.column(&f.name).map_err(|e| model_err(e.to_string()))?;
                columns.push(column_values(col, f.kind).map_err(|e| model_err(format!("column {:?} {e}", f.name)))?);
            }
            let mut fitted = fit(&features, columns, &config).map_err(|e| model_err(e.to_string()))?;
            if let Some(p) = config.performance.as_ref().filter(|p| p.estimate) {
                fitted.cbpe = Some(fit_cbpe(df, p).map_err(model_err)?);
            }
            Some(fitted)
        }
        None => None,
    };
    let index = features.iter().enumerate().map(|(i, f)| (f.name.clone(), i)).collect();
    Ok((ModelSpec { config, features, index }, reference))
}

/// CBPE from the reference's label, prediction and probability columns (rows missing any of the
/// three are left out).
fn fit_cbpe(
    df: &DataFrame,
    p: &crate::config::PerformanceConfig,
) -> Result<driftwatch_stats::performance::cbpe::CbpeReference, String> {
    let positive = p.positive_class.as_deref().unwrap_or_default();
    let column = |name: &str, kind| {
        let c = df
            .column(name)
            .map_err(|_| format!("[model.performance] estimate: the reference has no column {name:?}"))?;
        column_values(c, kind).map_err(|e| format!("column {name:?} {e}"))
    };
    // Classes as `/labels` reads them: text as it is, a number by the class rule they share.
    let classes = |name: &str| -> Result<Vec<Option<bool>>, String> {
        let numeric = df.column(name).is_ok_and(|c| c.dtype().is_primitive_numeric());
        Ok(match column(name, if numeric { FeatureKind::Numeric } else { FeatureKind::Categorical })? {
            Values::Numeric(v) => v
                .into_iter()
                .map(|f| f.is_finite().then(|| integral_class(f).unwrap_or_else(|| f.to_string()) == positive))
                .collect(),
            Values::Categorical(v) => v.into_iter().map(|c| c.map(|c| c == positive)).collect(),
        })
    };
    let labels = classes(&p.label_column)?;
    let predictions = classes(&p.prediction_column)?;
    let Values::Numeric(proba) = column(&p.probability_column, FeatureKind::Numeric)? else {
        unreachable!("read as numeric")
    };
    let (mut y, mut yhat, mut pr) = (Vec::new(), Vec::new(), Vec::new());
    for ((l, d), q) in labels.into_iter().zip(predictions).zip(proba) {
        if let (Some(l), Some(d), true) = (l, d, q.is_finite() && (0.0..=1.0).contains(&q)) {
            y.push(l);
            yhat.push(d);
            pr.push(q);
        }
    }
    driftwatch_stats::performance::cbpe::CbpeReference::fit(&y, &yhat, &pr, p.window).ok_or_else(|| {
        format!(
            "[model.performance] estimate: CBPE cannot be fitted on the reference's {} labelled predictions (both classes are needed)",
            y.len()
        )
    })
}
