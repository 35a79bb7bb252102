//! Anomaly detection on metric series: each series is put on a regular time grid, scored point by
//! point against a seasonal forecast (augurs MSTL with an AutoETS trend, refit on a schedule) or,
//! until two of its longest periods have arrived, against a robust median/MAD fallback. Pure code
//! over slices: the sidecar's `series` module owns the locks, the refit threads and the gauges.
//!
//! - [`detector`]: one series' grid, history, scoring and refit schedule.
//! - [`seasonal`]: the expensive part, an MSTL fit turned into a forecast table.
//! - [`fallback`]: median/MAD scoring for cold starts and stale fits.
//! - [`period`]: a period found in the data that the step does not imply.
//! - [`group`]: outliers across the series of one group, and changepoints.
//! - [`replay`]: causal scoring of a whole series through the same detector.
//! - [`nab`]: the Numenta Anomaly Benchmark scorer.

pub mod detector;
pub mod fallback;
pub mod group;
pub mod nab;
pub mod period;
pub mod replay;
pub mod seasonal;

use serde::{Deserialize, Serialize};

use crate::bounds::{Bound, OutOfBounds};

pub use detector::{Observation, SeriesDetector};

/// Which deviations count: `above` suits latency and error ratios, `below` accuracy and volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Both,
    Above,
    Below,
}

/// The prediction-interval level, strictly between 0.5 and 1 (NaN rejected).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Level(f64);

impl Level {
    pub const BOUND: Bound<f64> = Bound::strictly_between(0.5, 1.0);
}

impl TryFrom<f64> for Level {
    type Error = OutOfBounds;
    fn try_from(v: f64) -> Result<Self, OutOfBounds> {
        Level::BOUND.check(v).map(Level)
    }
}

impl From<Level> for f64 {
    fn from(l: Level) -> f64 {
        l.0
    }
}

impl Level {
    pub fn get(self) -> f64 {
        self.0
    }
    /// The two-sided standard-normal quantile of the level (0.99 → 2.576).
    pub fn z(self) -> f64 {
        use statrs::distribution::{ContinuousCDF, Normal};
        Normal::new(0.0, 1.0).expect("standard normal").inverse_cdf(0.5 + self.0 / 2.0)
    }
}

/// Validated detector settings, shared by every series of a model or a pull query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSettings {
    /// Seasonal periods in steps; `None` derives a day and a week from the step.
    pub periods: Option<Vec<usize>>,
    /// The sampling step; `None` infers it from the first timestamps.
    pub step_seconds: Option<f64>,
    pub level: Level,
    pub direction: Direction,
    /// Deviations smaller than this (in the series' units) never score above 1.
    pub min_deviation: f64,
    /// Points between seasonal refits.
    pub refit_every: usize,
    /// History kept: this many of the longest period…
    pub history_periods: usize,
    /// …but never more than this many points.
    pub max_history: usize,
    /// Points the median/MAD fallback looks back over.
    pub fallback_window: usize,
    /// Recent absolute prediction errors kept to calibrate the interval. Model intervals assume
    /// Gaussian errors; real series are heavier-tailed, so the half-width is never narrower than
    /// the `level` quantile of the errors actually made (split-conformal).
    pub calibration_window: usize,
}

impl Default for DetectorSettings {
    fn default() -> Self {
        DetectorSettings {
            periods: None,
            step_seconds: None,
            // With the 1000-error calibration this makes the band the largest recent error: on
            // stationary noise about one point in 1000 scores above 1 (1.4 a day for a one-minute
            // series, where 0.99 would be 14); the best NAB score of the settings tried.
            level: Level(0.9999),
            direction: Direction::Both,
            min_deviation: 0.0,
            refit_every: 60,
            history_periods: 3,
            max_history: 10_080,
            fallback_window: 120,
            calibration_window: 1000,
        }
    }
}

/// The largest timestamp a series takes, in Unix seconds (year 5138): larger ones are almost surely
/// milliseconds, and with [`MIN_STEP`] it bounds every grid index below 2^53.
pub const MAX_TIMESTAMP: f64 = 1e11;
/// The smallest sampling step, configured or inferred, in seconds.
pub const MIN_STEP: f64 = 1e-3;

pub const DAY_SECONDS: f64 = 86_400.0;
pub const WEEK_SECONDS: f64 = 604_800.0;

impl DetectorSettings {
    /// The periods used for a series sampled every `step` seconds: the configured ones, or a day
    /// and a week in steps, each kept only if `history_periods` of it fit in `max_history` (a week
    /// of one-minute points does not: 1-minute series get the daily period only).
    pub fn periods_for(&self, step: f64) -> Vec<usize> {
        if let Some(p) = &self.periods {
            return p.clone();
        }
        [DAY_SECONDS, WEEK_SECONDS]
            .iter()
            .map(|s| (s / step).round())
            .filter(|&p| p >= 4.0 && p * self.history_periods as f64 <= self.max_history as f64)
            .map(|p| p as usize)
            .collect()
    }
}
