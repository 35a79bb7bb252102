//! Live anomaly scoring: the series of one source (a model's pushed series, or what one pull query
//! returns) each with its [`SeriesDetector`], behind one mutex per source. Points are scored on
//! arrival in O(1); refits go to a small background pool so a push never waits for MSTL, and the
//! gauges are set from each series' newest point. [`pull`] polls Prometheus for the series of a
//! `[[pull]]` query.
//!
//! May import: `monitor` (the snapshot of its state), `config`, `metrics`, the leaves and
//! `driftwatch_stats`.

pub(crate) mod pull;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::metrics::{Metrics, OutcomeLabels, SeriesLabels, SourceLabels};
use crate::monitor::snapshot::{SeriesSnapshot, SeriesState};
use driftwatch_stats::anomaly::detector::{FitJob, Outcome};
use driftwatch_stats::anomaly::group::{self, CHANGEPOINT_POINTS};
use driftwatch_stats::anomaly::{DetectorSettings, Observation, SeriesDetector};

/// Runs refits off the request path: a fixed number of threads, FIFO. `None` threads runs each
/// refit inline (tests that need deterministic scores).
pub(crate) struct RefitPool {
    pool: Option<rayon::ThreadPool>,
    pending: Arc<AtomicI64>,
}

impl RefitPool {
    pub(crate) fn new(threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("driftwatch-refit-{i}"))
            .build()
            .ok();
        RefitPool { pool, pending: Arc::new(AtomicI64::new(0)) }
    }

    pub(crate) fn inline() -> Self {
        RefitPool { pool: None, pending: Arc::new(AtomicI64::new(0)) }
    }

    pub(crate) fn is_inline(&self) -> bool {
        self.pool.is_none()
    }

    fn submit(&self, metrics: &Metrics, work: impl FnOnce() + Send + 'static) {
        match &self.pool {
            None => work(),
            Some(pool) => {
                let pending = self.pending.clone();
                let gauge = metrics.anomaly_refits_pending.clone();
                gauge.set(pending.fetch_add(1, Ordering::SeqCst) + 1);
                pool.spawn_fifo(move || {
                    work();
                    gauge.set(pending.fetch_sub(1, Ordering::SeqCst) - 1);
                });
            }
        }
    }
}

struct Refit {
    result: Result<driftwatch_stats::anomaly::seasonal::SeasonalFit, driftwatch_stats::anomaly::seasonal::FitError>,
    /// Absolute grid index of the last level shift in the fitted history.
    changepoint: Option<u64>,
}

struct Entry {
    detector: SeriesDetector,
    last: Option<Observation>,
    /// The newest scored points, oldest first, at most the source's `keep_recent` (for the report).
    recent: VecDeque<Observation>,
}

/// Why a push was refused; nothing of the request was applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PushError {
    UnknownSeries(String),
    TooManySeries { max: usize },
}

/// Points scored, points ignored as late (at or before the series' newest point), and points whose
/// timestamp no grid can hold (pushed points are refused before they get here; pulled ones are
/// counted).
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub(crate) struct PushSummary {
    pub(crate) scored: usize,
    pub(crate) late: usize,
    pub(crate) out_of_range: usize,
}

pub(crate) struct SeriesSource {
    /// The model or pull name, for logs and the source label of counters.
    pub(crate) name: String,
    pub(crate) settings: DetectorSettings,
    allow: HashSet<String>,
    max_series: usize,
    /// Scored points kept per series for the drift report (0: none).
    keep_recent: usize,
    series: Mutex<HashMap<SeriesLabels, Entry>>,
    metrics: Metrics,
    refits: Arc<RefitPool>,
    /// Changes whenever a detector does (a point, a finished refit): when a snapshot is due.
    generation: AtomicU64,
}

/// Refit phases are derived from the labels so that series started together refit apart.
fn phase(labels: &SeriesLabels) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    h.finish() as usize
}

impl SeriesSource {
    pub(crate) fn new(
        name: &str,
        settings: DetectorSettings,
        allow: &[String],
        max_series: usize,
        keep_recent: usize,
        metrics: Metrics,
        refits: Arc<RefitPool>,
    ) -> Arc<Self> {
        Arc::new(SeriesSource {
            name: name.to_owned(),
            settings,
            allow: allow.iter().cloned().collect(),
            max_series,
            keep_recent,
            series: Mutex::new(HashMap::new()),
            metrics,
            refits,
            generation: AtomicU64::new(0),
        })
    }

    /// The labels a pushed series is exported with.
    pub(crate) fn pushed_labels(model: &str, series: &str) -> SeriesLabels {
        vec![("model_name".into(), model.into()), ("series".into(), series.into())]
    }

    /// Checks that `names` may be pushed (allow-list, series cap) and reserves the new ones, under
    /// one lock: concurrent requests cannot each pass the cap and then together exceed it. Refused,
    /// nothing is reserved.
    pub(crate) fn admit<'a>(&self, names: impl Iterator<Item = (&'a str, SeriesLabels)>) -> Result<(), PushError> {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = HashSet::new();
        for (name, labels) in names {
            if !self.allow.is_empty() && !self.allow.contains(name) {
                return Err(PushError::UnknownSeries(name.to_owned()));
            }
            if !series.contains_key(&labels) {
                new.insert(labels);
            }
        }
        if series.len() + new.len() > self.max_series {
            return Err(PushError::TooManySeries { max: self.max_series });
        }
        for labels in new {
            let entry = self.new_entry(&labels);
            series.insert(labels, entry);
        }
        Ok(())
    }

    fn new_entry(&self, labels: &SeriesLabels) -> Entry {
        // Inline refits follow replay exactly (no phase); pooled ones are staggered.
        let phase = if self.refits.is_inline() { 0 } else { phase(labels) };
        // Visible from its first point: warming up, not absent.
        self.metrics.anomaly_ready.get_or_create(labels).set(0.0);
        Entry { detector: SeriesDetector::new(&self.settings, phase), last: None, recent: VecDeque::new() }
    }

    /// Scores and adds `points` (timestamp, value) to one series (reserved by
    /// [`admit`](Self::admit), which holds the cap), then publishes its gauges and queues a refit
    /// if one is due.
    ///
    /// Each point is scored, then a due refit is taken, exactly as `replay` does; with an inline
    /// pool the refit runs there and then, so the scores equal `replay`'s point for point.
    pub(crate) fn push(self: &Arc<Self>, labels: &SeriesLabels, points: &[(f64, f64)]) -> PushSummary {
        let mut summary = PushSummary::default();
        let mut queued = None;
        let mut anomalous = 0;
        {
            let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            let entry = series.entry(labels.clone()).or_insert_with(|| self.new_entry(labels));
            for &(t, v) in points {
                match entry.detector.push(&self.settings, t, v) {
                    Outcome::Scored(o) => {
                        summary.scored += 1;
                        anomalous += u64::from(o.anomalous());
                        entry.last = Some(o);
                        if self.keep_recent > 0 {
                            if entry.recent.len() == self.keep_recent {
                                entry.recent.pop_front();
                            }
                            entry.recent.push_back(o);
                        }
                    }
                    Outcome::Warming => summary.scored += 1,
                    Outcome::Late => summary.late += 1,
                    Outcome::OutOfRange => summary.out_of_range += 1,
                }
                if let Some(job) = entry.detector.take_fit_job(&self.settings) {
                    if self.refits.is_inline() {
                        let done = self.refit(job);
                        self.install(labels, entry, done);
                    } else {
                        queued = Some(job);
                    }
                }
            }
            if let Some(o) = &entry.last {
                self.publish(labels, o);
            }
            self.generation.fetch_add(1, Ordering::AcqRel);
            // The gauges show the newest point only; this also counts anomalies inside a batch.
            self.metrics.anomalous_points.get_or_create(labels).inc_by(anomalous);
        }
        self.metrics.anomaly_points.get_or_create(&SourceLabels::new(&self.name)).inc_by(summary.scored as u64);
        if let Some(job) = queued {
            self.queue(labels.clone(), job);
        }
        summary
    }

    /// Runs `job` on the pool; if the series moved on far enough meanwhile that another refit is
    /// due, that one is queued right away rather than waiting for the next push.
    fn queue(self: &Arc<Self>, labels: SeriesLabels, job: FitJob) {
        let source = self.clone();
        self.refits.submit(&self.metrics, move || {
            let done = source.refit(job);
            let next = {
                let mut series = source.series.lock().unwrap_or_else(|e| e.into_inner());
                series.get_mut(&labels).and_then(|entry| {
                    source.install(&labels, entry, done);
                    entry.detector.take_fit_job(&source.settings)
                })
            };
            if let Some(job) = next {
                source.queue(labels, job);
            }
        });
    }

    /// Runs a refit and the changepoint search over the same history.
    fn refit(&self, job: FitJob) -> Refit {
        let started = Instant::now();
        // The newest CHANGEPOINT_POINTS only: BOCPD over the whole history would cost twice the fit.
        let recent = &job.values[job.values.len().saturating_sub(CHANGEPOINT_POINTS)..];
        let changepoint = group::changepoints(recent).last().map(|&i| job.end + i as u64 + 1 - recent.len() as u64);
        let result = job.run();
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        if let Err(e) = &result {
            tracing::debug!(source = %self.name, error = %e, "refit failed; the fallback keeps scoring");
        }
        self.metrics.anomaly_refits.get_or_create(&OutcomeLabels::new(outcome)).inc();
        self.metrics.anomaly_refit_seconds.observe(started.elapsed().as_secs_f64());
        Refit { result, changepoint }
    }

    fn install(&self, labels: &SeriesLabels, entry: &mut Entry, done: Refit) {
        entry.detector.finish_fit(done.result);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(t) = done.changepoint.and_then(|i| entry.detector.timestamp_of(i)) {
            self.metrics.anomaly_changepoint.get_or_create(labels).set(t);
        }
        self.metrics.anomaly_ready.get_or_create(labels).set(if entry.detector.ready() { 1.0 } else { 0.0 });
    }

    fn publish(&self, labels: &SeriesLabels, o: &Observation) {
        let m = &self.metrics;
        m.anomaly_score.get_or_create(labels).set(o.score);
        m.anomaly.get_or_create(labels).set(if o.anomalous() { 1.0 } else { 0.0 });
        m.anomaly_value.get_or_create(labels).set(o.value);
        m.anomaly_expected.get_or_create(labels).set(o.expected);
        m.anomaly_lower.get_or_create(labels).set(o.lower);
        m.anomaly_upper.get_or_create(labels).set(o.upper);
        m.anomaly_ready.get_or_create(labels).set(if o.ready { 1.0 } else { 0.0 });
    }

    /// Changes whenever some series' state does.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every series' state, under the lock (a copy of each detector: its history, fit and errors).
    pub(crate) fn snapshot(&self) -> SeriesSnapshot {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut states: Vec<SeriesState> = series
            .iter()
            .map(|(labels, e)| SeriesState {
                labels: labels.clone(),
                detector: e.detector.clone(),
                last: e.last,
                recent: e.recent.iter().copied().collect(),
            })
            .collect();
        states.sort_by(|a, b| a.labels.cmp(&b.labels));
        SeriesSnapshot { settings: self.settings.clone(), series: states }
    }

    /// Takes back a snapshot's series, before any point arrives, and publishes their gauges as they
    /// were: each then scores its next point as the process that took the snapshot would have (a
    /// refit it had running is asked for again at that point). Under other detector settings
    /// nothing is taken back and the reason is returned; a series no longer allowed, or past
    /// `max_series`, is left out (not counted in the returned number) and starts afresh.
    pub(crate) fn restore(&self, snap: SeriesSnapshot) -> Result<usize, String> {
        if snap.settings != self.settings {
            return Err("the detector settings changed".into());
        }
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = 0;
        for state in snap.series {
            let name = state.labels.iter().find(|(k, _)| k == "series").map(|(_, v)| v.as_str());
            let allowed = self.allow.is_empty() || name.is_some_and(|n| self.allow.contains(n));
            if !allowed || series.len() >= self.max_series {
                continue;
            }
            let detector = state.detector.resumed();
            let ready = detector.ready();
            let mut recent: VecDeque<Observation> = state.recent.into();
            while recent.len() > self.keep_recent {
                recent.pop_front();
            }
            let entry = Entry { detector, last: state.last, recent };
            if let Some(o) = &entry.last {
                self.publish(&state.labels, o);
            }
            self.metrics.anomaly_ready.get_or_create(&state.labels).set(if ready { 1.0 } else { 0.0 });
            series.insert(state.labels, entry);
            taken += 1;
        }
        Ok(taken)
    }

    /// Which series behave differently from the others of this source over the newest `points`
    /// grid points (pull queries: the replicas one query returns), exported as `anomaly_outlier`.
    pub(crate) fn mark_outliers(&self, points: usize, sensitivity: f64) {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let Some(newest) = series.values().filter_map(|e| e.detector.last_index()).max() else {
            return;
        };
        // Align on the grid: only series whose newest point is the group's newest take part.
        let mut labels = Vec::new();
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for (l, e) in series.iter() {
            if e.detector.last_index() == Some(newest) {
                let mut row: Vec<f64> = e.detector.tail(points).collect();
                driftwatch_stats::anomaly::seasonal::interpolate(&mut row);
                if row.len() == points {
                    labels.push(l.clone());
                    rows.push(row);
                }
            }
        }
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let flags = group::outliers(&refs, sensitivity);
        for (l, flag) in labels.iter().zip(flags) {
            self.metrics.anomaly_outlier.get_or_create(l).set(if flag { 1.0 } else { 0.0 });
        }
    }

    /// The newest observation of a series.
    /// Every series' kept points, by labels, in label order.
    pub(crate) fn recent(&self) -> Vec<(SeriesLabels, Vec<Observation>)> {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = series.iter().map(|(l, e)| (l.clone(), e.recent.iter().copied().collect())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(crate) fn last(&self, labels: &SeriesLabels) -> Option<Observation> {
        self.series.lock().unwrap_or_else(|e| e.into_inner()).get(labels).and_then(|e| e.last)
    }

    /// The newest timestamp of a series.
    pub(crate) fn last_timestamp(&self, labels: &SeriesLabels) -> Option<f64> {
        self.series.lock().unwrap_or_else(|e| e.into_inner()).get(labels).and_then(|e| e.detector.last_timestamp())
    }

    pub(crate) fn len(&self) -> usize {
        self.series.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
