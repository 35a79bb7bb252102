//! Two-sample Kolmogorov–Smirnov test, equal to `scipy.stats.ks_2samp(reference, current,
//! method="auto")`: the statistic D and its two-sided p-value.
//!
//! D is computed from the sorted reference (prepared once) and the sorted window by galloping through
//! the reference once per distinct window value — O(m log(n/m)) instead of scipy's two
//! `searchsorted` passes over the concatenation. The p-value follows scipy's choice of method: the
//! exact lattice-path count when both samples have at most 10,000 values, else the distribution of the
//! one-sample statistic at the effective size `round(n·m/(n+m))` ([`super::kolmogorov`]).

use super::kolmogorov::kolmogn_sf;
use crate::kernels::{gallop_lower, gallop_upper};

/// scipy's `MAX_AUTO_N`: above this many values in either sample, `method="auto"` is asymptotic.
const MAX_AUTO_N: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    pub statistic: f64,
    pub pvalue: f64,
}

/// Every this many reference values one is read as a fence; a window value's rank in the reference
/// is then known to within a block of this size without touching the block.
const FENCE: usize = 64;

/// The KS statistic D = sup |F_ref − F_cur| of two ascending, NaN-free, non-empty samples.
///
/// Between two consecutive distinct window values the window's ECDF is flat, so the largest positive
/// difference F_ref − F_cur is reached just below the next window value and the largest negative one
/// at the window value itself; both need only the reference's rank of that value. Each difference is
/// formed as `count / n − count / m`, the same floating-point expression scipy evaluates.
///
/// A 100k reference is 800 KB per feature, out of cache by the time a window is scored, and a
/// merge through all of it was the costliest part of KS. So ranks are first bounded from fences
/// (every 64th reference value, 1/64 of the memory): that gives a lower bound on D and, per window
/// value, an upper bound on what it could contribute. Only values whose bound beats the best exact
/// difference so far get their rank exactly, by a search inside one 64-value block. The result is
/// the exact D, the same bits as the full merge ([`ks_statistic_merge`]), which the tests hold it to.
pub fn ks_statistic_sorted(reference: &[f64], current: &[f64]) -> f64 {
    // Differences are compared as exact integers `count·m − i·n` (scaled by n·m); below 2^40 a
    // difference of one such unit is far more than the float expression's rounding, so the order of
    // the floats is the order of the integers.
    let (len, lenc) = (reference.len() as u64, current.len() as u64);
    if reference.len() < 4 * FENCE || len.saturating_mul(lenc) >= 1 << 40 {
        return ks_statistic_merge(reference, current);
    }
    let (n, m) = (reference.len() as f64, current.len() as f64);
    let (ni, mi) = (len as i64, lenc as i64);
    let fences: Vec<f64> = reference.iter().step_by(FENCE).copied().collect();
    // (#ref below the value) is in lo..=hi when `k` fences are below it.
    let bounds = |k: usize| {
        if k == 0 { (0, 0) } else { (FENCE * (k - 1) + 1, if k < fences.len() { FENCE * k } else { reference.len() }) }
    };
    struct Candidate {
        value: f64,
        i: usize,
        j: usize,
        lt: (usize, usize),
        le: (usize, usize),
    }
    let mut candidates = Vec::new();
    // The largest difference known to be attained, as an integer.
    let mut floor = 0i64;
    let (mut k_lt, mut k_le) = (0, 0);
    for (value, i, j) in distinct_runs(current) {
        while k_lt < fences.len() && fences[k_lt] < value {
            k_lt += 1;
        }
        k_le = k_le.max(k_lt);
        while k_le < fences.len() && fences[k_le] <= value {
            k_le += 1;
        }
        let (lt, le) = (bounds(k_lt), bounds(k_le));
        let (ii, ji) = (i as i64, j as i64);
        floor = floor.max(lt.0 as i64 * mi - ii * ni).max(ji * ni - le.1 as i64 * mi);
        candidates.push(Candidate { value, i, j, lt, le });
    }
    // Every value that could reach the largest difference gets it exactly, as the merge forms it.
    let mut best = 0.0f64;
    for c in &candidates {
        let (ii, ji) = (c.i as i64, c.j as i64);
        if c.lt.1 as i64 * mi - ii * ni >= floor {
            let lower = c.lt.0 + reference[c.lt.0..c.lt.1].partition_point(|&x| x < c.value);
            floor = floor.max(lower as i64 * mi - ii * ni);
            best = best.max(lower as f64 / n - c.i as f64 / m);
        }
        if ji * ni - c.le.0 as i64 * mi >= floor {
            let upper = c.le.0 + reference[c.le.0..c.le.1].partition_point(|&x| x <= c.value);
            floor = floor.max(ji * ni - upper as i64 * mi);
            best = best.max(c.j as f64 / m - upper as f64 / n);
        }
    }
    best
}

/// D by galloping through the whole reference once per distinct window value: the plain merge
/// [`ks_statistic_sorted`] must equal, and what it uses for small references.
pub fn ks_statistic_merge(reference: &[f64], current: &[f64]) -> f64 {
    let (n, m) = (reference.len() as f64, current.len() as f64);
    let (mut max_pos, mut max_neg) = (0.0f64, 0.0f64);
    let mut lower = 0; // #ref < value
    for (value, i, j) in distinct_runs(current) {
        lower = gallop_lower(reference, lower, value);
        let upper = gallop_upper(reference, lower, value); // #ref <= value
        max_pos = max_pos.max(lower as f64 / n - i as f64 / m);
        max_neg = max_neg.max(j as f64 / m - upper as f64 / n);
        lower = upper;
    }
    max_pos.max(max_neg)
}

/// Each distinct value of an ascending sample with the run it fills: values `[i, j)` equal it.
fn distinct_runs(sorted: &[f64]) -> impl Iterator<Item = (f64, usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let value = *sorted.get(i)?;
        let start = i;
        i += sorted[i..].iter().take_while(|&&x| x == value).count();
        Some((value, start, i))
    })
}

/// `ks_2samp(reference, current)` for ascending, NaN-free, non-empty samples.
pub fn ks_2samp_sorted(reference: &[f64], current: &[f64]) -> KsResult {
    let d = ks_statistic_sorted(reference, current);
    let (statistic, pvalue) = ks_pvalue(d, reference.len(), current.len());
    KsResult { statistic, pvalue }
}

/// Two-sided p-value of statistic `d` for sample sizes `n1`, `n2`, as `ks_2samp(method="auto")`.
/// Returns the statistic too because scipy's exact branch snaps it to the lattice `h / lcm(n1, n2)`.
pub fn ks_pvalue(d: f64, n1: usize, n2: usize) -> (f64, f64) {
    assert!(n1 > 0 && n2 > 0, "KS needs two non-empty samples");
    let mut d = d;
    if n1.max(n2) <= MAX_AUTO_N {
        let g = gcd(n1, n2);
        let lcm = (n1 / g) as f64 * n2 as f64;
        let h = (d * lcm).round_ties_even();
        d = h / lcm;
        if h == 0.0 {
            return (d, 1.0);
        }
        let h = h as usize;
        let p = if n1 == n2 { prob_outside_square(n1, h) } else { outer_prob_inside_method(n1, n2, g, h) };
        if (0.0..=1.0).contains(&p) {
            return (d, p);
        }
        // scipy falls back to the asymptotic branch when the exact count is not a probability.
    }
    let (m, n) = if n1 >= n2 { (n1 as f64, n2 as f64) } else { (n2 as f64, n1 as f64) };
    let en = m * n / (m + n);
    let p = kolmogn_sf(en.round_ties_even() as u64, d);
    (d, p.clamp(0.0, 1.0))
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// P(D_{n,n} >= h/n) for equal sample sizes: the alternating sum of binomial ratios evaluated in
/// Horner form to avoid cancellation (scipy's `_compute_prob_outside_square`).
fn prob_outside_square(n: usize, h: usize) -> f64 {
    let (nf, hf) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (nf / hf).floor() as i64;
    while k >= 0 {
        let kf = k as f64;
        let mut p1 = 1.0;
        for j in 0..h {
            let jf = j as f64;
            p1 = (nf - kf * hf - jf) * p1 / (nf + kf * hf + jf + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// Proportion of lattice paths from (0,0) to (m,n) that leave the band |x/m − y/n| < h/lcm, computed as
/// 1 − p directly (Viehmann 2021, scipy's `_compute_outer_prob_inside_method`) over a sliding column.
fn outer_prob_inside_method(m: usize, n: usize, g: usize, h: usize) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (n_i, h_i) = (n as i64, h as i64);
    let ceil_div = |a: i64, b: i64| a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h_i, mg).min(n_i + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n_i + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in &mut a[minj as usize..maxj as usize] {
        *v = 0.0;
    }
    for i in 1..=m as i64 {
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((ng * i - h_i).div_euclid(mg) + 1).max(0).min(n_i);
        maxj = ceil_div(ng * i + h_i, mg).min(n_i + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for jj in 0..(maxj - minj) {
            let j = (jj + minj) as f64;
            val = (a[(jj + minj - lastminj) as usize] * fi + val * j) / (fi + j);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            for v in &mut a[(maxj - minj) as usize..(maxj - minj + lastlen - curlen) as usize] {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistic_of_disjoint_samples_is_one() {
        assert_eq!(ks_statistic_sorted(&[1.0, 2.0], &[3.0, 4.0, 5.0]), 1.0);
        assert_eq!(ks_statistic_sorted(&[3.0, 4.0, 5.0], &[1.0, 2.0]), 1.0);
    }

    #[test]
    fn statistic_of_identical_samples_is_zero_and_p_is_one() {
        let s = [1.0, 1.0, 2.0, 3.0];
        let r = ks_2samp_sorted(&s, &s);
        assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
    }

    /// xorshift values: `levels` distinct values when given, else continuous.
    fn sample(seed: u64, len: usize, shift: f64, levels: Option<u64>) -> Vec<f64> {
        let mut state = seed;
        let mut v: Vec<f64> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match levels {
                    Some(l) => (state % l) as f64 + shift.round(),
                    None => (state >> 11) as f64 / (1u64 << 53) as f64 + shift,
                }
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn fenced_statistic_equals_the_full_merge_bit_for_bit() {
        for (n, m) in [(256, 10), (257, 1000), (10_000, 10_000), (100_000, 10_000), (100_000, 37), (5_000, 60_000)] {
            for shift in [0.0, 0.003, 0.05, 0.5, 2.0] {
                for levels in [None, Some(3), Some(40), Some(5000)] {
                    let r = sample(n as u64 + 1, n, 0.0, levels);
                    let c = sample(m as u64 * 7 + 3, m, shift, levels);
                    let (fenced, merged) = (ks_statistic_sorted(&r, &c), ks_statistic_merge(&r, &c));
                    assert_eq!(fenced.to_bits(), merged.to_bits(), "n={n} m={m} shift={shift} levels={levels:?}");
                }
            }
        }
    }

    #[test]
    fn published_small_sample_value() {
        // scipy.stats.ks_2samp([1,2,3,4,5], [6,7,8,9,10]) -> statistic 1.0, pvalue 0.007936507936507936
        // (= 2 / C(10, 5)).
        let r = ks_2samp_sorted(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(r.statistic, 1.0);
        assert!((r.pvalue - 2.0 / 252.0).abs() < 1e-15);
    }
}
