//! One monitored model's state: its reference (from a file, or fitted from the warmup rows), its
//! current window, and its last published report. Appending a batch happens under a short lock and
//! hands out the windows that filled; scoring them ([`super::score`]) happens outside it; publishing
//! keeps the exported scores those of the newest window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::performance::{EstimateReport, Outcome, PerformanceReport, PerformanceState, Prediction, Predictions};
use super::profile::FeatureProfile;
use super::reference::{self, FeatureReference, ModelSpec, Reference, Values};
use super::report::WindowReport;
use super::window::{FullWindow, Warmup, Window};
use crate::clock::unix_now;
use crate::digest::key_from;
use crate::metrics::{BinLabels, FeatureLabels, Metrics, MultivariateLabels, PerformanceLabels, ScoreLabels};
use driftwatch_stats::drift::FeatureKind;

/// A monitored model: its spec, its reference and window, and its last published report.
pub(crate) struct ModelState {
    pub(crate) spec: ModelSpec,
    inner: Mutex<Inner>,
    published: Mutex<Option<Arc<WindowReport>>>,
    /// The bins of the newest window whose profile was kept (for the drift report); not in the
    /// snapshot, so after a restart it comes back with the next window.
    profiles: Mutex<Option<(u64, Arc<Vec<FeatureProfile>>)>>,
    /// Signalled on every publish, for a snapshot waiting for windows being scored.
    published_cv: Condvar,
    /// Bumped on every accepted batch, so the snapshot writer knows when there is something new.
    generation: AtomicU64,
    /// Per feature, the `bin` label of each reference bin; empty unless the model exports bins
    /// (which needs a file reference, so the bins are known from the start).
    bin_labels: Vec<Vec<String>>,
    /// Predictions waiting for labels and the joined rows (models with `[model.performance]`).
    performance: Mutex<PerformanceState>,
}

/// The `bin` label of each reference bin, per feature: the index for numbers, the category (and
/// `__unseen__` last) for categories.
pub(crate) fn bin_labels(reference: &Reference) -> Vec<Vec<String>> {
    reference
        .features
        .iter()
        .map(|f| match f {
            FeatureReference::Numeric(r) => (0..r.counts.len()).map(|i| i.to_string()).collect(),
            FeatureReference::Categorical(r) => {
                r.categories.iter().cloned().chain(std::iter::once("__unseen__".to_owned())).collect()
            }
        })
        .collect()
}

struct Inner {
    reference: Option<Arc<Reference>>,
    /// The warmup rows the reference was fitted from (kept so a snapshot can restore the reference).
    warmup_source: Option<Arc<Vec<Values>>>,
    warmup: Option<Warmup>,
    window: Option<Window>,
}

/// A model's state as the snapshot stores it: everything needed to continue where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ModelSnapshot {
    /// Digest of the config and reference the state belongs to; restored only if they match.
    pub(crate) shape: String,
    pub(crate) warmup_source: Option<Vec<Values>>,
    pub(crate) warmup: Option<Warmup>,
    pub(crate) window: Option<Window>,
    pub(crate) latest: Option<WindowReport>,
    /// Predictions waiting for labels, the partly joined window, the last evaluation.
    pub(crate) performance: Option<PerformanceState>,
}

/// Why a model's snapshot was not taken back (the model then starts empty).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestoreError {
    #[error("the model's configuration changed since the snapshot")]
    ConfigChanged,
    #[error("the model's configuration or reference changed since the snapshot")]
    ReferenceChanged,
    #[error("the snapshot's window does not fit the model")]
    WindowMismatch,
    #[error("the snapshot's warmup buffer does not fit the model")]
    WarmupMismatch,
    #[error("the snapshot's warmup reference rows do not fit the model")]
    WarmupSourceMismatch,
    #[error("the snapshot's last scores do not fit the model")]
    LatestMismatch,
    #[error("the snapshot's predictions and labels do not fit the model's [model.performance]")]
    PerformanceMismatch,
    #[error(transparent)]
    Refit(#[from] reference::EmptyFeature),
}

impl RestoreError {
    /// State no config could have produced (as opposed to a config changed since the snapshot).
    pub(crate) fn is_invalid_state(&self) -> bool {
        matches!(
            self,
            RestoreError::WindowMismatch
                | RestoreError::WarmupMismatch
                | RestoreError::WarmupSourceMismatch
                | RestoreError::LatestMismatch
                | RestoreError::PerformanceMismatch
        )
    }
}

/// What appending a batch produced.
pub(crate) struct Appended {
    pub(crate) windows: usize,
    pub(crate) window_samples: usize,
    pub(crate) reference_samples: usize,
}

impl Inner {
    /// (reference rows, rows in the current window or warmup buffer, heap bytes of the window).
    fn fill(&self) -> (usize, usize, usize) {
        let reference = self.reference.as_ref().map_or(0, |r| r.samples);
        match (&self.window, &self.warmup) {
            (Some(w), _) => (reference, w.rows(), w.bytes()),
            (None, Some(w)) => (reference, w.rows(), 0),
            _ => (reference, 0, 0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them half-updated (every update is a single
    // push or assignment), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ModelState {
    pub(crate) fn new(spec: ModelSpec, reference: Option<Reference>) -> Self {
        let cfg = &spec.config;
        let bin_labels = match (&reference, cfg.export_bins) {
            (Some(r), true) => bin_labels(r),
            _ => Vec::new(),
        };
        let (reference, warmup, window) = match reference {
            Some(r) => {
                let window = Window::new(cfg.window, cfg.step, &r);
                (Some(Arc::new(r)), None, Some(window))
            }
            None => (None, Some(Warmup::new(cfg.warmup, spec.features.iter().map(|f| f.kind))), None),
        };
        ModelState {
            inner: Mutex::new(Inner { reference, warmup_source: None, warmup, window }),
            published: Mutex::new(None),
            profiles: Mutex::new(None),
            published_cv: Condvar::new(),
            generation: AtomicU64::new(0),
            bin_labels,
            performance: Mutex::new(PerformanceState::default()),
            spec,
        }
    }

    /// Changes with every accepted batch.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Digest of what the state depends on: features, window shape, bins, and a file reference.
    fn shape(&self, reference_digest: Option<String>) -> String {
        let c = &self.spec.config;
        let mut parts = vec![c.window.to_string(), c.step.to_string(), c.warmup.to_string(), c.bins.get().to_string()];
        for f in &self.spec.features {
            parts.push(format!("{}:{:?}", f.name, f.kind));
        }
        parts.extend(reference_digest);
        key_from(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Copies the state out under the lock (a memcpy of the window; serialising happens outside).
    ///
    /// A window handed out for scoring is in neither the window nor the published report until its
    /// scores are published, so the copy waits (holding off new batches, not scoring) until every
    /// emitted window is published: otherwise a crash after the snapshot would lose that window.
    /// `None` if scoring does not catch up within `wait`.
    pub(crate) fn snapshot(&self, wait: Duration) -> Option<ModelSnapshot> {
        let inner = lock(&self.inner);
        let emitted = inner.window.as_ref().map_or(0, Window::emitted);
        let deadline = std::time::Instant::now() + wait;
        let mut published = lock(&self.published);
        while published.as_ref().map_or(0, |p| p.seq) < emitted {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            published = self.published_cv.wait_timeout(published, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        let latest = published.as_ref().map(|r| r.as_ref().clone());
        drop(published);
        let file_reference = inner.warmup_source.is_none().then(|| inner.reference.as_ref().map(|r| r.digest()));
        Some(ModelSnapshot {
            shape: self.shape(file_reference.flatten()),
            warmup_source: inner.warmup_source.as_ref().map(|w| w.as_ref().clone()),
            warmup: inner.warmup.clone(),
            window: inner.window.clone(),
            latest,
            performance: self.spec.config.performance.as_ref().map(|_| lock(&self.performance).clone()),
        })
    }

    /// Continues from a snapshot: refits a warmup reference, takes the window back, republishes the
    /// last scores. Refuses (changing nothing) a snapshot of another config or reference.
    pub(crate) fn restore(&self, snap: ModelSnapshot, metrics: &Metrics) -> Result<(), RestoreError> {
        let mut inner = lock(&self.inner);
        let cfg = &self.spec.config;
        let reference = match &snap.warmup_source {
            Some(source) => {
                if self.shape(None) != snap.shape || cfg.reference.is_some() {
                    return Err(RestoreError::ConfigChanged);
                }
                if !self.columns_fit(source) {
                    return Err(RestoreError::WarmupSourceMismatch);
                }
                Some(Arc::new(reference::fit(&self.spec.features, source.clone(), cfg)?))
            }
            None => {
                if self.shape(inner.reference.as_ref().map(|r| r.digest())) != snap.shape {
                    return Err(RestoreError::ReferenceChanged);
                }
                inner.reference.clone()
            }
        };
        if let Some(w) = &snap.window {
            let fits = reference.as_ref().is_some_and(|r| w.fits(cfg.window, cfg.step, r));
            if !fits {
                return Err(RestoreError::WindowMismatch);
            }
        }
        if let Some(w) = &snap.warmup {
            if reference.is_some() || w.target != cfg.warmup || !self.columns_fit(&w.columns) || w.rows() > w.cap() {
                return Err(RestoreError::WarmupMismatch);
            }
        }
        if let Some(latest) = &snap.latest {
            let emitted = snap.window.as_ref().map_or(0, Window::emitted);
            if latest.features.len() != self.spec.features.len() || latest.seq > emitted {
                return Err(RestoreError::LatestMismatch);
            }
        }
        let performance = match (&self.spec.config.performance, snap.performance) {
            (Some(cfg), Some(p)) if !p.fits(cfg) => return Err(RestoreError::PerformanceMismatch),
            (Some(_), p) => p,
            // The config no longer evaluates performance: what waited is gone with it.
            (None, _) => None,
        };
        if let Some(p) = performance {
            let (latest, estimate) = (p.latest.clone(), p.latest_estimate.clone());
            *lock(&self.performance) = p;
            if let Some(r) = latest {
                self.publish_performance(metrics, &r);
            }
            if let Some(e) = estimate {
                self.publish_estimate(metrics, &e);
            }
        }
        inner.reference = reference;
        inner.warmup_source = snap.warmup_source.map(Arc::new);
        inner.warmup = snap.warmup;
        inner.window = snap.window.or_else(|| inner.reference.as_ref().map(|r| Window::new(cfg.window, cfg.step, r)));
        drop(inner);
        if let Some(report) = snap.latest {
            self.publish(metrics, report);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// One column per feature, of its kind, all of one length: what a warmup buffer must be for
    /// appends and the fit to work on it (a snapshot that decodes can still say otherwise).
    fn columns_fit(&self, columns: &[Values]) -> bool {
        let rows = columns.first().map_or(0, Values::len);
        columns.len() == self.spec.features.len()
            && columns.iter().zip(&self.spec.features).all(|(c, f)| {
                c.len() == rows
                    && matches!(
                        (c, f.kind),
                        (Values::Numeric(_), FeatureKind::Numeric) | (Values::Categorical(_), FeatureKind::Categorical)
                    )
            })
    }

    /// Keeps a batch's predictions for their labels (`[model.performance]` models only).
    pub(crate) fn add_predictions(&self, metrics: &Metrics, p: &Predictions) -> Option<Outcome> {
        let cfg = self.spec.config.performance.as_ref()?;
        let reference = self.reference();
        let cbpe = reference.as_ref().and_then(|r| r.cbpe.as_ref());
        let out = lock(&self.performance).add_predictions(cfg, p, unix_now(), cbpe);
        self.count_performance(metrics, &out);
        if let Some(e) = out.estimates.last() {
            self.publish_estimate(metrics, e);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Some(out)
    }

    /// Joins labels and publishes every evaluated window.
    pub(crate) fn add_labels(&self, metrics: &Metrics, ids: &[String], labels: &[Prediction]) -> Option<Outcome> {
        let cfg = self.spec.config.performance.as_ref()?;
        let out = lock(&self.performance).add_labels(cfg, ids, labels, unix_now());
        self.count_performance(metrics, &out);
        if let Some(r) = out.reports.last() {
            self.publish_performance(metrics, r);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Some(out)
    }

    pub(crate) fn pending_predictions(&self) -> usize {
        lock(&self.performance).pending()
    }

    pub(crate) fn latest_performance(&self) -> Option<PerformanceReport> {
        lock(&self.performance).latest.clone()
    }

    fn count_performance(&self, metrics: &Metrics, out: &Outcome) {
        let ml = Metrics::model(self.name());
        metrics.labels_joined.get_or_create(&ml).inc_by(out.joined);
        metrics.labels_unmatched.get_or_create(&ml).inc_by(out.unmatched);
        metrics.predictions_expired.get_or_create(&ml).inc_by(out.expired);
        metrics.predictions_pending.get_or_create(&ml).set(out.pending as i64);
    }

    pub(crate) fn latest_estimate(&self) -> Option<EstimateReport> {
        lock(&self.performance).latest_estimate.clone()
    }

    fn publish_estimate(&self, metrics: &Metrics, r: &EstimateReport) {
        for (metric, e) in &r.metrics {
            let l = PerformanceLabels { model_name: self.name().to_owned(), metric: metric.clone() };
            metrics.performance_estimated.get_or_create(&l).set(e.value);
            metrics.performance_estimated_lower.get_or_create(&l).set(e.lower);
            metrics.performance_estimated_upper.get_or_create(&l).set(e.upper);
        }
    }

    fn publish_performance(&self, metrics: &Metrics, r: &PerformanceReport) {
        let name = self.name().to_owned();
        for (metric, value) in &r.metrics {
            let l = PerformanceLabels { model_name: name.clone(), metric: metric.clone() };
            metrics.model_performance.get_or_create(&l).set(*value);
        }
        if let Some(a) = r.metric("accuracy") {
            metrics.model_accuracy.get_or_create(&Metrics::model(&name)).set(a);
        }
    }

    /// Whether windows carry their bin counts (`export_bins` with the reference's bins known).
    pub(crate) fn exports_bins(&self) -> bool {
        !self.bin_labels.is_empty()
    }

    pub(crate) fn bin_labels(&self) -> &[Vec<String>] {
        &self.bin_labels
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.config.name
    }

    pub(crate) fn reference(&self) -> Option<Arc<Reference>> {
        lock(&self.inner).reference.clone()
    }

    pub(crate) fn ready(&self) -> bool {
        lock(&self.inner).reference.is_some()
    }

    /// (reference rows, rows in the current window or warmup buffer, heap bytes of the window).
    pub(crate) fn fill(&self) -> (usize, usize, usize) {
        lock(&self.inner).fill()
    }

    pub(crate) fn latest(&self) -> Option<Arc<WindowReport>> {
        lock(&self.published).clone()
    }

    /// Keeps the profile of window `seq` unless a newer window's is kept already.
    pub(crate) fn keep_profiles(&self, seq: u64, profiles: Vec<FeatureProfile>) {
        let mut kept = lock(&self.profiles);
        if kept.as_ref().is_none_or(|(s, _)| *s < seq) {
            *kept = Some((seq, Arc::new(profiles)));
        }
    }

    /// The newest kept profiles and the window they belong to.
    pub(crate) fn latest_profiles(&self) -> Option<(u64, Arc<Vec<FeatureProfile>>)> {
        lock(&self.profiles).clone()
    }

    /// Adds a validated batch. Warmup rows become the reference once there are enough of them; the
    /// remaining rows go to the window, and each window that fills goes to `on_window` there and then
    /// (under the model's lock: the batch is applied whole, and windows are scored in order).
    pub(crate) fn append(
        &self,
        batch: &Batch,
        mut on_window: impl FnMut(&Arc<Reference>, &mut FullWindow),
    ) -> Result<Appended, reference::EmptyFeature> {
        let mut inner = lock(&self.inner);
        let mut from = 0;
        if let Some(warmup) = inner.warmup.as_mut() {
            from = warmup.push(batch);
            if warmup.is_full() {
                let warmup = inner.warmup.take().expect("checked above");
                let rows = warmup.rows();
                // Cannot fail: a full warmup has a value in every feature.
                let reference = reference::fit(&self.spec.features, warmup.columns.clone(), &self.spec.config)?;
                inner.warmup_source = Some(Arc::new(warmup.columns));
                inner.window = Some(Window::new(self.spec.config.window, self.spec.config.step, &reference));
                inner.reference = Some(Arc::new(reference));
                tracing::info!(model = self.name(), rows, "warmup complete: reference fitted");
            }
        }
        let Inner { reference, window, .. } = &mut *inner;
        let mut windows = 0;
        if let (Some(reference), Some(window)) = (reference.as_ref(), window.as_mut()) {
            window.push(batch, from, reference, unix_now(), |full| {
                windows += 1;
                on_window(reference, full);
            });
        }
        let (reference_samples, window_samples, _) = inner.fill();
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(Appended { windows, window_samples, reference_samples })
    }

    /// Publishes a report unless a newer window already was (concurrent requests may finish scoring
    /// out of order; the exported scores always belong to the newest window). Returns whether it was.
    pub(crate) fn publish(&self, metrics: &Metrics, report: WindowReport) -> bool {
        let mut published = lock(&self.published);
        if published.as_ref().is_some_and(|p| p.seq >= report.seq) {
            return false;
        }
        let model = self.name().to_owned();
        for (feature, fr) in self.spec.features.iter().zip(&report.features) {
            let flabels = FeatureLabels { model_name: model.clone(), feature: feature.name.clone() };
            for method in &feature.methods {
                let labels = ScoreLabels {
                    model_name: model.clone(),
                    feature: feature.name.clone(),
                    method: method.as_str().into(),
                };
                match fr.scores.iter().find(|s| s.method == *method) {
                    Some(s) => {
                        metrics.drift_score.get_or_create(&labels).set(s.score);
                        metrics.drift_threshold.get_or_create(&labels).set(s.threshold);
                        if let Some(p) = s.pvalue {
                            metrics.drift_pvalue.get_or_create(&labels).set(p);
                        }
                    }
                    None => {
                        // No values in this window: drop the series rather than export stale scores.
                        metrics.drift_score.remove(&labels);
                        metrics.drift_pvalue.remove(&labels);
                    }
                }
            }
            match fr.drifted {
                Some(d) => {
                    metrics.feature_drift.get_or_create(&flabels).set(i64::from(d));
                }
                None => {
                    metrics.feature_drift.remove(&flabels);
                }
            }
        }
        for ((feature, fr), labels) in self.spec.features.iter().zip(&report.features).zip(&self.bin_labels) {
            if fr.bin_counts.len() != labels.len() {
                continue;
            }
            for (bin, &count) in labels.iter().zip(&fr.bin_counts) {
                let l = BinLabels { model_name: model.clone(), feature: feature.name.clone(), bin: bin.clone() };
                metrics.window_bin_count.get_or_create(&l).set(count as i64);
            }
        }
        for mv in &report.multivariate {
            let l = MultivariateLabels { model_name: model.clone(), method: mv.method.as_str().to_owned() };
            metrics.multivariate_score.get_or_create(&l).set(mv.score);
            metrics.multivariate_threshold.get_or_create(&l).set(mv.threshold);
            metrics.multivariate_detected.get_or_create(&l).set(i64::from(mv.drifted));
            if let Some(p) = mv.pvalue {
                metrics.multivariate_pvalue.get_or_create(&l).set(p);
            }
        }
        let ml = Metrics::model(&model);
        metrics.drift_share.get_or_create(&ml).set(report.drift_share);
        metrics.model_drift.get_or_create(&ml).set(i64::from(report.model_drift));
        metrics.windows.get_or_create(&ml).inc();
        metrics.scoring_seconds.get_or_create(&ml).observe(report.scoring_seconds);
        metrics.last_window.get_or_create(&ml).set(report.completed_at);
        *published = Some(Arc::new(report));
        self.published_cv.notify_all();
        true
    }
}
