//! What decoding a body costs in memory, per byte of body, on the shapes that cost the most (one
//! tiny value per row, rows as objects, long-form series points, Arrow booleans and small integers
//! that become strings, model outputs that become JSON values): what `/ingest` reserves against
//! `server.max_decode_bytes` (`Format::decode_reservation`: per byte, and for Arrow per cell) must
//! cover it, or the stated memory bound is not one.
//!
//! Counted by this binary's allocator, per thread (the decoder runs on one thread), in glibc's
//! chunk sizes: a 1-byte `String` costs a 32-byte chunk there, not 1 byte.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use driftwatch::ingest::{Format, decode};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn chunk(size: usize) -> isize {
    (size + 8).div_ceil(16).max(2) as isize * 16
}

fn track(delta: isize) {
    // Thread-local access can fail while a thread is torn down; those bytes are not ours.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(chunk(layout.size()));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-chunk(layout.size()));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(chunk(new_size) - chunk(layout.size()));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap while decoding `body` (the body's own bytes included), per byte of body.
fn factor(format: Format, body: &[u8]) -> f64 {
    let spec = crate::support::server::demo_spec();
    let copy = body.to_vec();
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let decoded = decode(spec, format, &copy);
    let peak = PEAK.with(Cell::get) - base;
    assert!(decoded.is_ok(), "{:?}", decoded.err());
    drop(decoded);
    peak as f64 / body.len() as f64
}

fn numeric_feature() -> String {
    let spec = crate::support::server::demo_spec();
    spec.features.iter().find(|f| f.kind == driftwatch_stats::drift::FeatureKind::Numeric).unwrap().name.clone()
}

#[test]
fn decoding_never_holds_more_than_the_reserved_factor_of_the_body() {
    let x = numeric_feature();
    let n = 200_000;
    let spec = crate::support::server::demo_spec();
    let c = &spec.features.iter().find(|f| f.kind == driftwatch_stats::drift::FeatureKind::Categorical).unwrap().name;
    let categories = format!("{{\"model\":\"demo-churn\",\"features\":{{\"{c}\":[{}\"a\"]}}}}", "\"a\",".repeat(n));
    let column = format!("{{\"model\":\"demo-churn\",\"features\":{{\"{x}\":[{}0]}}}}", "0,".repeat(n));
    let rows = format!("{{\"model\":\"demo-churn\",\"rows\":[{}{{\"{x}\":0}}]}}", format!("{{\"{x}\":0}},").repeat(n));
    let ndjson = format!("{{\"{x}\":0}}\n").repeat(n);
    let points = "{\"series\":\"s\",\"timestamp\":1,\"value\":0}\n".to_string()
        + &(2..n).map(|t| format!("{{\"series\":\"s\",\"timestamp\":{t},\"value\":0}}\n")).collect::<String>();
    let series = format!(
        "{{\"model\":\"demo-churn\",\"series\":{{\"s\":{{\"timestamps\":[{}],\"values\":[{}]}}}}}}",
        (1..n).map(|t| t.to_string()).collect::<Vec<_>>().join(","),
        vec!["0"; n - 1].join(",")
    );
    let arrow_rows = {
        use polars::prelude::*;
        let mut df = df!(x.as_str() => vec![0.0f64; n]).unwrap();
        let mut buf = Vec::new();
        IpcStreamWriter::new(&mut buf).finish(&mut df).unwrap();
        buf
    };
    let arrow_points = {
        use polars::prelude::*;
        let mut df = df!(
            "series" => vec!["s"; n],
            "timestamp" => (1..=n as i64).collect::<Vec<_>>(),
            "value" => vec![0.0f64; n]
        )
        .unwrap();
        let mut buf = Vec::new();
        IpcStreamWriter::new(&mut buf).finish(&mut df).unwrap();
        buf
    };
    let arrow = |mut df: polars::prelude::DataFrame| {
        use polars::prelude::*;
        let mut buf = Vec::new();
        IpcStreamWriter::new(&mut buf).finish(&mut df).unwrap();
        buf
    };
    let arrow_outputs = {
        use polars::prelude::*;
        arrow(
            df!(
                "id" => (0..n as i64).collect::<Vec<_>>(),
                "prediction" => vec![1i64; n],
                "probabilities.1" => vec![0.5f64; n]
            )
            .unwrap(),
        )
    };
    let arrow_long_outputs = {
        use polars::prelude::*;
        arrow(
            df!(
                "id" => (0..n).map(|i| format!("request-{i:016}")).collect::<Vec<_>>(),
                "prediction" => vec!["a-class-name-of-24-bytes"; n]
            )
            .unwrap(),
        )
    };
    let arrow_categories = {
        use polars::prelude::*;
        arrow(df!(c.as_str() => vec!["a"; n]).unwrap())
    };
    let arrow_int_categories = {
        use polars::prelude::*;
        arrow(df!(c.as_str() => vec![1i32; n]).unwrap())
    };
    let arrow_bool_categories = {
        use polars::prelude::*;
        arrow(df!(c.as_str() => vec![true; n]).unwrap())
    };
    let mut seen = Vec::new();
    for (what, format, body) in [
        ("arrow rows", Format::ArrowStream, arrow_rows),
        ("arrow points", Format::ArrowStream, arrow_points),
        ("arrow outputs", Format::ArrowStream, arrow_outputs),
        ("arrow long outputs", Format::ArrowStream, arrow_long_outputs),
        ("arrow categories", Format::ArrowStream, arrow_categories),
        ("arrow int categories", Format::ArrowStream, arrow_int_categories),
        ("arrow bool categories", Format::ArrowStream, arrow_bool_categories),
        ("json columns", Format::Json, column.into_bytes()),
        ("json categories", Format::Json, categories.into_bytes()),
        ("json rows", Format::Json, rows.into_bytes()),
        ("json series", Format::Json, series.into_bytes()),
        ("ndjson rows", Format::Ndjson, ndjson.into_bytes()),
        ("ndjson points", Format::Ndjson, points.into_bytes()),
    ] {
        let f = factor(format, &body);
        let reserved = format.decode_reservation(&body) as f64 / body.len() as f64;
        seen.push(format!("{what}: {f:.1}x of {reserved:.1}x"));
        assert!(f <= reserved, "{what}: {f:.1}x > the {reserved:.1}x reserved");
    }
    println!("{}", seen.join(", "));
}
