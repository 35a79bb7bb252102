//! Drift statistics as pure functions over slices: no HTTP, locks or metrics here.
//!
//! A reference is *fitted* once ([`NumericReference::fit`], [`CategoricalReference::fit`]: sorted copy,
//! bin edges, category table) and each window is then *scored* against it ([`score_numeric`],
//! [`score_categorical`]); [`decide`] turns the scores of all features of a model into per-feature and
//! per-model verdicts with a multiple-testing correction.

pub mod chi2;
pub mod correction;
pub mod distance;
pub mod kolmogorov;
pub mod ks;
pub mod psi;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use correction::Correction;

/// What a feature holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

/// A drift statistic. `Ks` and `Chi2` are hypothesis tests (a p-value against alpha); the others are
/// distances compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Psi,
    Ks,
    Chi2,
    Wasserstein,
    #[serde(alias = "js")]
    Jensenshannon,
}

impl Method {
    pub const ALL: [Method; 5] = [Method::Psi, Method::Ks, Method::Chi2, Method::Wasserstein, Method::Jensenshannon];

    /// The `method` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Psi => "psi",
            Method::Ks => "ks",
            Method::Chi2 => "chi2",
            Method::Wasserstein => "wasserstein",
            Method::Jensenshannon => "jensenshannon",
        }
    }

    /// Hypothesis tests flag drift when the (corrected) p-value is at most alpha.
    pub fn is_test(self) -> bool {
        matches!(self, Method::Ks | Method::Chi2)
    }

    pub fn supports(self, kind: FeatureKind) -> bool {
        match self {
            Method::Psi | Method::Jensenshannon => true,
            Method::Ks | Method::Wasserstein => kind == FeatureKind::Numeric,
            Method::Chi2 => kind == FeatureKind::Categorical,
        }
    }

    /// PSI + KS for numbers, PSI + chi-squared for categories.
    pub fn defaults(kind: FeatureKind) -> Vec<Method> {
        match kind {
            FeatureKind::Numeric => vec![Method::Psi, Method::Ks],
            FeatureKind::Categorical => vec![Method::Psi, Method::Chi2],
        }
    }

    /// The threshold used when the config sets none: PSI 0.2 ("significant shift" in the credit-risk
    /// literature), alpha 0.05 for the tests, 0.1 for the Jensen–Shannon distance (Evidently's default),
    /// 0.1 for Wasserstein (in the feature's own units: set it per model).
    pub fn default_threshold(self) -> f64 {
        match self {
            Method::Psi => 0.2,
            Method::Ks | Method::Chi2 => 0.05,
            Method::Wasserstein | Method::Jensenshannon => 0.1,
        }
    }
}

/// A numeric reference prepared for scoring.
#[derive(Debug, Clone)]
pub struct NumericReference {
    pub sorted: Vec<f64>,
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl NumericReference {
    /// Fits from finite values (the caller drops missing ones). `None` for an empty sample.
    pub fn fit(mut values: Vec<f64>, bins: usize) -> Option<Self> {
        debug_assert!(values.iter().all(|v| v.is_finite()));
        if values.is_empty() {
            return None;
        }
        crate::kernels::sort_values(&mut values);
        let edges = psi::quantile_edges(&values, bins);
        let counts = psi::bin_counts(&values, &edges);
        Some(NumericReference { sorted: values, edges, counts })
    }
}

/// A categorical reference: one bin per category seen in the reference, in sorted order, plus a last
/// bin for categories the reference never saw.
#[derive(Debug, Clone)]
pub struct CategoricalReference {
    pub categories: Vec<String>,
    index: HashMap<String, u32>,
    pub counts: Vec<u64>,
}

impl CategoricalReference {
    pub fn fit<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut tally: HashMap<&str, u64> = HashMap::new();
        for v in values {
            *tally.entry(v).or_default() += 1;
        }
        if tally.is_empty() {
            return None;
        }
        let mut categories: Vec<String> = tally.keys().map(|s| s.to_string()).collect();
        categories.sort();
        let mut counts: Vec<u64> = categories.iter().map(|c| tally[c.as_str()]).collect();
        counts.push(0);
        let index = categories.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect();
        Some(CategoricalReference { categories, index, counts })
    }

    /// The bin of a category: its reference index, or the unseen bin.
    pub fn code(&self, category: &str) -> u32 {
        self.index.get(category).copied().unwrap_or(self.categories.len() as u32)
    }

    pub fn bins(&self) -> usize {
        self.counts.len()
    }
}

/// One statistic of one feature over one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MethodScore {
    pub method: Method,
    pub score: f64,
    pub pvalue: Option<f64>,
}

/// Scores a window of finite values against `reference`. `window` is sorted in place when a method
/// needs order statistics; it must be non-empty.
pub fn score_numeric(
    reference: &NumericReference,
    window: &mut [f64],
    methods: &[Method],
    eps: f64,
) -> Vec<MethodScore> {
    assert!(!window.is_empty());
    let sorted = methods.iter().any(|m| matches!(m, Method::Ks | Method::Wasserstein));
    if sorted {
        crate::kernels::sort_values(window);
    }
    let mut counts = Vec::new();
    if methods.iter().any(|m| matches!(m, Method::Psi | Method::Jensenshannon)) {
        counts = vec![0; reference.edges.len() + 1];
        // Once sorted, counting is a binary search per edge rather than a pass over the window.
        if sorted {
            crate::kernels::bin_counts_sorted(window, &reference.edges, &mut counts);
        } else {
            crate::kernels::bin_counts(window, &reference.edges, &mut counts);
        }
    }
    methods
        .iter()
        .map(|&method| match method {
            Method::Psi | Method::Jensenshannon => histogram_score(method, &reference.counts, &counts, eps),
            Method::Ks => {
                let r = ks::ks_2samp_sorted(&reference.sorted, window);
                MethodScore { method, score: r.statistic, pvalue: Some(r.pvalue) }
            }
            Method::Wasserstein => {
                MethodScore { method, score: distance::wasserstein_sorted(&reference.sorted, window), pvalue: None }
            }
            Method::Chi2 => unreachable!("config validation keeps chi2 off numeric features"),
        })
        .collect()
}

/// The methods that compare bin histograms (reference-quantile bins or categories).
fn histogram_score(method: Method, reference: &[u64], current: &[u64], eps: f64) -> MethodScore {
    let score = match method {
        Method::Psi => psi::psi_from_counts(reference, current, eps),
        Method::Jensenshannon => psi::jensenshannon_from_counts(reference, current),
        other => unreachable!("{other:?} does not compare histograms"),
    };
    MethodScore { method, score, pvalue: None }
}

/// Scores a window of category codes (from [`CategoricalReference::code`]); must be non-empty.
pub fn score_categorical(
    reference: &CategoricalReference,
    codes: &[u32],
    methods: &[Method],
    eps: f64,
) -> Vec<MethodScore> {
    assert!(!codes.is_empty());
    let mut counts = vec![0u64; reference.bins()];
    for &c in codes {
        counts[c as usize] += 1;
    }
    methods
        .iter()
        .map(|&method| match method {
            Method::Psi | Method::Jensenshannon => histogram_score(method, &reference.counts, &counts, eps),
            Method::Chi2 => {
                let r = chi2::chi2_contingency_2xk(&reference.counts, &counts);
                MethodScore { method, score: r.statistic, pvalue: Some(r.pvalue) }
            }
            Method::Ks | Method::Wasserstein => unreachable!("config validation keeps order statistics off categories"),
        })
        .collect()
}

/// How scores become verdicts.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRule {
    /// Per method: the distance threshold (score >= it is drift) or the alpha of a test.
    pub thresholds: HashMap<Method, f64>,
    pub correction: Correction,
    /// The model drifts when at least this share of its scored features drift (Evidently's
    /// `drift_share`).
    pub drift_share: f64,
}

/// The verdict for one window of one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Per feature (in input order), per method: did this method flag drift.
    pub flagged: Vec<Vec<bool>>,
    /// Per feature: flagged by any of its methods. Features without scores (an all-missing window) are
    /// `None` and left out of the share.
    pub feature_drift: Vec<Option<bool>>,
    pub share: f64,
    pub model_drift: bool,
}

/// Applies thresholds to distances and the correction to each test's family of p-values (one family
/// per method across the model's features, at that method's alpha).
pub fn decide(scores: &[Option<Vec<MethodScore>>], rule: &DecisionRule) -> Decision {
    let mut flagged: Vec<Vec<bool>> = scores.iter().map(|s| vec![false; s.as_ref().map_or(0, Vec::len)]).collect();
    for method in Method::ALL {
        let threshold = rule.thresholds.get(&method).copied().unwrap_or_else(|| method.default_threshold());
        let mut slots = Vec::new();
        let mut pvalues = Vec::new();
        for (f, s) in scores.iter().enumerate() {
            for (k, ms) in s.iter().flatten().enumerate().filter(|(_, ms)| ms.method == method) {
                if method.is_test() {
                    slots.push((f, k));
                    pvalues.push(ms.pvalue.unwrap_or(f64::NAN));
                } else {
                    flagged[f][k] = ms.score >= threshold;
                }
            }
        }
        for ((f, k), reject) in slots.into_iter().zip(rule.correction.reject(&pvalues, threshold)) {
            flagged[f][k] = reject;
        }
    }
    let feature_drift: Vec<Option<bool>> =
        scores.iter().zip(&flagged).map(|(s, fl)| s.as_ref().map(|_| fl.iter().any(|&x| x))).collect();
    let scored = feature_drift.iter().flatten().count();
    let drifted = feature_drift.iter().flatten().filter(|&&d| d).count();
    let share = if scored == 0 { 0.0 } else { drifted as f64 / scored as f64 };
    Decision { flagged, feature_drift, share, model_drift: scored > 0 && drifted > 0 && share >= rule.drift_share }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(method: Method, score: f64, pvalue: Option<f64>) -> MethodScore {
        MethodScore { method, score, pvalue }
    }

    #[test]
    fn bonferroni_across_features_unflags_a_marginal_test() {
        let scores = vec![
            Some(vec![ms(Method::Psi, 0.01, None), ms(Method::Ks, 0.1, Some(0.03))]),
            Some(vec![ms(Method::Psi, 0.5, None), ms(Method::Ks, 0.3, Some(1e-9))]),
            None,
        ];
        let rule = DecisionRule { thresholds: HashMap::new(), correction: Correction::Bonferroni, drift_share: 0.5 };
        let d = decide(&scores, &rule);
        // 0.03 > 0.05 / 2, so feature 0 is not flagged; feature 1 is flagged by both methods.
        assert_eq!(d.flagged, vec![vec![false, false], vec![true, true], vec![]]);
        assert_eq!(d.feature_drift, vec![Some(false), Some(true), None]);
        assert_eq!(d.share, 0.5);
        assert!(d.model_drift);
    }

    #[test]
    fn unseen_categories_share_one_bin() {
        let r = CategoricalReference::fit(["b", "a", "b"]).unwrap();
        assert_eq!(r.categories, vec!["a", "b"]);
        assert_eq!(r.counts, vec![1, 2, 0]);
        assert_eq!((r.code("a"), r.code("b"), r.code("zzz")), (0, 1, 2));
    }
}
