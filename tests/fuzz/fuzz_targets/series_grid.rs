//! The series detector on arbitrary (timestamp, value) pairs: absurd spacing or magnitude once drove
//! the grid and gap-fill arithmetic into loops that never ended. Every push must return promptly
//! (libFuzzer's -timeout turns a spin into a finding) and never panic, whatever the numbers.
#![no_main]

use driftwatch_stats::anomaly::{DetectorSettings, SeriesDetector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let settings = DetectorSettings::default();
    let mut detector = SeriesDetector::new(&settings, 0);
    for pair in data.chunks_exact(16) {
        let t = f64::from_le_bytes(pair[..8].try_into().unwrap());
        let v = f64::from_le_bytes(pair[8..].try_into().unwrap());
        let _ = detector.push(&settings, t, v);
        if let Some(job) = detector.take_fit_job(&settings) {
            // A fit costs milliseconds; run it rarely, so the fuzzer explores the grid, not the fit.
            if data.len() < 4096 {
                detector.finish_fit(job.run());
            }
        }
    }
});
