//! A model's multivariate drift: the reference side fitted once (the encoder, PCA and its band
//! over reference chunks of the window's size, the reference subsamples the classifier and MMD
//! compare with, MMD's bandwidth) and each window scored against it before the per-feature
//! scoring filters the window's columns (the methods need whole rows).

use driftwatch_stats::multivariate::classifier::{ClassifierSettings, cross_validated_auc};
use driftwatch_stats::multivariate::encode::{Column, Encoder};
use driftwatch_stats::multivariate::mmd::{median_sigma, mmd_test};
use driftwatch_stats::multivariate::pca::{Band, Pca, chunk_errors};
use driftwatch_stats::multivariate::{Matrix, SplitMix64};

use super::reference::{Feature, FeatureReference, Values};
use super::report::MultivariateReport;
use super::window::WindowColumn;
use crate::config::{MultivariateConfig, MultivariateMethod};

/// The reference side of a model's multivariate methods.
#[derive(Debug)]
pub struct MultivariateReference {
    config: MultivariateConfig,
    /// Indices into the model's features of the matrix's columns.
    features: Vec<usize>,
    encoder: Encoder,
    pca: Option<(Pca, Band)>,
    classifier_sample: Matrix,
    mmd_sample: Matrix,
    /// alibi-detect infers the bandwidth once, from the reference against itself.
    mmd_sigma: f64,
}

/// Encoder columns over borrowed numbers and owned category codes.
fn columns<'a>(
    features: &[usize],
    numbers: &'a [Option<&'a [f64]>],
    codes: &'a [Option<(Vec<u32>, usize)>],
) -> Vec<Column<'a>> {
    features
        .iter()
        .map(|&i| match (&numbers[i], &codes[i]) {
            (Some(v), _) => Column::Numeric(v),
            (None, Some((c, categories))) => Column::Categorical { codes: c, categories: *categories },
            (None, None) => unreachable!("every feature is numbers or codes"),
        })
        .collect()
}

impl MultivariateReference {
    /// Fits on the reference's raw columns (model feature order). `None` with fewer than two
    /// reference rows (nothing to fit a covariance from; config validation asks for more).
    pub(crate) fn fit(
        config: &MultivariateConfig,
        spec: &[Feature],
        raw: &[Values],
        fitted: &[FeatureReference],
        window: usize,
    ) -> Option<MultivariateReference> {
        let features: Vec<usize> = if config.features.is_empty() {
            (0..spec.len()).collect()
        } else {
            config.features.iter().filter_map(|n| spec.iter().position(|f| &f.name == n)).collect()
        };
        let rows = raw.first().map_or(0, Values::len);
        if rows < 2 || features.len() < 2 {
            return None;
        }
        let numbers: Vec<Option<&[f64]>> = raw
            .iter()
            .map(|v| match v {
                Values::Numeric(v) => Some(v.as_slice()),
                Values::Categorical(_) => None,
            })
            .collect();
        let codes: Vec<Option<(Vec<u32>, usize)>> = raw
            .iter()
            .zip(fitted)
            .map(|(v, f)| match (v, f) {
                (Values::Categorical(v), FeatureReference::Categorical(r)) => Some((
                    v.iter().map(|c| c.as_deref().map_or(super::window::MISSING_CODE, |c| r.code(c))).collect(),
                    r.categories.len(),
                )),
                _ => None,
            })
            .collect();
        let cols = columns(&features, &numbers, &codes);
        let encoder = Encoder::fit(&cols)?;
        let x = encoder.transform(&cols);
        let pca = config.methods.contains(&MultivariateMethod::Pca).then(|| {
            let pca = Pca::fit(&x, config.variance_share);
            let band = Band::from_errors(&chunk_errors(&pca, &x, window), config.sigmas)
                .expect("a reference with rows has a chunk");
            (pca, band)
        });
        let mut rng = SplitMix64::new(0x6472_6966_7477_6174);
        let sample = |rng: &mut SplitMix64, k: usize| {
            let mut idx = rng.sample_indices(x.rows, k);
            // A random order, so that the first rows of a sample are a sample too.
            rng.shuffle(&mut idx);
            x.select(&idx)
        };
        let classifier_sample = if config.methods.contains(&MultivariateMethod::Classifier) {
            sample(&mut rng, config.classifier_max_rows)
        } else {
            Matrix::new(0, x.cols, Vec::new())
        };
        let (mmd_sample, mmd_sigma) = if config.methods.contains(&MultivariateMethod::Mmd) {
            let s = sample(&mut rng, config.mmd_max_rows);
            let sigma = median_sigma(&s, &s);
            (s, sigma)
        } else {
            (Matrix::new(0, x.cols, Vec::new()), 1.0)
        };
        Some(MultivariateReference {
            config: config.clone(),
            features,
            encoder,
            pca,
            classifier_sample,
            mmd_sample,
            mmd_sigma,
        })
    }

    /// The window's rows as the encoder's matrix (read before the window's columns are filtered).
    pub(crate) fn encode_window(&self, window: &[WindowColumn], fitted: &[FeatureReference]) -> Matrix {
        let cols: Vec<Column<'_>> = self
            .features
            .iter()
            .map(|&i| match (&window[i], &fitted[i]) {
                (WindowColumn::Numeric(v), _) => Column::Numeric(v),
                (WindowColumn::Categorical(c), FeatureReference::Categorical(r)) => {
                    Column::Categorical { codes: c, categories: r.categories.len() }
                }
                (WindowColumn::Categorical(_), FeatureReference::Numeric(_)) => {
                    unreachable!("window columns are built from the reference's kinds")
                }
            })
            .collect();
        self.encoder.transform(&cols)
    }

    /// Every configured method's verdict on the encoded window `x`; `seed` (the window's
    /// sequence number) fixes subsamples, folds and permutations, so a window always scores the same.
    pub(crate) fn score(&self, x: &Matrix, seed: u64) -> Vec<MultivariateReport> {
        let mut rng = SplitMix64::new(seed ^ 0x9E37_79B9_7F4A_7C15);
        let mut subsample = |k: usize| -> Matrix {
            if x.rows <= k {
                return x.clone();
            }
            x.select(&rng.sample_indices(x.rows, k))
        };
        let mut out = Vec::with_capacity(self.config.methods.len());
        for &method in &self.config.methods {
            let report = match method {
                MultivariateMethod::Pca => {
                    let (pca, band) = self.pca.as_ref().expect("fitted when configured");
                    let error = pca.error(x);
                    MultivariateReport {
                        method,
                        score: error,
                        threshold: band.upper,
                        lower_threshold: band.lower,
                        pvalue: None,
                        drifted: band.flags(error),
                        rows: x.rows,
                    }
                }
                MultivariateMethod::Classifier => {
                    let w = subsample(self.config.classifier_max_rows);
                    let Some(auc) =
                        cross_validated_auc(&self.classifier_sample, &w, ClassifierSettings::default(), seed)
                    else {
                        continue;
                    };
                    let t = self.config.auc_threshold;
                    MultivariateReport {
                        method,
                        score: auc,
                        threshold: t,
                        lower_threshold: None,
                        pvalue: None,
                        drifted: auc > t,
                        rows: w.rows,
                    }
                }
                MultivariateMethod::Mmd => {
                    let w = subsample(self.config.mmd_max_rows);
                    if w.rows < 2 || self.mmd_sample.rows < 2 {
                        continue;
                    }
                    let t = mmd_test(
                        &self.mmd_sample,
                        &w,
                        Some(self.mmd_sigma),
                        self.config.mmd_permutations,
                        self.config.mmd_alpha,
                        seed,
                    );
                    MultivariateReport {
                        method,
                        score: t.mmd2,
                        threshold: t.threshold,
                        lower_threshold: None,
                        pvalue: Some(t.pvalue),
                        drifted: t.pvalue < self.config.mmd_alpha,
                        rows: w.rows,
                    }
                }
            };
            out.push(report);
        }
        out
    }
}
