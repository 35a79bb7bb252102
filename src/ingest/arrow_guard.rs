//! Checks an Arrow IPC stream's framing and metadata before polars reads it. polars trusts the
//! declared sizes: a crafted stream (found by the `ingest_arrow` fuzz target) makes it allocate
//! petabytes, and a failed allocation aborts the whole process. So every message must fit in the
//! body, every buffer in its message, row counts and cells stay under fixed caps, compression (whose
//! declared decompressed sizes would be trusted too) is refused, and only the flat column types a
//! batch can hold are accepted.

use polars_arrow_format::ipc::planus::ReadAsRoot;
use polars_arrow_format::ipc::{self, MessageHeaderRef, RecordBatchRef, TypeRef};

/// Rows in one record batch, and cells (rows × columns) in one request.
pub(crate) const MAX_ROWS: i64 = 4_000_000;
pub(crate) const MAX_CELLS: i64 = 4_000_000;
pub(crate) const MAX_COLUMNS: usize = 10_000;

fn read_i32(rest: &mut &[u8]) -> Result<i32, String> {
    let (head, tail) = rest.split_first_chunk::<4>().ok_or("truncated message length")?;
    *rest = tail;
    Ok(i32::from_le_bytes(*head))
}

fn planus<T>(r: Result<T, ipc::planus::Error>) -> Result<T, String> {
    r.map_err(|e| format!("invalid message metadata: {e}"))
}

pub(crate) fn check_stream(body: &[u8]) -> Result<(), String> {
    let mut rest = body;
    let mut columns = 0usize;
    let mut cells = 0i64;
    let mut seen_schema = false;
    while !rest.is_empty() {
        let mut len = read_i32(&mut rest)?;
        if len == -1 {
            // The continuation marker of the current format.
            len = read_i32(&mut rest)?;
        }
        if len == 0 {
            return Ok(()); // end of stream
        }
        let len = usize::try_from(len).map_err(|_| "negative message length")?;
        if len > rest.len() {
            return Err(format!("message metadata of {len} bytes exceeds the {} left", rest.len()));
        }
        let (meta, tail) = rest.split_at(len);
        rest = tail;
        let message = planus(ipc::MessageRef::read_as_root(meta))?;
        let body_len = planus(message.body_length())?;
        if body_len < 0 || body_len as u64 > rest.len() as u64 {
            return Err(format!("message body of {body_len} bytes exceeds the {} left", rest.len()));
        }
        match planus(message.header())? {
            Some(MessageHeaderRef::Schema(schema)) => {
                if seen_schema {
                    return Err("a second schema message".into());
                }
                seen_schema = true;
                let fields = planus(schema.fields())?.ok_or("schema without fields")?;
                columns = fields.len();
                if columns > MAX_COLUMNS {
                    return Err(format!("{columns} columns: at most {MAX_COLUMNS}"));
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
                let rows = check_batch(&batch, body_len)?;
                cells = cells.saturating_add(rows.saturating_mul(columns.max(1) as i64));
            }
            Some(MessageHeaderRef::DictionaryBatch(dict)) => {
                if let Some(batch) = planus(dict.data())? {
                    cells = cells.saturating_add(check_batch(&batch, body_len)?);
                }
            }
            Some(_) => return Err("tensor messages are not supported".into()),
            None => return Err("message without a header".into()),
        }
        if cells > MAX_CELLS {
            return Err(format!("more than {MAX_CELLS} cells (rows × columns) in one request"));
        }
        rest = &rest[body_len as usize..];
    }
    Ok(())
}

/// Checks one record batch against its message body; returns its row count.
fn check_batch(batch: &RecordBatchRef<'_>, body_len: i64) -> Result<i64, String> {
    let rows = planus(batch.length())?;
    if !(0..=MAX_ROWS).contains(&rows) {
        return Err(format!("a record batch of {rows} rows: at most {MAX_ROWS}"));
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
        check_stream(include_bytes!("../../tests/fuzz/corpus/ingest_arrow/valid.arrows")).unwrap();
        let e = check_stream(include_bytes!("../../tests/fuzz/corpus/ingest_arrow/polars-petabyte-allocation.arrows"))
            .unwrap_err();
        assert!(!e.is_empty());
    }

    #[test]
    fn refuses_lengths_past_the_end() {
        let valid = include_bytes!("../../tests/fuzz/corpus/ingest_arrow/valid.arrows");
        for cut in [3, 8, 100, valid.len() - 9] {
            assert!(check_stream(&valid[..cut]).is_err(), "cut at {cut}");
        }
        // A metadata length of 2 GiB.
        assert!(check_stream(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0]).is_err());
    }
}
