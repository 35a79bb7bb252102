//! The monitored models: a validated [`batch::Batch`] is appended to its model's window
//! ([`model`], [`window`]), each window that filled is scored against the fitted [`reference`]
//! ([`score`], over `driftwatch_stats`), and the [`report`] is published to the metrics. State
//! survives restarts through [`snapshot`].
//!
//! May import: `config`, `metrics`, the leaves (`clock`, `digest`, `durable`, `error`) and
//! `driftwatch_stats`. Knows nothing of HTTP routes, series or retraining.

pub mod batch;
pub mod model;
pub mod multivariate;
pub mod performance;
pub(crate) mod profile;
pub mod reference;
pub mod report;
pub mod score;
pub mod snapshot;
pub mod window;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Config;
use crate::metrics::Metrics;
use model::ModelState;
use reference::ReferenceError;
pub(crate) use snapshot::Models;

/// Why the models could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(
        "the models export {label_sets} label sets (feature × method, exported bins × 2, multivariate methods × 4), over server.max_label_sets = {max}"
    )]
    TooManyLabelSets { label_sets: usize, max: usize },
}

/// Loads every model's reference and creates its series up front, so dashboards and alerts see zeros,
/// not absence. Fails on the first unreadable reference: a sidecar that silently skips a model is
/// worse than one that refuses to start.
pub(crate) fn load(config: &Config, metrics: &Metrics) -> Result<Models, LoadError> {
    let mut models = BTreeMap::new();
    for mc in &config.models {
        let (spec, reference) = reference::load_model(mc.clone())?;
        let ml = Metrics::model(&spec.config.name);
        metrics.reference_samples.get_or_create(&ml).set(reference.as_ref().map_or(0, |r| r.samples) as i64);
        metrics.samples.get_or_create(&ml).inc_by(0);
        metrics.windows.get_or_create(&ml).inc_by(0);
        metrics.window_samples.get_or_create(&ml).set(0);
        metrics.model_drift.get_or_create(&ml).set(0);
        metrics.drift_share.get_or_create(&ml).set(0.0);
        tracing::info!(
            model = %spec.config.name,
            features = spec.features.len(),
            reference_rows = reference.as_ref().map_or(0, |r| r.samples),
            window = spec.config.window,
            "model loaded"
        );
        let state = ModelState::new(spec, reference);
        if state.exports_bins() {
            export_reference_bins(&state, metrics);
        }
        models.insert(state.spec.config.name.clone(), Arc::new(state));
    }
    // Per feature: its methods' scores and its verdict; per exported bin: the window count and the
    // reference share; per multivariate method: score, threshold, p-value, verdict.
    let label_sets: usize = models
        .values()
        .map(|m| {
            let features: usize = m.spec.features.iter().map(|f| f.methods.len() + 1).sum();
            let bins: usize = m.bin_labels().iter().map(|b| 2 * b.len()).sum();
            let multivariate = m.spec.config.multivariate.as_ref().map_or(0, |c| 4 * c.methods.len());
            features + bins + multivariate
        })
        .sum();
    if label_sets > config.server.max_label_sets {
        return Err(LoadError::TooManyLabelSets { label_sets, max: config.server.max_label_sets });
    }
    Ok(models)
}

/// The reference's share of each bin, and the PSI floor, for fleet-wide drift rules: fixed by the
/// reference file, so set once.
fn export_reference_bins(state: &ModelState, metrics: &Metrics) {
    use crate::metrics::BinLabels;
    let Some(reference) = state.reference() else { return };
    let name = state.name().to_owned();
    metrics.psi_eps.get_or_create(&Metrics::model(&name)).set(state.spec.config.eps.get());
    for ((feature, fref), labels) in state.spec.features.iter().zip(&reference.features).zip(state.bin_labels()) {
        let counts = match fref {
            reference::FeatureReference::Numeric(r) => &r.counts,
            reference::FeatureReference::Categorical(r) => &r.counts,
        };
        let total: u64 = counts.iter().sum();
        for (bin, &c) in labels.iter().zip(counts) {
            let l = BinLabels { model_name: name.clone(), feature: feature.name.clone(), bin: bin.clone() };
            metrics.reference_bin_share.get_or_create(&l).set(c as f64 / total.max(1) as f64);
            metrics.window_bin_count.get_or_create(&l).set(0);
        }
    }
}
