//! Retraining: when to ask ([`policy`], a pure state machine over injected time), what to ask
//! ([`planner`]: a published window or a firing alert put to the policy becomes a durable request),
//! how it reaches the retrain endpoint ([`webhook`]: body, signature, on-disk outbox, delivery with
//! retries), and the Alertmanager payloads that can start one ([`alertmanager`]).
//!
//! May import: `config`, `metrics`, `monitor::report` (the scores a request carries) and the leaves.

pub mod alertmanager;
pub(crate) mod planner;
pub(crate) mod policy;
pub mod webhook;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::monitor::Models;
use planner::{Retrainer, Target};
use webhook::client::{Delivery, Sleeper};
use webhook::outbox::Outbox;

/// Why retraining could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "[model.retrain] and [alertmanager] keep their outbox on disk: pass --data-dir DIR (or set server.data_dir)"
    )]
    NoDataDir,
    #[error("model {model:?}: retrain.features names unknown feature {feature:?}")]
    UnknownFeature { model: String, feature: String },
    #[error("data directory {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
}

/// Opens the data directory's outbox and policy state for the models with `[model.retrain]` (and
/// for `[alertmanager]`): the planner that writes requests, and the delivery that sends them (not
/// started: [`Delivery::spawn`]).
pub(crate) fn open(
    config: &Config,
    models: &Models,
    metrics: &Metrics,
    sleeper: Arc<dyn Sleeper>,
) -> Result<(Retrainer, Delivery), OpenError> {
    let dir: &Path = config.server.data_dir.as_deref().ok_or(OpenError::NoDataDir)?;
    let io = |source| OpenError::Io { dir: dir.display().to_string(), source };
    let mut targets = HashMap::new();
    for (name, model) in models {
        let Some(rc) = &model.spec.config.retrain else { continue };
        let features = if rc.features.is_empty() {
            None
        } else {
            let idx = rc
                .features
                .iter()
                .map(|f| {
                    model
                        .spec
                        .feature_index(f)
                        .ok_or_else(|| OpenError::UnknownFeature { model: name.clone(), feature: f.clone() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(idx)
        };
        let accuracy_target = model.spec.config.performance.as_ref().and_then(|p| p.accuracy_target);
        let target =
            Target { config: rc.clone(), version: model.spec.config.version.clone(), features, accuracy_target };
        targets.insert(name.clone(), target);
    }
    let outbox = Arc::new(Outbox::open(dir, metrics.webhook_pending.clone()).map_err(io)?);
    let configs = Arc::new(targets.iter().map(|(k, t)| (k.clone(), t.config.clone())).collect());
    let delivery = Delivery::new(outbox.clone(), configs, metrics.clone(), sleeper);
    let retrainer =
        Retrainer::open(dir, targets, outbox, metrics.clone(), config.server.instance.clone()).map_err(io)?;
    Ok((retrainer, delivery))
}
