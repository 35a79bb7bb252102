//! Periods the data shows but the step does not imply (a batch job every 100 points, a cron every
//! 8 hours). augurs' periodogram proposes candidates; it is only a hint, because on noisy series it
//! names periods that are not there (510 for a noisy 5-minute daily series whose period is 288). A
//! candidate is kept only if the autocorrelation confirms it: near the hint there is a lag whose
//! autocorrelation is high, and clearly higher than at half that lag — smooth, trending series
//! correlate strongly at every short lag, a periodic one dips half-way through its cycle.

use augurs::seasons::PeriodogramDetector;

/// Autocorrelation a period needs at its lag: the cycles repeat closely, not merely resemble.
pub const MIN_AUTOCORRELATION: f64 = 0.6;
/// How much lower the autocorrelation must be at half the lag.
pub const MIN_DIP: f64 = 0.3;
/// Periodogram peaks (strongest first) checked; a spike train spreads its power over harmonics.
const HINTS: usize = 5;
/// A peak is a hint when its power is at least this share of the strongest peak's.
const HINT_POWER: f64 = 0.3;
/// The history holds at least this many cycles of a detected period.
const MIN_CYCLES: usize = 3;
const SHORTEST: usize = 4;

/// The best confirmed period of `values` (finite, already interpolated) that is not a multiple or
/// a divisor of one of `known`, if any.
pub fn detect(values: &[f64], known: &[usize]) -> Option<usize> {
    let longest = values.len() / MIN_CYCLES;
    if longest < 2 * SHORTEST || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let acf = Autocorrelation::new(values)?;
    let detector = PeriodogramDetector::builder().min_period(SHORTEST as u32).max_period(longest as u32).build();
    let hints: Vec<u32> = detector.periodogram(values).peaks(HINT_POWER).map(|p| p.period).collect();
    // `peaks` comes weakest first.
    hints
        .iter()
        .rev()
        .take(HINTS)
        .filter_map(|&hint| {
            // The periodogram's bins are coarse: the period is the autocorrelation's peak near
            // the hint, and it must be a peak, not the edge of the range searched.
            let hint = hint as usize;
            let lo = (hint * 3 / 4).max(SHORTEST);
            let hi = (hint * 4 / 3).min(longest);
            let (lag, r) = (lo..=hi).map(|l| (l, acf.at(l))).max_by(|a, b| a.1.total_cmp(&b.1))?;
            let peak = lag > lo && lag < hi;
            (peak && r >= MIN_AUTOCORRELATION && r - acf.at(lag / 2) >= MIN_DIP && !related(lag, known))
                .then_some((lag, r))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(lag, _)| lag)
}

/// Whether the longer of `lag` and a known period is a whole number of the shorter (give or take
/// 2 % of the shorter): the seasonal component of the known period already describes it. 100 is
/// not related to 2016 (20 cycles leave 16 steps over); 145 is to 288.
fn related(lag: usize, known: &[usize]) -> bool {
    known.iter().any(|&k| {
        let (long, short) = (lag.max(k) as f64, lag.min(k) as f64);
        (long - (long / short).round() * short).abs() <= 0.02 * short
    })
}

struct Autocorrelation {
    centred: Vec<f64>,
    variance: f64,
}

impl Autocorrelation {
    fn new(values: &[f64]) -> Option<Self> {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let centred: Vec<f64> = values.iter().map(|v| v - mean).collect();
        let variance = centred.iter().map(|c| c * c).sum::<f64>() / n;
        (variance > 0.0 && variance.is_finite()).then_some(Autocorrelation { centred, variance })
    }

    /// The lag-`l` autocorrelation, each product averaged over the pairs that exist (so a
    /// perfectly periodic series scores 1 at its period however long the lag).
    fn at(&self, l: usize) -> f64 {
        let c = &self.centred;
        if l == 0 {
            return 1.0;
        }
        let pairs = c.len() - l;
        let sum: f64 = c[..pairs].iter().zip(&c[l..]).map(|(a, b)| a * b).sum();
        sum / pairs as f64 / self.variance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64 → uniform in [0, 1).
    fn noise(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn a_spike_train_every_100_points_is_found_beside_a_daily_period() {
        // NAB's art_increase_spike_density before its anomaly: spikes at 100k and 100k + 6.
        let y: Vec<f64> = (0..1200).map(|i| if i % 100 == 0 || i % 100 == 6 { 20.0 } else { 0.0 }).collect();
        assert_eq!(detect(&y, &[288, 2016]), Some(100));
    }

    #[test]
    fn a_noisy_sine_is_found_at_its_period_and_not_when_it_is_known() {
        let mut u = noise(7);
        let y: Vec<f64> =
            (0..2000).map(|i| (2.0 * std::f64::consts::PI * i as f64 / 77.0).sin() + 0.3 * (u() - 0.5)).collect();
        assert_eq!(detect(&y, &[]), Some(77));
        assert_eq!(detect(&y, &[77]), None);
        // A multiple of a known period is its harmonic's business.
        assert_eq!(detect(&y, &[154]), None);
    }

    #[test]
    fn noise_and_random_walks_have_no_period() {
        let mut u = noise(11);
        let white: Vec<f64> = (0..3000).map(|_| u()).collect();
        assert_eq!(detect(&white, &[]), None);
        let mut level = 0.0;
        let walk: Vec<f64> = (0..3000)
            .map(|_| {
                level += u() - 0.5;
                level
            })
            .collect();
        assert_eq!(detect(&walk, &[]), None);
        assert_eq!(detect(&[1.0; 500], &[]), None);
    }

    #[test]
    fn autocorrelation_matches_a_direct_computation() {
        let mut u = noise(3);
        let y: Vec<f64> = (0..50).map(|_| u()).collect();
        let acf = Autocorrelation::new(&y).unwrap();
        let m = y.iter().sum::<f64>() / 50.0;
        let var = y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 50.0;
        for l in [1, 5, 20] {
            let direct = (0..50 - l).map(|i| (y[i] - m) * (y[i + l] - m)).sum::<f64>() / (50 - l) as f64 / var;
            assert!((acf.at(l) - direct).abs() < 1e-12);
        }
    }
}
