//! Arrow IPC feature streams read straight from the body: the shape model servers send (flat
//! little-endian integer, floating-point, boolean and string columns, no dictionaries) becomes the
//! batch's columns in one pass per column, with nothing per value but the null and finiteness checks.
//! Through polars the same body took a `DataFrame`, a cast, a `Vec<Option<f64>>` and a conversion,
//! five passes and 16 bytes per value in between; ingest ran at ~200 MB/s of body.
//!
//! Anything outside that shape (dictionary or null columns, big-endian schemas, duplicate names,
//! a long-form series table, buffers that do not add up) is not an error here: [`decode`] says "not
//! mine" and the polars path decides, so what is accepted and every error message stay as they were.
//! [`super::arrow`] runs this first, after [`crate::arrow_guard`] checked the framing.

use polars_arrow_format::ipc::planus::ReadAsRoot;
use polars_arrow_format::ipc::{self, Endianness, MessageHeaderRef, Precision, TypeRef};

use super::arrow::{Decoded, assemble, integers_as_numbers};
use crate::error::ApiError;
use crate::monitor::batch::ColumnInput;
use crate::monitor::reference::ModelSpec;

/// The physical types read here.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Physical {
    Int { bytes: usize, signed: bool },
    F32,
    F64,
    Bool,
    Utf8,
    LargeUtf8,
}

impl Physical {
    fn from_type(t: TypeRef<'_>) -> Option<Physical> {
        Some(match t {
            TypeRef::Int(i) => {
                let bytes = match i.bit_width().ok()? {
                    8 => 1,
                    16 => 2,
                    32 => 4,
                    64 => 8,
                    _ => return None,
                };
                Physical::Int { bytes, signed: i.is_signed().ok()? }
            }
            TypeRef::FloatingPoint(f) => match f.precision().ok()? {
                Precision::Single => Physical::F32,
                Precision::Double => Physical::F64,
                Precision::Half => return None,
            },
            TypeRef::Bool(_) => Physical::Bool,
            TypeRef::Utf8(_) => Physical::Utf8,
            TypeRef::LargeUtf8(_) => Physical::LargeUtf8,
            _ => return None,
        })
    }

    fn is_float(self) -> bool {
        matches!(self, Physical::F32 | Physical::F64)
    }

    fn buffers(self) -> usize {
        match self {
            Physical::Utf8 | Physical::LargeUtf8 => 3,
            _ => 2,
        }
    }
}

/// One column as it accumulates over the stream's record batches.
enum Sink {
    Numbers(Vec<f64>),
    Text(Vec<Option<String>>),
}

struct Incoming {
    name: String,
    physical: Physical,
    sink: Sink,
}

/// `None`: not the shape read here (the caller uses polars). `Some(result)`: the batch and
/// predictions, or the error the polars path gives for the same body (unknown feature, wrong column
/// type, unequal lengths).
pub(crate) fn decode(spec: &ModelSpec, body: &[u8]) -> Option<Result<Decoded, ApiError>> {
    let columns = read(spec, body)?;
    let columns = columns
        .into_iter()
        .map(|c| {
            let input = match c.sink {
                Sink::Numbers(v) => ColumnInput::Numbers(v),
                Sink::Text(v) => ColumnInput::Text(v),
            };
            (c.name, input)
        })
        .collect();
    Some(assemble(spec, columns))
}

/// Walks the stream's messages (framing already checked by `arrow_guard`, checked again here where
/// an offset is used) into one [`Incoming`] per schema field.
fn read(spec: &ModelSpec, body: &[u8]) -> Option<Vec<Incoming>> {
    let mut pos = 0usize;
    let mut columns: Option<Vec<Incoming>> = None;
    while let Some(mut mlen) = next_i32(body, &mut pos)? {
        if mlen == -1 {
            mlen = next_i32(body, &mut pos)??;
        }
        if mlen == 0 {
            break;
        }
        let meta = body.get(pos..pos.checked_add(usize::try_from(mlen).ok()?)?)?;
        pos += meta.len();
        let message = ipc::MessageRef::read_as_root(meta).ok()?;
        let body_len = usize::try_from(message.body_length().ok()?).ok()?;
        let message_body = body.get(pos..pos.checked_add(body_len)?)?;
        pos += body_len;
        match message.header().ok()?? {
            MessageHeaderRef::Schema(schema) if columns.is_none() => columns = Some(schema_columns(spec, &schema)?),
            MessageHeaderRef::RecordBatch(batch) => append_batch(columns.as_mut()?, &batch, message_body)?,
            // Dictionaries, a second schema, tensors: polars' business.
            _ => return None,
        }
    }
    columns
}

fn next_i32(body: &[u8], pos: &mut usize) -> Option<Option<i32>> {
    if *pos == body.len() {
        return Some(None);
    }
    let bytes = body.get(*pos..*pos + 4)?;
    *pos += 4;
    Some(Some(i32::from_le_bytes(bytes.try_into().ok()?)))
}

/// The columns of a feature stream, each with the sink the polars path would have filled: numbers
/// for floating-point columns and for integer columns [`integers_as_numbers`] names, text otherwise.
fn schema_columns(spec: &ModelSpec, schema: &ipc::SchemaRef<'_>) -> Option<Vec<Incoming>> {
    if schema.endianness().ok()? != Endianness::Little {
        return None;
    }
    let fields = schema.fields().ok()??;
    let mut columns: Vec<Incoming> = Vec::with_capacity(fields.len());
    let mut seen = std::collections::HashSet::with_capacity(fields.len());
    for field in fields.iter() {
        let field = field.ok()?;
        if field.dictionary().ok()?.is_some() || field.children().ok()?.is_some_and(|c| !c.is_empty()) {
            return None;
        }
        let physical = Physical::from_type(field.type_().ok()??)?;
        let name = field.name().ok()?.unwrap_or_default();
        if !seen.insert(name) {
            return None;
        }
        let name = name.to_owned();
        let numbers =
            physical.is_float() || (integers_as_numbers(spec, &name) && matches!(physical, Physical::Int { .. }));
        let sink = if numbers { Sink::Numbers(Vec::new()) } else { Sink::Text(Vec::new()) };
        columns.push(Incoming { name, physical, sink });
    }
    let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    // The long-form series table.
    (names != ["series", "timestamp", "value"]).then_some(columns)
}

fn append_batch(columns: &mut [Incoming], batch: &ipc::RecordBatchRef<'_>, body: &[u8]) -> Option<()> {
    if batch.compression().ok()?.is_some() {
        return None;
    }
    let rows = usize::try_from(batch.length().ok()?).ok()?;
    let nodes: Vec<(i64, i64)> = batch.nodes().ok()??.iter().map(|n| (n.length(), n.null_count())).collect();
    let buffers: Vec<&[u8]> = batch
        .buffers()
        .ok()??
        .iter()
        .map(|b| {
            let start = usize::try_from(b.offset()).ok()?;
            body.get(start..start.checked_add(usize::try_from(b.length()).ok()?)?)
        })
        .collect::<Option<_>>()?;
    if nodes.len() != columns.len() || buffers.len() != columns.iter().map(|c| c.physical.buffers()).sum::<usize>() {
        return None;
    }
    let mut next = 0;
    for (column, &(len, nulls)) in columns.iter_mut().zip(&nodes) {
        if usize::try_from(len).ok()? != rows {
            return None;
        }
        let bufs = &buffers[next..next + column.physical.buffers()];
        next += bufs.len();
        // Without nulls the validity buffer may be absent; with them it must cover every row.
        let validity = if nulls > 0 {
            let v = bufs[0];
            (v.len() >= rows.div_ceil(8)).then_some(v)?;
            Some(v)
        } else {
            None
        };
        append_column(column, rows, validity, &bufs[1..])?;
    }
    Some(())
}

fn is_valid(validity: Option<&[u8]>, i: usize) -> bool {
    validity.is_none_or(|v| v[i / 8] & (1 << (i % 8)) != 0)
}

fn append_column(column: &mut Incoming, rows: usize, validity: Option<&[u8]>, bufs: &[&[u8]]) -> Option<()> {
    match (&mut column.sink, column.physical) {
        (Sink::Numbers(out), Physical::F64) => {
            let values = bufs[0].get(..rows.checked_mul(8)?)?;
            out.reserve(rows);
            let finite = |x: f64| if x.is_finite() { x } else { f64::NAN };
            let decoded = values.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()));
            match validity {
                None => out.extend(decoded.map(finite)),
                Some(_) => out
                    .extend(decoded.enumerate().map(|(i, x)| if is_valid(validity, i) { finite(x) } else { f64::NAN })),
            }
        }
        (Sink::Numbers(out), physical) => {
            let width = match physical {
                Physical::F32 => 4,
                Physical::Int { bytes, .. } => bytes,
                _ => return None,
            };
            let values = bufs[0].get(..rows.checked_mul(width)?)?;
            out.reserve(rows);
            for (i, c) in values.chunks_exact(width).enumerate() {
                let x = if is_valid(validity, i) { number(physical, c) } else { f64::NAN };
                out.push(if x.is_finite() { x } else { f64::NAN });
            }
        }
        (Sink::Text(out), Physical::Utf8 | Physical::LargeUtf8) => {
            let wide = column.physical == Physical::LargeUtf8;
            let width = if wide { 8 } else { 4 };
            let offsets = bufs[0].get(..(rows.checked_add(1)?).checked_mul(width)?)?;
            let offset = |i: usize| -> Option<usize> {
                let c = &offsets[i * width..(i + 1) * width];
                if wide {
                    usize::try_from(i64::from_le_bytes(c.try_into().ok()?)).ok()
                } else {
                    usize::try_from(i32::from_le_bytes(c.try_into().ok()?)).ok()
                }
            };
            let data = bufs[1];
            out.reserve(rows);
            let mut start = offset(0)?;
            for i in 0..rows {
                let end = offset(i + 1)?;
                let bytes = data.get(start..end)?;
                out.push(if is_valid(validity, i) { Some(std::str::from_utf8(bytes).ok()?.to_owned()) } else { None });
                start = end;
            }
        }
        (Sink::Text(out), Physical::Bool) => {
            let bits = bufs[0].get(..rows.div_ceil(8))?;
            out.extend((0..rows).map(|i| {
                is_valid(validity, i)
                    .then(|| if bits[i / 8] & (1 << (i % 8)) != 0 { "true" } else { "false" }.to_owned())
            }));
        }
        (Sink::Text(out), Physical::Int { bytes, signed }) => {
            let values = bufs[0].get(..rows.checked_mul(bytes)?)?;
            out.reserve(rows);
            for (i, c) in values.chunks_exact(bytes).enumerate() {
                out.push(is_valid(validity, i).then(|| integer_text(c, signed)));
            }
        }
        (Sink::Text(_), Physical::F32 | Physical::F64) => return None,
    }
    Some(())
}

/// A fixed-width little-endian number as f64, as polars' cast to Float64 converts it (`as f64`).
fn number(physical: Physical, c: &[u8]) -> f64 {
    let mut b = [0u8; 8];
    b[..c.len()].copy_from_slice(c);
    match physical {
        Physical::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        Physical::F64 => f64::from_le_bytes(b),
        Physical::Int { bytes, signed: true } => sign_extend(u64::from_le_bytes(b), bytes) as f64,
        Physical::Int { signed: false, .. } => u64::from_le_bytes(b) as f64,
        _ => f64::NAN,
    }
}

fn sign_extend(raw: u64, bytes: usize) -> i64 {
    let shift = 64 - 8 * bytes as u32;
    ((raw << shift) as i64) >> shift
}

/// An integer category as polars' cast to String prints it.
fn integer_text(c: &[u8], signed: bool) -> String {
    let mut b = [0u8; 8];
    b[..c.len()].copy_from_slice(c);
    let raw = u64::from_le_bytes(b);
    if signed { sign_extend(raw, c.len()).to_string() } else { raw.to_string() }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use polars::prelude::*;

    use super::*;
    use crate::ingest::arrow::with_polars;
    use crate::monitor::batch::Batch;

    fn spec() -> ModelSpec {
        let config = crate::config::Sources::embedded().validate().unwrap();
        crate::monitor::reference::load_model(config.models[0].clone()).unwrap().0
    }

    /// `frame` as an IPC stream of record batches of `chunk` rows (strings as LargeUtf8).
    fn stream(frame: DataFrame, chunk: usize) -> Vec<u8> {
        let mut chunked = frame.slice(0, chunk);
        let mut offset = chunk;
        while offset < frame.height() {
            chunked.vstack_mut(&frame.slice(offset as i64, chunk)).unwrap();
            offset += chunk;
        }
        let mut out = Vec::new();
        IpcStreamWriter::new(Cursor::new(&mut out))
            .with_compat_level(CompatLevel::oldest())
            .finish(&mut chunked)
            .unwrap();
        out
    }

    fn frame(columns: Vec<Column>) -> DataFrame {
        DataFrame::new(columns.first().map_or(0, Column::len), columns).unwrap()
    }

    /// The batch (or error) both paths give, as comparable text (NaN prints as NaN).
    fn both(spec: &ModelSpec, body: &[u8]) -> (String, String) {
        let batch = |d: Decoded| match d {
            Decoded::Features { batch, .. } => batch.expect("features"),
            Decoded::Series(_) => panic!("a feature stream"),
        };
        let direct = decode(spec, body).expect("the direct path reads this stream").map(batch);
        let polars = with_polars(spec, body).map(batch);
        let show = |r: Result<Batch, ApiError>| match r {
            Ok(b) => format!("{:?} {:?} {:?}", b.rows, b.columns, b.missing),
            Err(e) => format!("error {} {e}", e.status()),
        };
        (show(direct), show(polars))
    }

    #[test]
    fn feature_streams_decode_as_polars_decodes_them_every_type_nulls_and_chunks() {
        let spec = spec();
        let n = 37;
        let opt = |i: usize| i % 5 != 3;
        let f64s: Vec<Option<f64>> = (0..n)
            .map(|i| {
                opt(i).then(|| match i % 7 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => -0.0,
                    _ => i as f64 * 1.37 - 20.0,
                })
            })
            .collect();
        let frame = frame(vec![
            Column::new("age".into(), (0..n).map(|i| opt(i).then_some(i as i64 - 3)).collect::<Vec<_>>()),
            Column::new(
                "tenure_months".into(),
                (0..n).map(|i| opt(i + 1).then_some(i as i32 * 1000)).collect::<Vec<_>>(),
            ),
            Column::new("monthly_charges".into(), f64s),
            Column::new("support_calls".into(), (0..n).map(|i| (i % 250) as u32).collect::<Vec<_>>()),
            Column::new(
                "plan".into(),
                (0..n).map(|i| opt(i + 2).then(|| format!("plan-{}", i % 3))).collect::<Vec<_>>(),
            ),
            Column::new("region".into(), (0..n).map(|i| ["eu", "us", "ünï"][i % 3]).collect::<Vec<_>>()),
        ]);
        for chunk in [1, 5, n] {
            let (direct, polars) = both(&spec, &stream(frame.clone(), chunk));
            assert!(!direct.starts_with("error"), "{direct}");
            assert_eq!(direct, polars, "chunks of {chunk}");
        }
    }

    #[test]
    fn other_widths_and_categories_from_integers_and_booleans_decode_as_polars_does() {
        let spec = spec();
        let frame = frame(vec![
            Column::new("age".into(), [Some(i64::MIN), Some(i64::MAX), None]),
            Column::new("tenure_months".into(), [Some(u64::MAX), Some(0), Some(1 << 53 | 1)]),
            Column::new("monthly_charges".into(), [Some(1.5f32), None, Some(f32::MAX)]),
            Column::new("support_calls".into(), [Some(-3i32), Some(7), Some(i32::MIN)]),
            Column::new("plan".into(), [Some(true), None, Some(false)]),
            Column::new("region".into(), [Some(-5i32), None, Some(i32::MAX)]),
        ]);
        let (direct, polars) = both(&spec, &stream(frame, 2));
        assert!(!direct.starts_with("error"), "{direct}");
        assert_eq!(direct, polars);
    }

    #[test]
    fn wrong_types_unknown_columns_and_empty_streams_fail_as_through_polars() {
        let spec = spec();
        for frame in [
            frame(vec![Column::new("plan".into(), [1.5f64, 2.0])]),
            frame(vec![Column::new("age".into(), ["a", "b"])]),
            frame(vec![Column::new("age".into(), [true, false])]),
            frame(vec![Column::new("nope".into(), [1i64, 2])]),
            frame(vec![Column::new("age".into(), Vec::<f64>::new())]),
        ] {
            let (direct, polars) = both(&spec, &stream(frame, 1));
            assert!(direct.starts_with("error 4"), "{direct}");
            assert_eq!(direct, polars);
        }
    }

    /// pyarrow's stream of tests/fuzz/make_seeds.py (int64, int32, float64, uint8, string,
    /// large_string in record batches of two rows). polars built with `dtype-slim` cannot read uint8
    /// and panicked on it, so until the direct path this body was refused as unreadable.
    #[test]
    fn what_pyarrow_writes_decodes_with_its_uint8_column_that_polars_could_not_read() {
        let body = include_bytes!("../../tests/fuzz/corpus/ingest_arrow/valid.arrows");
        let Decoded::Features { batch: Some(batch), predictions: None } = decode(&spec(), body).unwrap().unwrap()
        else {
            panic!("features only")
        };
        let want = [
            "Some(Numeric([31.0, 45.0, NaN, 29.0]))",
            "Some(Numeric([1.0, 12.0, 30.0, 7.0]))",
            "Some(Numeric([70.5, 20.25, 99.99, NaN]))",
            "Some(Numeric([0.0, 2.0, 1.0, 5.0]))",
            r#"Some(Categorical([Some("basic"), Some("premium"), None, Some("standard")]))"#,
            r#"Some(Categorical([Some("south"), Some("north"), Some("east"), Some("west")]))"#,
        ];
        let got: Vec<String> = batch.columns.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(got, want);
        assert_eq!((batch.rows, batch.missing), (4, vec![1, 0, 1, 0, 1, 0]));
    }

    #[test]
    fn series_tables_are_left_to_polars() {
        let spec = spec();
        let series = frame(vec![
            Column::new("series".into(), ["a"]),
            Column::new("timestamp".into(), [1.0f64]),
            Column::new("value".into(), [2.0f64]),
        ]);
        assert!(decode(&spec, &stream(series, 1)).is_none());
    }
}
