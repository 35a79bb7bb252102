//! Checks an Arrow IPC stream's framing and metadata before polars reads it. polars trusts the
//! declared sizes: a crafted stream (found by the `ingest_arrow` fuzz target) makes it allocate
//! petabytes, and a failed allocation aborts the whole process. So every message must fit in what
//! is left of the stream, every buffer in its message, row counts and cells stay under caps,
//! compression (whose declared decompressed sizes would be trusted too) is refused, and only flat
//! column types are accepted. Used on `/ingest` bodies ([`REQUEST`] caps) and on reference files
//! ([`Limits::for_file`]), which are read message by message, bodies skipped, not loaded whole.
//!
//! A leaf: imports nothing of the crate.

use std::io::{Read, Seek, SeekFrom};

use polars_arrow_format::ipc::planus::ReadAsRoot;
use polars_arrow_format::ipc::{self, MessageHeaderRef, RecordBatchRef, TypeRef};

/// Caps on what one stream may declare.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Rows in one record batch.
    pub(crate) max_rows: i64,
    /// Cells (rows × columns) in the whole stream.
    pub(crate) max_cells: i64,
    pub(crate) max_columns: usize,
}

/// An `/ingest` body.
pub(crate) const REQUEST: Limits = Limits { max_rows: 4_000_000, max_cells: 4_000_000, max_columns: 10_000 };

impl Limits {
    /// A reference file of `bytes`: a cell takes at least a bit of a real file (a boolean), so more
    /// than 8 cells per byte (plus slack for tiny files) are declared, not stored.
    pub(crate) fn for_file(bytes: u64) -> Limits {
        let cells = bytes.saturating_mul(8).saturating_add(1 << 20).min(i64::MAX as u64) as i64;
        Limits { max_rows: i64::from(i32::MAX), max_cells: cells, max_columns: 100_000 }
    }
}

fn read_i32(r: &mut impl Read, left: &mut u64) -> Result<Option<i32>, String> {
    if *left == 0 {
        return Ok(None);
    }
    if *left < 4 {
        return Err("truncated message length".into());
    }
    let mut head = [0u8; 4];
    r.read_exact(&mut head).map_err(|e| format!("cannot read the stream: {e}"))?;
    *left -= 4;
    Ok(Some(i32::from_le_bytes(head)))
}

fn planus<T>(r: Result<T, ipc::planus::Error>) -> Result<T, String> {
    r.map_err(|e| format!("invalid message metadata: {e}"))
}

/// Returns the cells (rows × columns) the stream declares: what decoding it allocates per value.
pub(crate) fn check_stream(body: &[u8]) -> Result<u64, String> {
    check_reader(&mut std::io::Cursor::new(body), body.len() as u64, REQUEST)
}

/// Checks the `len` bytes of a stream from `r`'s current position, reading only message metadata
/// (bodies are skipped), against `limits`; returns the cells it declares.
pub(crate) fn check_reader(r: &mut (impl Read + Seek), len: u64, limits: Limits) -> Result<u64, String> {
    let mut left = len;
    let mut columns = 0usize;
    let mut cells = 0i64;
    let mut seen_schema = false;
    let mut meta = Vec::new();
    while let Some(mut mlen) = read_i32(r, &mut left)? {
        if mlen == -1 {
            // The continuation marker of the current format.
            mlen = read_i32(r, &mut left)?.ok_or("truncated message length")?;
        }
        if mlen == 0 {
            return Ok(cells.max(0) as u64); // end of stream
        }
        let mlen = u64::try_from(mlen).map_err(|_| "negative message length")?;
        if mlen > left {
            return Err(format!("message metadata of {mlen} bytes exceeds the {left} left"));
        }
        meta.resize(mlen as usize, 0);
        r.read_exact(&mut meta).map_err(|e| format!("cannot read the stream: {e}"))?;
        left -= mlen;
        let message = planus(ipc::MessageRef::read_as_root(&meta))?;
        let body_len = planus(message.body_length())?;
        if body_len < 0 || body_len as u64 > left {
            return Err(format!("message body of {body_len} bytes exceeds the {left} left"));
        }
        match planus(message.header())? {
            Some(MessageHeaderRef::Schema(schema)) => {
                if seen_schema {
                    return Err("a second schema message".into());
                }
                seen_schema = true;
                let fields = planus(schema.fields())?.ok_or("schema without fields")?;
                columns = fields.len();
                if columns > limits.max_columns {
                    return Err(format!("{columns} columns: at most {}", limits.max_columns));
                }
                for field in fields {
                    let field = planus(field)?;
                    let name = planus(field.name())?.unwrap_or_default().to_owned();
                    let flat = match planus(field.type_())? {
                        Some(
                            TypeRef::Null(_)
                            | TypeRef::Int(_)
                            | TypeRef::FloatingPoint(_)
                            | TypeRef::Bool(_)
                            | TypeRef::Utf8(_)
                            | TypeRef::LargeUtf8(_)
                            | TypeRef::Utf8View(_),
                        ) => planus(field.children())?.is_none_or(|c| c.is_empty()),
                        _ => false,
                    };
                    if !flat {
                        return Err(format!(
                            "column {name:?}: only null, integer, floating-point, boolean and string columns"
                        ));
                    }
                }
            }
            Some(MessageHeaderRef::RecordBatch(batch)) => {
                let rows = check_batch(&batch, body_len, limits.max_rows)?;
                cells = cells.saturating_add(rows.saturating_mul(columns.max(1) as i64));
            }
            Some(MessageHeaderRef::DictionaryBatch(dict)) => {
                if let Some(batch) = planus(dict.data())? {
                    cells = cells.saturating_add(check_batch(&batch, body_len, limits.max_rows)?);
                }
            }
            Some(_) => return Err("tensor messages are not supported".into()),
            None => return Err("message without a header".into()),
        }
        if cells > limits.max_cells {
            return Err(format!("more than {} cells (rows × columns)", limits.max_cells));
        }
        r.seek(SeekFrom::Current(body_len)).map_err(|e| format!("cannot read the stream: {e}"))?;
        left -= body_len as u64;
    }
    Ok(cells.max(0) as u64)
}

/// Checks one record batch against its message body; returns its row count.
fn check_batch(batch: &RecordBatchRef<'_>, body_len: i64, max_rows: i64) -> Result<i64, String> {
    let rows = planus(batch.length())?;
    if !(0..=max_rows).contains(&rows) {
        return Err(format!("a record batch of {rows} rows: at most {max_rows}"));
    }
    if planus(batch.compression())?.is_some() {
        return Err("compressed record batches are not supported".into());
    }
    for node in planus(batch.nodes())?.into_iter().flatten() {
        if !(0..=rows).contains(&node.length()) || !(0..=node.length()).contains(&node.null_count()) {
            return Err(format!(
                "a column node of {} values ({} null) in a batch of {rows} rows",
                node.length(),
                node.null_count()
            ));
        }
    }
    for buffer in planus(batch.buffers())?.into_iter().flatten() {
        let end = buffer.offset().checked_add(buffer.length());
        if buffer.offset() < 0 || buffer.length() < 0 || end.is_none_or(|e| e > body_len) {
            return Err(format!(
                "a buffer at {}+{} outside the {body_len}-byte body",
                buffer.offset(),
                buffer.length()
            ));
        }
    }
    for count in planus(batch.variadic_buffer_counts())?.into_iter().flatten() {
        if !(0..=1024).contains(&count) {
            return Err(format!("{count} variadic buffers"));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_pyarrow_writes_and_refuses_the_fuzzers_findings() {
        // pyarrow 26 (tests/fuzz/make_seeds.py): int64, int32, float64, uint8, string, large_string.
        check_stream(include_bytes!("../tests/fuzz/corpus/ingest_arrow/valid.arrows")).unwrap();
        let e = check_stream(include_bytes!("../tests/fuzz/corpus/ingest_arrow/polars-petabyte-allocation.arrows"))
            .unwrap_err();
        assert!(!e.is_empty());
    }

    #[test]
    fn refuses_lengths_past_the_end() {
        let valid = include_bytes!("../tests/fuzz/corpus/ingest_arrow/valid.arrows");
        for cut in [3, 8, 100, valid.len() - 9] {
            assert!(check_stream(&valid[..cut]).is_err(), "cut at {cut}");
        }
        // A metadata length of 2 GiB.
        assert!(check_stream(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0]).is_err());
    }
}
