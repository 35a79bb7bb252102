//! The monitored models: a validated [`batch::Batch`] is appended to its model's window
//! ([`model`], [`window`]), each window that filled is scored against the fitted [`reference`]
//! ([`score`], over `driftwatch_stats`), and the [`report`] is published to the metrics. State
//! survives restarts through [`snapshot`].
//!
//! May import: `config`, `metrics`, the leaves (`clock`, `digest`, `durable`, `error`) and
//! `driftwatch_stats`. Knows nothing of HTTP routes, series or retraining.

pub mod batch;
pub mod model;
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
    #[error("the models export {label_sets} feature label sets (feature × method), over server.max_label_sets = {max}")]
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
        models.insert(spec.config.name.clone(), Arc::new(ModelState::new(spec, reference)));
    }
    let label_sets: usize =
        models.values().map(|m| m.spec.features.iter().map(|f| f.methods.len() + 1).sum::<usize>()).sum();
    if label_sets > config.server.max_label_sets {
        return Err(LoadError::TooManyLabelSets { label_sets, max: config.server.max_label_sets });
    }
    Ok(models)
}
