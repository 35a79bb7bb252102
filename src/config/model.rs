//! `[[model]]`: the reference, the window, the statistics and their thresholds, the features.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use driftwatch_stats::bounds::{Bound, OutOfBounds};
use driftwatch_stats::drift::{DecisionRule, FeatureKind, Method};
use serde::Serialize;

use super::check::Scope;
use super::multivariate::{MultivariateConfig, validate_multivariate};
use super::oip::{OipConfig, validate_oip};
use super::performance::{PerformanceConfig, validate_performance};
use super::raw::RawModel;
use super::retrain::{RetrainConfig, validate_retrain};
use super::series::{AnomalyConfig, validate_anomaly};
use super::{Base, EMBEDDED_FILES, check_name};

const WINDOW: Bound<u64> = Bound::between(2, 50_000_000);
const WARMUP: Bound<u64> = Bound::between(1, 50_000_000);
const DRIFT_SHARE: Bound<f64> = Bound::between(0.0, 1.0);

/// Number of PSI bins: 2 to 255 (bin indices are bytes in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bins(u8);

impl Bins {
    const BOUND: Bound<u32> = Bound::between(2, 255);

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl TryFrom<u32> for Bins {
    type Error = OutOfBounds;
    fn try_from(v: u32) -> Result<Self, OutOfBounds> {
        Bins::BOUND.check(v).map(|v| Bins(v as u8))
    }
}

/// Floor for bin proportions in PSI: strictly between 0 and 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Eps(f64);

impl Eps {
    const BOUND: Bound<f64> = Bound::strictly_between(0.0, 0.5);

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Eps {
    type Error = OutOfBounds;
    fn try_from(v: f64) -> Result<Self, OutOfBounds> {
        Eps::BOUND.check(v).map(Eps)
    }
}

/// A method's threshold: an alpha in (0, 1) for tests, a finite non-negative distance otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Threshold(f64);

impl Threshold {
    fn bound(method: Method) -> Bound<f64> {
        if method.is_test() { Bound::strictly_between(0.0, 1.0) } else { Bound::at_least(0.0) }
    }
}

impl TryFrom<(Method, f64)> for Threshold {
    type Error = OutOfBounds;
    fn try_from((method, v): (Method, f64)) -> Result<Self, OutOfBounds> {
        Threshold::bound(method).check(v).map(Threshold)
    }
}

/// Where a reference comes from.
#[derive(Debug, Clone)]
pub enum ReferenceSource {
    File(PathBuf),
    Embedded { name: &'static str, bytes: &'static [u8] },
}

impl fmt::Display for ReferenceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceSource::File(p) => write!(f, "{}", p.display()),
            ReferenceSource::Embedded { name, .. } => write!(f, "embedded:{name}"),
        }
    }
}

/// A feature as configured (kind may still be inferred from the reference).
#[derive(Debug, Clone, Serialize)]
pub struct FeatureConfig {
    pub name: String,
    pub kind: Option<FeatureKind>,
    pub methods: Option<Vec<Method>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    pub name: String,
    pub version: String,
    #[serde(serialize_with = "ser_display_opt")]
    pub reference: Option<ReferenceSource>,
    pub window: usize,
    pub step: usize,
    pub warmup: usize,
    pub bins: Bins,
    pub eps: Eps,
    pub rule: DecisionRule,
    /// Empty: every column of the reference.
    pub features: Vec<FeatureConfig>,
    pub retrain: Option<RetrainConfig>,
    /// Settings for the series this model pushes (defaults when `[model.anomaly]` is absent).
    pub anomaly: AnomalyConfig,
    /// `[model.multivariate]`, when set.
    pub multivariate: Option<MultivariateConfig>,
    /// Export each feature's window bin counts and reference bin shares, for fleet-wide drift.
    pub export_bins: bool,
    /// `[model.performance]`, when set: predictions joined to delayed labels.
    pub performance: Option<PerformanceConfig>,
    /// `[model.oip]`, when set: how Open Inference Protocol / KServe tensors map onto the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oip: Option<OipConfig>,
}

fn ser_display_opt<S: serde::Serializer>(v: &Option<ReferenceSource>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(r) => s.serialize_some(&r.to_string()),
        None => s.serialize_none(),
    }
}

pub(crate) fn validate_model(m: RawModel, base: &Base, at: &mut Scope<'_>) -> Option<ModelConfig> {
    let before = at.count();
    at.ok("name", check_name(&m.name));
    let window = at.bounded("window", m.window, WINDOW);
    let step = m.step.unwrap_or(m.window);
    if let Some(window) = window {
        at.bounded("step", step, Bound::between(1, window));
    }
    let warmup = m.warmup.unwrap_or(0);
    match (&m.reference, warmup) {
        (Some(_), w) if w > 0 => at.report("warmup", "set either reference or warmup, not both"),
        (None, 0) => at.report("reference", "required unless warmup = N gives the first N samples as reference"),
        (None, w) => {
            at.bounded("warmup", w, WARMUP);
            for (i, f) in m.features.iter().enumerate() {
                if f.kind.is_none() {
                    at.report(&format!("features[{i}].kind"), "required when the reference comes from warmup");
                }
            }
            if m.features.is_empty() {
                at.report("features", "list the features (name and kind) when the reference comes from warmup");
            }
        }
        _ => {}
    }
    let bins = at.ok("bins", Bins::try_from(m.bins));
    let eps = at.ok("eps", Eps::try_from(m.eps));
    at.bounded("drift_share", m.drift_share, DRIFT_SHARE);
    let mut thresholds = HashMap::new();
    for (&method, &v) in &m.thresholds {
        if let Some(t) = at.ok(&format!("thresholds.{}", method.as_str()), Threshold::try_from((method, v))) {
            thresholds.insert(method, t.0);
        }
    }
    let mut seen = HashSet::new();
    for (i, f) in m.features.iter().enumerate() {
        at.ok(&format!("features[{i}].name"), check_name(&f.name));
        if !seen.insert(f.name.as_str()) {
            at.report(&format!("features[{i}].name"), format!("feature {:?} listed twice", f.name));
        }
        if let Some(methods) = &f.methods {
            if methods.is_empty() {
                at.report(&format!("features[{i}].methods"), "must name at least one method");
            }
            if let Some(kind) = f.kind {
                for method in methods.iter().filter(|m| !m.supports(kind)) {
                    at.report(
                        &format!("features[{i}].methods"),
                        format!("{} does not apply to {kind:?} features", method.as_str()),
                    );
                }
            }
        }
    }
    // On the raw tables, so it is reported beside any other problem of either.
    if let (Some(r), Some(allow)) = (&m.retrain, m.anomaly.as_ref().and_then(|a| a.series.as_ref())) {
        // An allow-list names every series the model may push: a name outside it could never fire.
        for (i, name) in r.anomaly_series.iter().enumerate() {
            if !allow.is_empty() && !allow.contains(name) {
                at.report(
                    &format!("retrain.anomaly_series[{i}]"),
                    format!("{name:?} is not in anomaly.series {allow:?}"),
                );
            }
        }
    }
    let retrain = m.retrain.and_then(|r| validate_retrain(r, base, at));
    let anomaly = validate_anomaly(m.anomaly, at);
    let features_cfg: Vec<FeatureConfig> = m
        .features
        .iter()
        .map(|f| FeatureConfig { name: f.name.clone(), kind: f.kind, methods: f.methods.clone() })
        .collect();
    let performance = validate_performance(m.performance, at);
    let oip = validate_oip(m.oip, &features_cfg, performance.as_ref().and_then(Option::as_ref), at);
    let has_multivariate = m.multivariate.is_some();
    let multivariate = validate_multivariate(m.multivariate, &features_cfg, at);
    if has_multivariate {
        // Fewer rows leave the band, the folds and the kernel matrix without a sample.
        const MULTIVARIATE_ROWS: u64 = 20;
        if m.window < MULTIVARIATE_ROWS {
            at.report(
                "window",
                format!("must be at least {MULTIVARIATE_ROWS} with [model.multivariate], got {}", m.window),
            );
        }
        if m.reference.is_none() && warmup > 0 && warmup < MULTIVARIATE_ROWS {
            at.report(
                "warmup",
                format!("must be at least {MULTIVARIATE_ROWS} with [model.multivariate], got {warmup}"),
            );
        }
    }
    if !has_multivariate && retrain.as_ref().is_some_and(|r| r.triggers.contains(&super::Trigger::Multivariate)) {
        at.report("retrain.triggers", "\"multivariate\" needs a [model.multivariate] table");
    }
    let wants_performance = retrain.as_ref().is_some_and(|r| r.triggers.contains(&super::Trigger::Performance));
    let has_target = performance.as_ref().is_some_and(|p| p.as_ref().is_some_and(|p| p.accuracy_target.is_some()));
    if wants_performance && !has_target {
        at.report("retrain.triggers", "\"performance\" needs [model.performance] accuracy_target");
    }
    if performance.as_ref().is_some_and(|p| p.as_ref().is_some_and(|p| p.estimate)) && m.reference.is_none() {
        at.report(
            "performance.estimate",
            "needs a reference file with labelled predictions (label, prediction, probability columns)",
        );
    }
    if m.export_bins && m.reference.is_none() {
        // Every replica must count into the same bins; a warmup reference is each replica's own.
        at.report(
            "export_bins",
            "needs a reference file (the same on every replica); a warmup reference differs per replica",
        );
    }
    let reference = m.reference.as_ref().map(|r| match base {
        Base::Dir(dir) => ReferenceSource::File(dir.join(r)),
        Base::Embedded => match EMBEDDED_FILES.iter().find(|(n, _)| *n == r.as_str()) {
            Some((name, bytes)) => ReferenceSource::Embedded { name, bytes },
            None => ReferenceSource::File(PathBuf::from(r)),
        },
    });
    if at.count() > before {
        return None;
    }
    Some(ModelConfig {
        name: m.name,
        version: m.version,
        reference,
        window: window? as usize,
        step: step as usize,
        warmup: warmup as usize,
        bins: bins?,
        eps: eps?,
        rule: DecisionRule { thresholds, correction: m.correction, drift_share: m.drift_share },
        features: features_cfg,
        retrain,
        anomaly: anomaly?,
        multivariate: multivariate?,
        export_bins: m.export_bins,
        performance: performance?,
        oip: oip?,
    })
}
