//! The cold-start scorer: a band of `z` robust standard deviations around the median of the recent
//! points. MAD is zero on mostly-constant series (an error ratio that is almost always 0), so the
//! spread falls back to the mean absolute deviation and then to zero, never to a division by zero.

/// Expected value and interval of the next point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Band {
    pub fn half_width(&self) -> f64 {
        (self.upper - self.lower) / 2.0
    }
}

/// 1 / Φ⁻¹(3/4): makes the MAD of normal data estimate its standard deviation.
const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;
/// √(π/2): the same for the mean absolute deviation.
const MEAN_AD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// The band over the finite values of `recent`, or `None` with fewer than three of them.
/// `scratch` is reused between calls so scoring a point allocates nothing.
pub fn band(recent: impl Iterator<Item = f64>, z: f64, scratch: &mut Vec<f64>) -> Option<Band> {
    scratch.clear();
    scratch.extend(recent.filter(|v| v.is_finite()));
    if scratch.len() < 3 {
        return None;
    }
    let median = median_in_place(scratch);
    for v in scratch.iter_mut() {
        *v = (*v - median).abs();
    }
    let mad = median_in_place(scratch);
    let sigma = if mad > 0.0 {
        MAD_TO_SIGMA * mad
    } else {
        MEAN_AD_TO_SIGMA * scratch.iter().sum::<f64>() / scratch.len() as f64
    };
    Some(Band { expected: median, lower: median - z * sigma, upper: median + z * sigma })
}

fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (_, hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_is_median_plus_minus_z_scaled_mad() {
        // median 3, |x-3| = [2,1,0,1,7] → MAD 1.
        let b = band([1.0, 2.0, 3.0, 4.0, 10.0].into_iter(), 2.0, &mut Vec::new()).unwrap();
        assert_eq!(b.expected, 3.0);
        assert!((b.half_width() - 2.0 * MAD_TO_SIGMA).abs() < 1e-12);
    }

    #[test]
    fn mostly_zero_series_gets_a_finite_band_not_a_division_by_zero() {
        let mut v = vec![0.0; 97];
        v.extend([0.5, 0.25, 0.25]);
        let b = band(v.into_iter(), 3.0, &mut Vec::new()).unwrap();
        assert_eq!(b.expected, 0.0);
        // MAD is 0; mean absolute deviation is 1/100.
        assert!((b.half_width() - 3.0 * MEAN_AD_TO_SIGMA * 0.01).abs() < 1e-12);
        let constant = band(std::iter::repeat_n(2.0, 10), 3.0, &mut Vec::new()).unwrap();
        assert_eq!(constant.half_width(), 0.0);
    }

    #[test]
    fn even_length_median_averages_the_middle_pair_and_nan_is_skipped() {
        let b = band([4.0, f64::NAN, 1.0, 3.0, 2.0].into_iter(), 1.0, &mut Vec::new()).unwrap();
        assert_eq!(b.expected, 2.5);
        assert!(band([1.0, f64::NAN].into_iter(), 1.0, &mut Vec::new()).is_none());
    }
}
