//! /ingest's json decoder on arbitrary bytes: it returns a batch or a 4xx error, never panics, and
//! its columnar fast path (src/ingest/json_columns.rs) gives exactly the general parser's answer.
#![no_main]

mod demo_spec;

use driftwatch::ingest::{Format, decode, decode_general};
use libfuzzer_sys::fuzz_target;

macro_rules! answer {
    ($r:expr) => {
        match $r {
            Ok(d) => format!("{d:?}"),
            Err(e) => {
                assert!(e.status().is_client_error(), "{e:?}");
                format!("{} {e}", e.status())
            }
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let spec = demo_spec::spec();
    assert_eq!(answer!(decode(spec, Format::Json, data)), answer!(decode_general(spec, Format::Json, data)));
});
