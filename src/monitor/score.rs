//! Scoring one full window against the fitted reference: each feature on its own rayon task, its
//! buffer filtered of missing values in place (no copy), then one decision across the features.

use std::time::Instant;

use rayon::prelude::*;

use driftwatch_stats::drift::{self, Decision, MethodScore};

use super::reference::{Feature, FeatureReference, ModelSpec, Reference};
use super::report::{FeatureReport, ScoreReport, WindowReport};
use super::window::{FullWindow, MISSING_CODE, WindowColumn};
use crate::clock::unix_now;

/// Scores one full window against the reference: each feature on its own rayon task, its buffer
/// filtered of missing values and sorted in place (no copy), then one decision across features.
/// The buffers stay with the caller, who hands them back to the model's window for the next one.
pub fn score_window(spec: &ModelSpec, reference: &Reference, window: &mut FullWindow) -> WindowReport {
    let started = Instant::now();
    let eps = spec.config.eps.get();
    // Small windows are cheaper scored in sequence than spread over threads.
    let min_len = (8192 / window.rows.max(1)).max(1);
    // Multivariate methods read whole rows, so the window is encoded before scoring filters its
    // columns; then they run beside the per-feature scores.
    let encoded = reference.multivariate.as_ref().map(|m| (m, m.encode_window(&window.columns, &reference.features)));
    let seq = window.seq;
    let (multivariate, scored) = rayon::join(
        || encoded.map(|(m, x)| m.score(&x, seq)).unwrap_or_default(),
        || -> Vec<ColumnScores> {
            window
                .columns
                .par_iter_mut()
                .zip(window.missing.par_iter())
                .zip(spec.features.par_iter())
                .zip(reference.features.par_iter())
                .with_min_len(min_len)
                .map(|(((column, &missing), feature), fref)| score_column(column, missing, feature, fref, eps))
                .collect()
        },
    );
    let mut report = decide(spec, scored);
    report.multivariate = multivariate;
    report.seq = window.seq;
    report.samples = window.rows;
    report.started_at = window.started_at;
    report.scoring_seconds = started.elapsed().as_secs_f64();
    report
}

/// One feature's scores: the values that were not missing, and every method's score (`None` when
/// the window held no value of the feature).
pub(crate) struct ColumnScores {
    samples: usize,
    scores: Option<Vec<MethodScore>>,
}

/// Scores one feature's window column (`missing` of its values missing) against its reference,
/// filtering and sorting it in place. `driftwatch report` scores a file one column at a time
/// through this, so its numbers are the sidecar's.
pub(crate) fn score_column(
    column: &mut WindowColumn,
    missing: usize,
    feature: &Feature,
    fref: &FeatureReference,
    eps: f64,
) -> ColumnScores {
    match (column, fref) {
        (WindowColumn::Numeric(v), FeatureReference::Numeric(r)) => {
            if missing > 0 {
                v.retain(|x| !x.is_nan());
            }
            let scores = (!v.is_empty()).then(|| drift::score_numeric(r, v, &feature.methods, eps));
            ColumnScores { samples: v.len(), scores }
        }
        (WindowColumn::Categorical(c), FeatureReference::Categorical(r)) => {
            if missing > 0 {
                c.retain(|&x| x != MISSING_CODE);
            }
            let scores = (!c.is_empty()).then(|| drift::score_categorical(r, c, &feature.methods, eps));
            ColumnScores { samples: c.len(), scores }
        }
        _ => unreachable!("window columns are built from the reference's kinds"),
    }
}

/// The decision across every feature's scores (multiple-testing correction, drift share), as a
/// report; window metadata (seq, rows, timings) is the caller's to fill in.
pub(crate) fn decide(spec: &ModelSpec, scored: Vec<ColumnScores>) -> WindowReport {
    let cfg = &spec.config;
    let (samples, scores): (Vec<usize>, Vec<Option<Vec<MethodScore>>>) =
        scored.into_iter().map(|c| (c.samples, c.scores)).unzip();
    let Decision { flagged, feature_drift, share, model_drift } = drift::decide(&scores, &cfg.rule);
    let features = spec
        .features
        .iter()
        .zip(samples.into_iter().zip(scores))
        .zip(flagged.into_iter().zip(feature_drift))
        .map(|((feature, (samples, scores)), (flags, drifted))| FeatureReport {
            name: feature.name.clone(),
            samples,
            drifted,
            bin_counts: Vec::new(),
            scores: scores
                .unwrap_or_default()
                .into_iter()
                .zip(flags)
                .map(|(s, drifted)| ScoreReport {
                    method: s.method,
                    score: s.score,
                    pvalue: s.pvalue,
                    threshold: cfg
                        .rule
                        .thresholds
                        .get(&s.method)
                        .copied()
                        .unwrap_or_else(|| s.method.default_threshold()),
                    drifted,
                })
                .collect(),
        })
        .collect();
    WindowReport {
        seq: 0,
        samples: 0,
        started_at: 0.0,
        completed_at: unix_now(),
        scoring_seconds: 0.0,
        drift_share: share,
        model_drift,
        features,
        multivariate: Vec::new(),
    }
}
