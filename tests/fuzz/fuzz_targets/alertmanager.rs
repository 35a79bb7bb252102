//! The Alertmanager webhook parser on arbitrary bytes: a payload or a 4xx error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = driftwatch::retrain::alertmanager::parse(data) {
        assert!(e.status().is_client_error(), "{e:?}");
    }
});
