//! /ingest's ndjson decoder on arbitrary bytes: it returns a batch or a 4xx error, never panics.
#![no_main]

mod demo_spec;

use driftwatch::ingest::{Format, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = decode(demo_spec::spec(), Format::Ndjson, data) {
        assert!(e.status().is_client_error(), "{e:?}");
    }
});
