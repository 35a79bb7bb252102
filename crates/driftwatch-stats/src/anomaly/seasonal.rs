//! The seasonal fit: augurs MSTL (periods in steps) with an AutoETS trend, forecast `horizon`
//! steps ahead with prediction intervals. MSTL works in f32, so the history is standardised first
//! (a series around 1e9 would otherwise lose every digit that matters) and the forecast scaled back.

use augurs::Forecast;
use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};
use serde::{Deserialize, Serialize};

/// A forecast table for the points after index `end`: scoring a new point is a lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalFit {
    /// Absolute grid index of the last point fitted.
    pub end: u64,
    pub expected: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Fitted with all the series' periods (set by the caller; a fit with only the shorter
    /// periods scores but does not make the series ready).
    #[serde(default)]
    pub complete: bool,
    /// The periods fitted, shortest first.
    #[serde(default)]
    pub periods: Vec<usize>,
}

impl SeasonalFit {
    /// Forecast for absolute index `i`, if it is within the horizon.
    pub fn at(&self, i: u64) -> Option<(f64, f64, f64)> {
        let k = i.checked_sub(self.end + 1)? as usize;
        Some((*self.expected.get(k)?, self.lower[k], self.upper[k]))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("{0} points are too few for periods {1:?}")]
    TooShort(usize, Vec<usize>),
    #[error("the model did not fit: {0}")]
    Model(String),
    #[error("the model returned no prediction intervals")]
    NoIntervals,
}

/// Fits `values` (NaN already interpolated) ending at absolute index `end`.
pub fn fit(values: &[f64], end: u64, periods: &[usize], level: f64, horizon: usize) -> Result<SeasonalFit, FitError> {
    let longest = periods.iter().copied().max().unwrap_or(0);
    // (The caller decides which periods have two cycles in `values`.)
    if periods.is_empty() || values.len() < 2 * longest {
        return Err(FitError::TooShort(values.len(), periods.to_vec()));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Model("the history has no finite value to interpolate from".into()));
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if !mean.is_finite() {
        return Err(FitError::Model("values too large to standardise".into()));
    }
    let sd = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    // Written so NaN takes this branch too.
    if sd.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !sd.is_finite() {
        // A constant history: any change from it is the news; the band has no width.
        return Ok(SeasonalFit {
            end,
            expected: vec![mean; horizon],
            lower: vec![mean; horizon],
            upper: vec![mean; horizon],
            complete: false,
            periods: periods.to_vec(),
        });
    }
    let z: Vec<f64> = values.iter().map(|v| (v - mean) / sd).collect();
    let model = MSTLModel::new(periods.to_vec(), AutoETS::non_seasonal().into_trend_model());
    let fitted = model.fit(&z).map_err(|e| FitError::Model(e.to_string()))?;
    let Forecast { point, intervals } = fitted.predict(horizon, level).map_err(|e| FitError::Model(e.to_string()))?;
    let intervals = intervals.ok_or(FitError::NoIntervals)?;
    let back = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|x| x * sd + mean).collect() };
    let out = SeasonalFit {
        end,
        expected: back(point),
        lower: back(intervals.lower),
        upper: back(intervals.upper),
        complete: false,
        periods: periods.to_vec(),
    };
    if out.expected.iter().chain(&out.lower).chain(&out.upper).any(|v| !v.is_finite()) {
        return Err(FitError::Model("non-finite forecast".into()));
    }
    Ok(out)
}

/// Linear interpolation over NaN runs; leading and trailing runs take the nearest finite value.
/// All-NaN input stays NaN.
pub fn interpolate(values: &mut [f64]) {
    let mut last: Option<usize> = None;
    for i in 0..values.len() {
        if !values[i].is_finite() {
            continue;
        }
        match last {
            None => {
                let v = values[i];
                values[..i].fill(v);
            }
            Some(j) if j + 1 < i => {
                let (a, b) = (values[j], values[i]);
                let span = (i - j) as f64;
                for (k, v) in values.iter_mut().enumerate().take(i).skip(j + 1) {
                    *v = a + (b - a) * (k - j) as f64 / span;
                }
            }
            _ => {}
        }
        last = Some(i);
    }
    if let Some(j) = last {
        let v = values[j];
        values[j + 1..].fill(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_fills_interior_runs_linearly_and_edges_flat() {
        let mut v = [f64::NAN, 1.0, f64::NAN, f64::NAN, 4.0, f64::NAN];
        interpolate(&mut v);
        assert_eq!(v, [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]);
    }

    #[test]
    fn a_clean_seasonal_series_is_forecast_within_its_interval() {
        let period = 24;
        let y: Vec<f64> = (0..period * 6)
            .map(|i| 1e9 + 1e6 * (2.0 * std::f64::consts::PI * i as f64 / period as f64).sin() + (i % 7) as f64 * 1e3)
            .collect();
        let f = fit(&y, 143, &[period], 0.95, 48).unwrap();
        for k in 0..48 {
            let i = 144 + k;
            let truth = 1e9 + 1e6 * (2.0 * std::f64::consts::PI * i as f64 / period as f64).sin();
            let (e, lo, hi) = f.at(i as u64).unwrap();
            // Large values survive the f32 decomposition because of the standardisation.
            assert!((e - truth).abs() < 2e4, "k={k} expected {e} truth {truth}");
            assert!(lo < e && e < hi);
        }
        assert!(f.at(143).is_none() && f.at(144 + 48).is_none());
    }
}
