//! One series: its points placed on a regular grid (gaps and NaN interpolated), a bounded history of
//! a few of its longest period, and the score of each new point against what came before it only.
//!
//! Scoring is O(1) against the forecast table of the last seasonal fit; the fit itself is a
//! [`FitJob`] the caller runs — inline for `replay`, on a background pool for live traffic so an
//! `/ingest` never waits for MSTL. Until the history holds two of the longest period (or while a
//! refit is overdue past the forecast horizon) the median/MAD [`fallback`](super::fallback) scores
//! and `ready` is false.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::fallback::{self, Band};
use super::period;
use super::seasonal::{self, FitError, SeasonalFit};
use super::{DetectorSettings, Direction, MAX_TIMESTAMP, MIN_STEP};

/// Points used to infer the step when it is not configured.
const STEP_PROBE: usize = 8;

/// Points the fallback needs before it scores: a median/MAD of three points calls every fourth
/// point an anomaly.
const MIN_FALLBACK_POINTS: usize = 10;
/// Errors needed before the empirical quantile is trusted.
const MIN_CALIBRATION: usize = 30;

/// The score of one point and the band it was scored against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub timestamp: f64,
    pub value: f64,
    /// |value − expected| / half-width of the interval (floored at `min_deviation`); above 1 is
    /// anomalous. 0 for a NaN value or one on the ignored side.
    pub score: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    /// Scored by the seasonal model rather than the fallback.
    pub ready: bool,
}

impl Observation {
    pub fn anomalous(&self) -> bool {
        self.score > 1.0
    }
}

/// What happened to a pushed point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Scored(Observation),
    /// Too few points yet to say anything (fewer than ten).
    Warming,
    /// At or before the last point of the series: a retried batch, ignored.
    Late,
    /// A timestamp outside `0..=MAX_TIMESTAMP`, which no grid index can hold; ignored.
    OutOfRange,
}

/// The inputs of a refit, taken from the detector so the fit can run elsewhere.
#[derive(Debug, Clone)]
pub struct FitJob {
    pub values: Vec<f64>,
    pub end: u64,
    /// Whether `periods` are all the series' periods (else only those two cycles of fit so far).
    pub complete: bool,
    pub periods: Vec<usize>,
    /// Periods found in the data earlier, fitted beside `periods`.
    pub detected: Vec<usize>,
    /// Look for a period in `values` again (instead of `detected`), not related to these.
    pub detect_beside: Option<Vec<usize>>,
    pub level: f64,
    pub horizon: usize,
}

impl FitJob {
    pub fn run(mut self) -> Result<SeasonalFit, FitError> {
        seasonal::interpolate(&mut self.values);
        if let Some(known) = &self.detect_beside {
            self.detected = period::detect(&self.values, known).into_iter().collect();
        }
        let mut periods = self.periods.clone();
        periods.extend(self.detected.iter().filter(|&&p| 2 * p <= self.values.len() && !self.periods.contains(&p)));
        periods.sort_unstable();
        let mut fit = seasonal::fit(&self.values, self.end, &periods, self.level, self.horizon)?;
        fit.complete = self.complete;
        Ok(fit)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDetector {
    step: Option<f64>,
    /// Timestamp of grid index 0.
    origin: f64,
    /// Points seen before the step was known.
    probe: Vec<(f64, f64)>,
    /// Grid values; `history[0]` has absolute index `first`.
    history: VecDeque<f64>,
    first: u64,
    last_timestamp: Option<f64>,
    periods: Vec<usize>,
    fit: Option<SeasonalFit>,
    since_fit: usize,
    fit_in_flight: bool,
    /// Offsets this series' refits from others' so they spread over time.
    phase: usize,
    /// |value − expected| of the most recent scored points, oldest first.
    errors: VecDeque<f64>,
    /// Grid index at which the next fit looks for periods again: each time the history has doubled,
    /// then once per full turnover of it.
    #[serde(default)]
    detect_at: u64,
    /// value − expected of the previous point when it was outside its band: the excursion the next
    /// point may merely continue.
    #[serde(default)]
    excursion: Option<f64>,
    #[serde(skip)]
    scratch: Vec<f64>,
}

impl SeriesDetector {
    /// `phase` staggers refits; derive it from the series' name.
    pub fn new(settings: &DetectorSettings, phase: usize) -> Self {
        let mut d = SeriesDetector {
            step: None,
            origin: 0.0,
            probe: Vec::new(),
            history: VecDeque::new(),
            first: 0,
            last_timestamp: None,
            periods: Vec::new(),
            fit: None,
            since_fit: 0,
            fit_in_flight: false,
            phase: phase % settings.refit_every.max(1),
            errors: VecDeque::new(),
            detect_at: 0,
            excursion: None,
            scratch: Vec::new(),
        };
        if let Some(step) = settings.step_seconds {
            d.set_step(settings, step);
        }
        d
    }

    fn set_step(&mut self, settings: &DetectorSettings, step: f64) {
        // With timestamps in 0..=MAX_TIMESTAMP this keeps every grid index below 2^53, where f64
        // and u64 agree exactly: the gap arithmetic below never wraps or saturates.
        let step = step.max(MIN_STEP);
        self.step = Some(step);
        self.periods = settings.periods_for(step);
    }

    pub fn step(&self) -> Option<f64> {
        self.step
    }

    pub fn periods(&self) -> &[usize] {
        &self.periods
    }

    /// The timestamp of absolute grid index `i`, once the step is known.
    pub fn timestamp_of(&self, i: u64) -> Option<f64> {
        Some(self.origin + i as f64 * self.step?)
    }

    pub fn last_timestamp(&self) -> Option<f64> {
        self.last_timestamp
    }

    fn capacity(&self, settings: &DetectorSettings) -> usize {
        let longest = self.periods.iter().copied().max().unwrap_or(0);
        (settings.history_periods * longest)
            .clamp(settings.fallback_window, settings.max_history.max(settings.fallback_window))
    }

    /// Absolute grid index of the newest point, if any.
    pub fn last_index(&self) -> Option<u64> {
        (!self.history.is_empty()).then(|| self.first + self.history.len() as u64 - 1)
    }

    /// The newest `n` grid values (NaN where missing), oldest first.
    pub fn tail(&self, n: usize) -> impl Iterator<Item = f64> + '_ {
        self.history.iter().copied().skip(self.history.len().saturating_sub(n))
    }

    /// Scores `value` at `timestamp` (seconds) against the points before it, then adds it.
    pub fn push(&mut self, settings: &DetectorSettings, timestamp: f64, value: f64) -> Outcome {
        if !(0.0..=MAX_TIMESTAMP).contains(&timestamp) {
            return Outcome::OutOfRange;
        }
        if self.last_timestamp.is_some_and(|t| timestamp <= t) {
            return Outcome::Late;
        }
        self.last_timestamp = Some(timestamp);
        let Some(step) = self.step else {
            let recent: Vec<f64> = self.probe.iter().map(|p| p.1).collect();
            let scored = self.score_with_fallback(settings, recent, timestamp, value);
            self.probe.push((timestamp, value));
            if self.probe.len() > STEP_PROBE {
                self.start_grid(settings);
            }
            return scored;
        };
        // In 0..2^53 (see set_step), so `as u64` is exact.
        let index = ((timestamp - self.origin) / step).round().max(0.0) as u64;
        let outcome = match self.last_index() {
            // A second point in the same slot (jittery scrapes): score it, keep the newer value.
            Some(l) if index <= l => {
                let outcome = self.score(settings, l, timestamp, value);
                if let Some(slot) = self.history.back_mut() {
                    *slot = value;
                }
                return outcome;
            }
            Some(l) if index - l > self.capacity(settings) as u64 => {
                // A gap longer than the history: what was learnt no longer describes the series.
                self.restart(index);
                self.score(settings, index, timestamp, value)
            }
            Some(l) => {
                self.fill_gap(settings, (index - l - 1) as usize);
                self.score(settings, index, timestamp, value)
            }
            None => {
                self.first = index;
                self.score(settings, self.first, timestamp, value)
            }
        };
        self.append(settings, value);
        outcome
    }

    fn restart(&mut self, index: u64) {
        self.history.clear();
        self.first = index;
        self.fit = None;
        self.since_fit = 0;
        self.detect_at = index;
        self.excursion = None;
    }

    fn start_grid(&mut self, settings: &DetectorSettings) {
        let mut diffs: Vec<f64> = self.probe.windows(2).map(|w| w[1].0 - w[0].0).collect();
        diffs.sort_by(f64::total_cmp);
        let step = diffs[diffs.len() / 2];
        self.set_step(settings, step);
        let probe = std::mem::take(&mut self.probe);
        self.origin = probe[0].0;
        self.last_timestamp = None;
        for (t, v) in probe {
            // Re-placing already-scored points: their outcome was reported when they arrived.
            let _ = self.push(settings, t, v);
        }
    }

    /// `slots` missing points (fewer than the capacity, see `push`), added at once: a hostile
    /// series of far-apart points costs a copy per point, not a loop per missing slot.
    fn fill_gap(&mut self, settings: &DetectorSettings, slots: usize) {
        self.history.extend(std::iter::repeat_n(f64::NAN, slots));
        let cap = self.capacity(settings);
        let excess = self.history.len().saturating_sub(cap);
        self.history.drain(..excess);
        self.first += excess as u64;
        self.since_fit += slots;
    }

    fn append(&mut self, settings: &DetectorSettings, value: f64) {
        self.history.push_back(value);
        let cap = self.capacity(settings);
        while self.history.len() > cap {
            self.history.pop_front();
            self.first += 1;
        }
        self.since_fit += 1;
    }

    fn score(&mut self, settings: &DetectorSettings, index: u64, timestamp: f64, value: f64) -> Outcome {
        if let Some(fit) = &self.fit {
            if let Some((expected, lower, upper)) = fit.at(index) {
                let ready = fit.complete;
                return self.calibrated(settings, Band { expected, lower, upper }, timestamp, value, ready);
            }
        }
        let recent: Vec<f64> = self.tail(settings.fallback_window).collect();
        self.score_with_fallback(settings, recent, timestamp, value)
    }

    fn score_with_fallback(
        &mut self,
        settings: &DetectorSettings,
        recent: Vec<f64>,
        timestamp: f64,
        value: f64,
    ) -> Outcome {
        if recent.iter().filter(|v| v.is_finite()).count() < MIN_FALLBACK_POINTS {
            return Outcome::Warming;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let band = fallback::band(recent.into_iter(), settings.level.z(), &mut scratch);
        self.scratch = scratch;
        match band {
            Some(band) => self.calibrated(settings, band, timestamp, value, false),
            None => Outcome::Warming,
        }
    }

    /// Widens `band` to the `level` quantile of recent errors, scores the point, and records its
    /// error for the points after it.
    fn calibrated(
        &mut self,
        settings: &DetectorSettings,
        band: Band,
        timestamp: f64,
        value: f64,
        ready: bool,
    ) -> Outcome {
        let mut band = band;
        if self.errors.len() >= MIN_CALIBRATION {
            // ⌈level·n⌉-th smallest error: with the default level and window, the largest error of
            // the last 1000 points — a point is anomalous when it misses by more than any of them.
            self.scratch.clear();
            self.scratch.extend(self.errors.iter().copied());
            let k =
                ((settings.level.get() * self.scratch.len() as f64).ceil() as usize).clamp(1, self.scratch.len()) - 1;
            let (_, q, _) = self.scratch.select_nth_unstable_by(k, f64::total_cmp);
            let q = *q;
            band.lower = band.lower.min(band.expected - q);
            band.upper = band.upper.max(band.expected + q);
        }
        let mut observation = observe(settings, band, timestamp, value, ready);
        let deviation = value - band.expected;
        let outside = observation.anomalous();
        if let Some(previous) = self.excursion {
            // The previous point was outside its band. Until a refit catches up, the forecast does
            // not know it, so each point of a level shift or a slow excursion would miss the band
            // again: one event, many alarms. Such a point is scored against the excursion too,
            // and counts only if it is surprising both ways — it jumps again, or comes back.
            let persisted = deviation_score(settings, deviation - previous, band.half_width());
            observation.score = observation.score.min(persisted);
        }
        self.excursion = (outside && deviation.is_finite()).then_some(deviation);
        let error = deviation.abs();
        if error.is_finite() {
            if self.errors.len() >= settings.calibration_window {
                self.errors.pop_front();
            }
            self.errors.push_back(error);
        }
        Outcome::Scored(observation)
    }

    /// A refit, if one is due: the history holds two longest periods and either there is no fit
    /// yet or `refit_every` points (less this series' phase, the first time) have arrived since.
    ///
    /// Periods join the fit as soon as two of them fit in the history (a daily period after two
    /// days, the weekly one after two weeks); the series is `ready` once all of them are in.
    pub fn take_fit_job(&mut self, settings: &DetectorSettings) -> Option<FitJob> {
        let periods: Vec<usize> = self.periods.iter().copied().filter(|&p| 2 * p <= self.history.len()).collect();
        if self.fit_in_flight || periods.is_empty() {
            return None;
        }
        let complete = periods.len() == self.periods.len();
        let more_periods = self.fit.as_ref().is_some_and(|f| !f.complete && complete);
        if self.fit.is_some() && self.since_fit < settings.refit_every && !more_periods {
            return None;
        }
        let end = self.last_index()?;
        // Configured periods are the user's word; periods derived from the step are a guess.
        let detect = settings.periods.is_none() && end >= self.detect_at;
        if detect {
            self.detect_at = end + self.history.len() as u64;
        }
        self.fit_in_flight = true;
        Some(FitJob {
            values: self.history.iter().copied().collect(),
            end,
            complete,
            periods,
            detected: self.detected(),
            detect_beside: detect.then(|| self.periods.clone()),
            level: settings.level.get(),
            // Room for a refit that runs late on a busy pool before the fallback takes over.
            horizon: 4 * settings.refit_every + 1,
        })
    }

    /// Installs a finished fit (or records a failed one: retried after `refit_every` points).
    pub fn finish_fit(&mut self, result: Result<SeasonalFit, FitError>) {
        let first_fit = self.fit.is_none();
        self.fit_in_flight = false;
        match result {
            Ok(fit) => {
                // A fit of an older history (the series restarted meanwhile) is dropped.
                if fit.end + 1 >= self.first {
                    self.since_fit = self.last_index().map_or(0, |l| (l - fit.end) as usize);
                    if first_fit {
                        self.since_fit += self.phase;
                    }
                    self.fit = Some(fit);
                }
            }
            Err(_) => self.since_fit = 0,
        }
    }

    /// Periods the data showed beyond `periods` (see [`period`]): those of the last fit that the
    /// step or the config did not give.
    pub fn detected(&self) -> Vec<usize> {
        let fitted = self.fit.as_ref().map_or(&[][..], |f| &f.periods[..]);
        fitted.iter().copied().filter(|p| !self.periods.contains(p)).collect()
    }

    /// The detector as a new process takes it back from a snapshot: a refit that was running when
    /// the snapshot was taken died with that process, so it is asked for again at the next point.
    pub fn resumed(mut self) -> Self {
        self.fit_in_flight = false;
        self
    }

    /// Whether a seasonal fit covers the next point.
    pub fn ready(&self) -> bool {
        match (&self.fit, self.last_index()) {
            (Some(f), Some(l)) => f.complete && f.at(l + 1).is_some(),
            _ => false,
        }
    }
}

fn observe(settings: &DetectorSettings, band: Band, timestamp: f64, value: f64, ready: bool) -> Observation {
    let score = deviation_score(settings, value - band.expected, band.half_width());
    Observation { timestamp, value, score, expected: band.expected, lower: band.lower, upper: band.upper, ready }
}

/// `deviation` over the band's half-width (floored at `min_deviation`), on the configured side.
fn deviation_score(settings: &DetectorSettings, deviation: f64, half_width: f64) -> f64 {
    let counted = match settings.direction {
        Direction::Both => deviation.abs(),
        Direction::Above => deviation.max(0.0),
        Direction::Below => (-deviation).max(0.0),
    };
    let width = half_width.max(settings.min_deviation);
    if !counted.is_finite() || counted == 0.0 {
        0.0
    } else if width > 0.0 {
        counted / width
    } else {
        // A perfectly flat history and no min_deviation: any change is as surprising as it gets.
        f64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DetectorSettings {
        DetectorSettings { periods: Some(vec![24]), step_seconds: Some(3600.0), refit_every: 12, ..Default::default() }
    }

    fn scored(o: Outcome) -> Observation {
        match o {
            Outcome::Scored(o) => o,
            other => panic!("not scored: {other:?}"),
        }
    }

    #[test]
    fn cold_start_uses_the_fallback_until_two_periods_then_the_seasonal_fit() {
        let s = settings();
        let mut d = SeriesDetector::new(&s, 0);
        let y = |i: usize| {
            10.0 + 5.0 * (2.0 * std::f64::consts::PI * i as f64 / 24.0).sin() + ((i * 7919) % 13) as f64 * 0.05
        };
        for i in 0..48 {
            let o = d.push(&s, i as f64 * 3600.0, y(i));
            if i >= MIN_FALLBACK_POINTS {
                assert!(!scored(o).ready);
            }
            assert!(d.take_fit_job(&s).is_none() || i == 47);
        }
        // The job was taken at i = 47 above; run it like replay does.
        d.fit_in_flight = false;
        let job = d.take_fit_job(&s).unwrap();
        assert_eq!((job.values.len(), job.end), (48, 47));
        d.finish_fit(job.run());
        assert!(d.ready());
        let o = scored(d.push(&s, 48.0 * 3600.0, y(48)));
        assert!(o.ready && o.score < 1.0, "{o:?}");
        let spike = scored(d.push(&s, 49.0 * 3600.0, y(49) + 20.0));
        assert!(spike.ready && spike.score > 2.0, "{spike:?}");
    }

    #[test]
    fn a_growing_excursion_scores_above_1_at_its_start_only_and_a_new_jump_again() {
        let s = settings();
        let mut d = SeriesDetector::new(&s, 0);
        let base = |i: usize| 10.0 + ((i * 7919) % 13) as f64 * 0.05;
        let mut t = 0;
        let mut push = |d: &mut SeriesDetector, v: f64| {
            let o = d.push(&s, t as f64 * 3600.0, v);
            t += 1;
            o
        };
        for i in 0..100 {
            push(&mut d, base(i));
        }
        // No fit is run: the fallback scores, and the rule is the same for both.
        let start = scored(push(&mut d, 20.0));
        assert!(start.score > 1.0, "{start:?}");
        for k in 1..6 {
            // Each point misses by more than any before it (so it is outside its band), but only
            // continues the excursion.
            let o = scored(push(&mut d, 20.0 + 2.0 * k as f64));
            assert!(o.value > o.upper && o.score < 1.0, "k={k} {o:?}");
        }
        let back = scored(push(&mut d, base(0)));
        assert!(back.score < 1.0, "{back:?}");
        let again = scored(push(&mut d, 60.0));
        assert!(again.score > 1.0, "{again:?}");
    }

    #[test]
    fn a_period_the_step_does_not_imply_is_found_and_fitted_beside_the_day() {
        // Five-minute points (a day is 288) with a spike pair every 100 points.
        let s = DetectorSettings { periods: None, step_seconds: Some(300.0), ..Default::default() };
        let mut d = SeriesDetector::new(&s, 0);
        let y = |i: usize| if i % 100 == 0 || i % 100 == 6 { 20.0 } else { 0.0 };
        let mut job = None;
        for i in 0..576 {
            d.push(&s, i as f64 * 300.0, y(i));
            job = job.or(d.take_fit_job(&s));
        }
        let job = job.expect("a fit is due after two days");
        assert_eq!((job.periods.clone(), job.detect_beside.clone()), (vec![288], Some(vec![288, 2016])));
        d.finish_fit(job.run());
        assert_eq!(d.detected(), vec![100]);
        // The next spike is expected; an extra one is not.
        assert!(scored(d.push(&s, 600.0 * 300.0, 20.0)).score < 1.0);
        assert!(scored(d.push(&s, 605.0 * 300.0, 20.0)).score > 1.0);
    }

    #[test]
    fn late_and_duplicate_points_do_not_move_the_grid_and_gaps_are_filled() {
        let s = settings();
        let mut d = SeriesDetector::new(&s, 0);
        for i in 0..5 {
            d.push(&s, i as f64 * 3600.0, i as f64);
        }
        assert_eq!(d.push(&s, 3.0 * 3600.0, 9.0), Outcome::Late);
        d.push(&s, 8.0 * 3600.0 + 20.0, 8.0);
        assert_eq!(d.last_index(), Some(8));
        let tail: Vec<f64> = d.tail(4).collect();
        assert_eq!(tail[3], 8.0);
        assert!(tail[..3].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn the_step_is_inferred_from_the_first_points() {
        let s = DetectorSettings { step_seconds: None, ..settings() };
        let mut d = SeriesDetector::new(&s, 0);
        for i in 0..=STEP_PROBE {
            d.push(&s, 1000.0 + i as f64 * 300.0, 1.0);
        }
        assert_eq!(d.step(), Some(300.0));
        assert_eq!(d.last_index(), Some(STEP_PROBE as u64));
    }

    #[test]
    fn timestamps_a_hair_apart_then_far_apart_keep_grid_indices_exact_and_finish() {
        // Inferred from sub-nanosecond spacing, the step would put the next points past 2^64 grid
        // slots; the gap fill then wrapped and spun forever.
        let s = DetectorSettings { step_seconds: None, ..settings() };
        let mut d = SeriesDetector::new(&s, 0);
        for i in 0..=STEP_PROBE {
            d.push(&s, i as f64 * 1e-12, 1.0);
        }
        assert_eq!(d.step(), Some(MIN_STEP));
        for t in [5e10, 9e10, 9e10 + 0.5, MAX_TIMESTAMP] {
            assert!(matches!(d.push(&s, t, 1.0), Outcome::Scored(_) | Outcome::Warming));
            assert_eq!(d.last_index(), Some((t / MIN_STEP).round() as u64));
        }
        assert!(d.tail(usize::MAX).count() <= d.capacity(&s));
    }

    #[test]
    fn a_timestamp_no_grid_can_hold_is_refused_and_changes_nothing() {
        let s = settings();
        let mut d = SeriesDetector::new(&s, 0);
        d.push(&s, 3600.0, 1.0);
        let before = d.clone();
        for t in [-1.0, MAX_TIMESTAMP * 2.0, f64::INFINITY, f64::NAN, 1e300] {
            assert_eq!(d.push(&s, t, 1.0), Outcome::OutOfRange, "{t}");
        }
        assert_eq!(d, before);
    }

    #[test]
    fn a_gap_just_shorter_than_the_history_is_filled_at_once_and_keeps_the_history_bounded() {
        let s = settings();
        let mut d = SeriesDetector::new(&s, 0);
        let cap = d.capacity(&s) as u64;
        d.push(&s, 0.0, 1.0);
        d.push(&s, cap as f64 * 3600.0, 2.0);
        assert_eq!(d.last_index(), Some(cap));
        assert_eq!(d.tail(usize::MAX).count() as u64, cap);
        assert_eq!(d.tail(1).next(), Some(2.0));
        assert!(d.tail(usize::MAX).take(cap as usize - 1).all(f64::is_nan));
    }

    #[test]
    fn direction_and_min_deviation_bound_the_score() {
        let band = Band { expected: 10.0, lower: 8.0, upper: 12.0 };
        let s = DetectorSettings { direction: Direction::Above, ..settings() };
        assert_eq!(observe(&s, band, 0.0, 6.0, true).score, 0.0);
        assert_eq!(observe(&s, band, 0.0, 14.0, true).score, 2.0);
        let s = DetectorSettings { min_deviation: 8.0, ..settings() };
        assert_eq!(observe(&s, band, 0.0, 6.0, true).score, 0.5);
        assert_eq!(observe(&s, band, 0.0, f64::NAN, true).score, 0.0);
    }
}
