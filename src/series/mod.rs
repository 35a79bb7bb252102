//! Live anomaly scoring: the series of one source (a model's pushed series, or what one pull query
//! returns) each with its [`SeriesDetector`], behind one mutex per source. Points are scored on
//! arrival in O(1); refits go to a small background pool so a push never waits for MSTL, and the
//! gauges are set from each series' newest point. [`pull`] polls Prometheus for the series of a
//! `[[pull]]` query.
//!
//! May import: `monitor` (the snapshot of its state), `config`, `metrics`, the leaves (`clock`) and
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
    /// Consecutive scored points above 1, up to the newest (the retrain policy's anomaly rule).
    streak: u32,
    /// Unix seconds when a point of it last arrived (or it was admitted or restored): idle expiry
    /// counts from here, in the sidecar's time, not the series' timestamps, which may be old.
    seen: f64,
}

/// A snapshot's series were scored under other detector settings: they are not taken back.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("the detector settings changed")]
pub(crate) struct SettingsChanged;

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
    /// The series' consecutive points above 1 after this push, its newest point last.
    #[serde(skip)]
    pub(crate) streak: u32,
}

/// What a source accepts and keeps, beside its detector settings.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Accepted series names; empty accepts any.
    pub(crate) allow: Vec<String>,
    pub(crate) max_series: usize,
    /// Scored points kept per series for the drift report (0: none).
    pub(crate) keep_recent: usize,
    /// A series nothing arrived for in this long (and in three of its steps) is dropped with its
    /// gauges, so churning label sets (pods, replicas) neither leak memory nor fill `max_series`.
    pub(crate) idle_seconds: f64,
}

pub(crate) struct SeriesSource {
    /// The model or pull name, for logs and the source label of counters.
    pub(crate) name: String,
    pub(crate) settings: DetectorSettings,
    allow: HashSet<String>,
    max_series: usize,
    keep_recent: usize,
    idle_seconds: f64,
    series: Mutex<HashMap<SeriesLabels, Entry>>,
    metrics: Metrics,
    refits: Arc<RefitPool>,
    /// Changes whenever a detector does (a point, a finished refit): when a snapshot is due.
    generation: AtomicU64,
}

/// Runs [`SeriesSource::expire_idle`] on the source's schedule, for the life of the process.
pub(crate) async fn expire_periodically(source: Arc<SeriesSource>) {
    let mut tick = tokio::time::interval(source.expiry_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        source.expire_idle(crate::clock::unix_now());
    }
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
        limits: Limits,
        metrics: Metrics,
        refits: Arc<RefitPool>,
    ) -> Arc<Self> {
        metrics.anomaly_series.get_or_create(&SourceLabels::new(name)).set(0);
        Arc::new(SeriesSource {
            name: name.to_owned(),
            settings,
            allow: limits.allow.into_iter().collect(),
            max_series: limits.max_series,
            keep_recent: limits.keep_recent,
            idle_seconds: limits.idle_seconds,
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
    pub(crate) fn admit<'a>(
        &self,
        names: impl Iterator<Item = (&'a str, SeriesLabels)>,
        now: f64,
    ) -> Result<(), PushError> {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = HashSet::new();
        for (name, labels) in names {
            if !self.allows(name) {
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
            let entry = self.new_entry(&labels, now);
            series.insert(labels, entry);
        }
        self.count_series(series.len());
        Ok(())
    }

    fn allows(&self, name: &str) -> bool {
        self.allow.is_empty() || self.allow.contains(name)
    }

    fn count_series(&self, n: usize) {
        self.metrics.anomaly_series.get_or_create(&SourceLabels::new(&self.name)).set(n as i64);
    }

    fn new_entry(&self, labels: &SeriesLabels, now: f64) -> Entry {
        // Inline refits follow replay exactly (no phase); pooled ones are staggered.
        let phase = if self.refits.is_inline() { 0 } else { phase(labels) };
        // Visible from its first point: warming up, not absent.
        self.metrics.anomaly_ready.get_or_create(labels).set(0.0);
        Entry {
            detector: SeriesDetector::new(&self.settings, phase),
            last: None,
            recent: VecDeque::new(),
            streak: 0,
            seen: now,
        }
    }

    /// Scores and adds `points` (timestamp, value) to one series (reserved by
    /// [`admit`](Self::admit), which holds the cap), then publishes its gauges and queues a refit
    /// if one is due.
    ///
    /// Each point is scored, then a due refit is taken, exactly as `replay` does; with an inline
    /// pool the refit runs there and then, so the scores equal `replay`'s point for point.
    pub(crate) fn push(self: &Arc<Self>, labels: &SeriesLabels, points: &[(f64, f64)], now: f64) -> PushSummary {
        let mut summary = PushSummary::default();
        let mut queued = None;
        let mut anomalous = 0;
        {
            let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            let before = series.len();
            let entry = series.entry(labels.clone()).or_insert_with(|| self.new_entry(labels, now));
            entry.seen = entry.seen.max(now);
            for &(t, v) in points {
                match entry.detector.push(&self.settings, t, v) {
                    Outcome::Scored(o) => {
                        summary.scored += 1;
                        anomalous += u64::from(o.anomalous());
                        entry.streak = if o.anomalous() { entry.streak.saturating_add(1) } else { 0 };
                        entry.last = Some(o);
                        if self.keep_recent > 0 {
                            if entry.recent.len() == self.keep_recent {
                                entry.recent.pop_front();
                            }
                            entry.recent.push_back(o);
                        }
                    }
                    Outcome::Warming => {
                        summary.scored += 1;
                        entry.streak = 0;
                    }
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
            summary.streak = entry.streak;
            let after = series.len();
            if after != before {
                self.count_series(after);
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
                streak: e.streak,
            })
            .collect();
        states.sort_by(|a, b| a.labels.cmp(&b.labels));
        SeriesSnapshot { settings: self.settings.clone(), series: states }
    }

    /// Takes back a snapshot's series, before any point arrives, and publishes their gauges as they
    /// were: each then scores its next point as the process that took the snapshot would have (a
    /// refit it had running is asked for again at that point). Under other detector settings
    /// nothing is taken back and the reason is returned; a series no longer allowed, or past
    /// `max_series`, is left out (not counted in the returned number) and starts afresh. Idle time
    /// restarts at `now`: the time the process was down does not count against a series.
    pub(crate) fn restore(&self, snap: SeriesSnapshot, now: f64) -> Result<usize, SettingsChanged> {
        if snap.settings != self.settings {
            return Err(SettingsChanged);
        }
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = 0;
        for state in snap.series {
            let name = state.labels.iter().find(|(k, _)| k == "series").map_or("", |(_, v)| v.as_str());
            if !self.allows(name) || series.len() >= self.max_series {
                continue;
            }
            let detector = state.detector.resumed();
            let ready = detector.ready();
            let mut recent: VecDeque<Observation> = state.recent.into();
            while recent.len() > self.keep_recent {
                recent.pop_front();
            }
            let entry = Entry { detector, last: state.last, recent, streak: state.streak, seen: now };
            if let Some(o) = &entry.last {
                self.publish(&state.labels, o);
            }
            self.metrics.anomaly_ready.get_or_create(&state.labels).set(if ready { 1.0 } else { 0.0 });
            series.insert(state.labels, entry);
            taken += 1;
        }
        self.count_series(series.len());
        Ok(taken)
    }

    /// Drops every series nothing arrived for in `idle_seconds` — and in three of its steps, so a
    /// slow series is not expired between two of its own points — with all its gauges and its
    /// counter. Returns how many went. A series that comes back starts afresh (warming up).
    pub(crate) fn expire_idle(&self, now: f64) -> usize {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let idle = |e: &Entry| {
            let limit = self.idle_seconds.max(3.0 * e.detector.step().unwrap_or(0.0));
            now - e.seen > limit
        };
        let gone: Vec<SeriesLabels> = series.iter().filter(|(_, e)| idle(e)).map(|(l, _)| l.clone()).collect();
        if gone.is_empty() {
            return 0;
        }
        let m = &self.metrics;
        for labels in &gone {
            series.remove(labels);
            for family in [
                &m.anomaly_score,
                &m.anomaly,
                &m.anomaly_value,
                &m.anomaly_expected,
                &m.anomaly_lower,
                &m.anomaly_upper,
                &m.anomaly_ready,
                &m.anomaly_outlier,
                &m.anomaly_changepoint,
            ] {
                family.remove(labels);
            }
            m.anomalous_points.remove(labels);
        }
        self.count_series(series.len());
        self.generation.fetch_add(1, Ordering::AcqRel);
        m.anomaly_series_expired.get_or_create(&SourceLabels::new(&self.name)).inc_by(gone.len() as u64);
        tracing::info!(source = %self.name, expired = gone.len(), "idle series expired");
        gone.len()
    }

    /// How often [`expire_idle`](Self::expire_idle) should run: often enough that a series outlives
    /// its idle time by at most a tenth of it (or a minute).
    pub(crate) fn expiry_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64((self.idle_seconds / 10.0).clamp(1.0, 60.0))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(step_seconds: Option<f64>, idle_seconds: f64) -> (Arc<SeriesSource>, Metrics) {
        let metrics = Metrics::new();
        let settings = DetectorSettings { step_seconds, periods: Some(vec![12]), ..Default::default() };
        let limits = Limits { allow: Vec::new(), max_series: 10, keep_recent: 0, idle_seconds };
        (SeriesSource::new("m", settings, limits, metrics.clone(), Arc::new(RefitPool::inline())), metrics)
    }

    fn points(from: usize, n: usize, spike: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
        (from..from + n).map(|i| (60.0 * i as f64, 5.0 + 0.1 * ((i * 7919) % 17) as f64 + spike(i))).collect()
    }

    #[test]
    fn expiry_counts_from_the_last_arrival_and_keeps_a_series_that_is_still_pushed() {
        let (s, metrics) = source(Some(60.0), 300.0);
        let (a, b) = (SeriesSource::pushed_labels("m", "a"), SeriesSource::pushed_labels("m", "b"));
        s.push(&a, &points(0, 20, |_| 0.0), 1000.0);
        s.push(&b, &points(0, 20, |_| 0.0), 1000.0);
        s.push(&b, &points(20, 1, |_| 0.0), 1250.0);
        assert_eq!(s.expire_idle(1300.0), 0, "300 s is not past idle_seconds");
        assert_eq!(s.expire_idle(1300.5), 1);
        assert_eq!((s.len(), s.last(&a), s.last(&b).is_some()), (1, None, true));
        let text = metrics.encode();
        assert!(!text.contains("series=\"a\""), "{text}");
        assert!(text.contains("anomaly_score{model_name=\"m\",series=\"b\"}"), "{text}");
        assert!(text.contains("driftwatch_anomaly_series{source=\"m\"} 1\n"), "{text}");
        assert!(text.contains("driftwatch_anomaly_series_expired_total{source=\"m\"} 1\n"), "{text}");
    }

    #[test]
    fn a_slow_series_is_not_expired_between_two_of_its_own_points() {
        // A ten-minute series with a one-minute idle_seconds: three of its steps count instead.
        let (s, _) = source(Some(600.0), 60.0);
        let a = SeriesSource::pushed_labels("m", "a");
        s.push(&a, &[(0.0, 1.0), (600.0, 2.0)], 0.0);
        assert_eq!(s.expire_idle(1800.0), 0);
        assert_eq!(s.expire_idle(1800.5), 1);
    }

    #[test]
    fn the_streak_counts_consecutive_anomalous_points_and_a_normal_one_ends_it() {
        let (s, _) = source(Some(60.0), 3600.0);
        let a = SeriesSource::pushed_labels("m", "a");
        assert_eq!(s.push(&a, &points(0, 40, |_| 0.0), 0.0).streak, 0);
        // Tripling spikes: each beyond every earlier error and the excursion before it.
        let spikes = |i: usize| 30.0 * 3f64.powi(i as i32 - 40);
        assert_eq!(s.push(&a, &points(40, 2, spikes), 0.0).streak, 2);
        assert_eq!(s.push(&a, &points(42, 1, spikes), 0.0).streak, 3);
        // Back to normal (far from the excursion: surprising against it too, but inside its band).
        assert_eq!(s.push(&a, &points(43, 1, |_| 0.0), 0.0).streak, 0);
        // The streak is in the snapshot: a restored source goes on counting where it was.
        let (restored, _) = source(Some(60.0), 3600.0);
        s.push(&a, &points(44, 1, |_| 1e6), 0.0);
        assert_eq!(restored.restore(s.snapshot(), 0.0), Ok(1));
        assert_eq!(restored.push(&a, &points(45, 1, |_| 3e6), 0.0).streak, 2);
    }
}
