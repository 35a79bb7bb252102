//! Causal scoring of a whole series through the live detector: each point is scored with only the
//! points before it, and every refit runs inline as soon as it is due (the sidecar runs refits in the
//! background, so a live score may use a fit a few points older). `driftwatch replay` and `driftwatch
//! nab` are this over a file; the sidecar is this one point at a time.

use super::DetectorSettings;
use super::detector::{Outcome, SeriesDetector};

/// Scores each `(timestamp, value)` from the points before it; warming-up and late points score 0.
/// `progress` hears the number of points done every 256 points and once at the end.
pub fn score_points(settings: &DetectorSettings, points: &[(f64, f64)], mut progress: impl FnMut(usize)) -> Vec<f64> {
    let mut detector = SeriesDetector::new(settings, 0);
    let mut scores = Vec::with_capacity(points.len());
    for (i, &(timestamp, value)) in points.iter().enumerate() {
        let score = match detector.push(settings, timestamp, value) {
            Outcome::Scored(o) => o.score,
            Outcome::Warming | Outcome::Late | Outcome::OutOfRange => 0.0,
        };
        scores.push(score);
        if let Some(job) = detector.take_fit_job(settings) {
            detector.finish_fit(job.run());
        }
        if i % 256 == 0 {
            progress(i);
        }
    }
    progress(points.len());
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_scored_only_from_the_points_before_it() {
        let settings = DetectorSettings {
            step_seconds: Some(60.0),
            periods: Some(vec![10]),
            refit_every: 5,
            ..Default::default()
        };
        let points: Vec<(f64, f64)> =
            (0..100).map(|i| (60.0 * i as f64, (i % 10) as f64 + 0.01 * ((i * 7) % 5) as f64)).collect();
        let full = score_points(&settings, &points, |_| {});
        for cut in [30, 57, 99] {
            let prefix = score_points(&settings, &points[..cut], |_| {});
            assert_eq!(prefix[..], full[..cut], "scores of the first {cut} points changed when later points existed");
        }
    }
}
