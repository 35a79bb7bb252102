//! `[model.multivariate]`: which multivariate drift detectors a model runs on each window, and
//! the bounds that keep their cost per window bounded (subsample sizes, permutations).

use driftwatch_stats::bounds::Bound;
use serde::{Deserialize, Serialize};

use super::check::Scope;
use super::check_name;

/// A multivariate detector (the `method` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultivariateMethod {
    /// PCA reconstruction error against the reference chunks' band (NannyML).
    Pca,
    /// Cross-validated AUC of a classifier telling window rows from reference rows.
    Classifier,
    /// Maximum mean discrepancy with a permutation p-value (alibi-detect).
    Mmd,
}

impl MultivariateMethod {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MultivariateMethod::Pca => "pca",
            MultivariateMethod::Classifier => "classifier",
            MultivariateMethod::Mmd => "mmd",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMultivariate {
    methods: Vec<MultivariateMethod>,
    #[serde(default)]
    features: Vec<String>,
    variance_share: Option<f64>,
    sigmas: Option<f64>,
    auc_threshold: Option<f64>,
    classifier_max_rows: Option<u64>,
    mmd_max_rows: Option<u64>,
    mmd_permutations: Option<u64>,
    mmd_alpha: Option<f64>,
}

/// A model's validated `[model.multivariate]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultivariateConfig {
    pub methods: Vec<MultivariateMethod>,
    /// Empty: every feature of the model.
    pub features: Vec<String>,
    /// PCA keeps the fewest components explaining more than this share of the variance.
    pub variance_share: f64,
    /// PCA flags a window whose error is outside the reference chunks' mean ± this many SDs.
    pub sigmas: f64,
    /// The classifier flags a window whose cross-validated AUC exceeds this.
    pub auc_threshold: f64,
    /// Rows per side the classifier trains on (reference and window are subsampled to it).
    pub classifier_max_rows: usize,
    /// Rows per side of the MMD's kernel matrix ((2 × this)² entries).
    pub mmd_max_rows: usize,
    pub mmd_permutations: usize,
    /// MMD flags a window whose permutation p-value is below this.
    pub mmd_alpha: f64,
}

impl Default for MultivariateConfig {
    /// NannyML's defaults for PCA (0.65 of the variance, 3 SDs) and the domain classifier (AUC
    /// 0.65); alibi-detect's alpha; subsamples that keep a window's cost to tens of milliseconds.
    fn default() -> Self {
        MultivariateConfig {
            methods: Vec::new(),
            features: Vec::new(),
            variance_share: 0.65,
            sigmas: 3.0,
            auc_threshold: 0.65,
            classifier_max_rows: 2000,
            mmd_max_rows: 500,
            mmd_permutations: 100,
            mmd_alpha: 0.05,
        }
    }
}

const VARIANCE_SHARE: Bound<f64> = Bound::between(0.01, 1.0);
const SIGMAS: Bound<f64> = Bound::between(0.1, 100.0);
const AUC: Bound<f64> = Bound::between(0.5, 1.0);
const CLASSIFIER_ROWS: Bound<u64> = Bound::between(50, 100_000);
const MMD_ROWS: Bound<u64> = Bound::between(10, 5_000);
const PERMUTATIONS: Bound<u64> = Bound::between(10, 10_000);
const ALPHA: Bound<f64> = Bound::strictly_between(0.0, 1.0);

pub(crate) fn validate_multivariate(
    raw: Option<RawMultivariate>,
    features: &[super::FeatureConfig],
    at: &mut Scope<'_>,
) -> Option<Option<MultivariateConfig>> {
    let Some(r) = raw else { return Some(None) };
    let mut at = at.nested("multivariate");
    let before = at.count();
    let d = MultivariateConfig::default();
    if r.methods.is_empty() {
        at.report("methods", "name at least one of \"pca\", \"classifier\", \"mmd\"");
    }
    let mut methods = r.methods.clone();
    methods.sort();
    if methods.windows(2).any(|w| w[0] == w[1]) {
        at.report("methods", "a method is listed twice");
    }
    for (i, name) in r.features.iter().enumerate() {
        at.ok(&format!("features[{i}]"), check_name(name));
        if !features.is_empty() && !features.iter().any(|f| &f.name == name) {
            at.report(&format!("features[{i}]"), format!("{name:?} is not one of the model's features"));
        }
    }
    if r.features.len() == 1 {
        at.report("features", "multivariate drift needs at least two features");
    }
    let cfg = MultivariateConfig {
        methods: r.methods,
        features: r.features,
        variance_share: at.setting("variance_share", r.variance_share, VARIANCE_SHARE, d.variance_share),
        sigmas: at.setting("sigmas", r.sigmas, SIGMAS, d.sigmas),
        auc_threshold: at.setting("auc_threshold", r.auc_threshold, AUC, d.auc_threshold),
        classifier_max_rows: at.setting(
            "classifier_max_rows",
            r.classifier_max_rows,
            CLASSIFIER_ROWS,
            d.classifier_max_rows as u64,
        ) as usize,
        mmd_max_rows: at.setting("mmd_max_rows", r.mmd_max_rows, MMD_ROWS, d.mmd_max_rows as u64) as usize,
        mmd_permutations: at.setting("mmd_permutations", r.mmd_permutations, PERMUTATIONS, d.mmd_permutations as u64)
            as usize,
        mmd_alpha: at.setting("mmd_alpha", r.mmd_alpha, ALPHA, d.mmd_alpha),
    };
    if at.count() > before { None } else { Some(Some(cfg)) }
}
