//! /ingest's arrow decoder on arbitrary bytes: it returns a batch or a 4xx error, never panics.
#![no_main]

mod demo_spec;

use driftwatch::ingest::{Format, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // The decoder catches polars' panics on malformed streams by design (src/ingest/arrow.rs);
    // libFuzzer's hook would abort on those caught ones too. Without it, a panic that escapes the
    // decoder still reaches libfuzzer-sys's own catch_unwind, which aborts: that is the finding.
    std::panic::set_hook(Box::new(|_| {}));
}, |data: &[u8]| {
    if let Err(e) = decode(demo_spec::spec(), Format::ArrowStream, data) {
        assert!(e.status().is_client_error(), "{e:?}");
    }
});
