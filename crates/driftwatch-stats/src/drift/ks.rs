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

/// The KS statistic D = sup |F_ref − F_cur| of two ascending, NaN-free, non-empty samples.
///
/// Between two consecutive distinct window values the window's ECDF is flat, so the largest positive
/// difference F_ref − F_cur is reached just below the next window value and the largest negative one
/// at the window value itself; both need only the reference's rank of that value. Each difference is
/// formed as `count / n − count / m`, the same floating-point expression scipy evaluates.
pub fn ks_statistic_sorted(reference: &[f64], current: &[f64]) -> f64 {
    let (n, m) = (reference.len() as f64, current.len() as f64);
    let (mut max_pos, mut max_neg) = (0.0f64, 0.0f64);
    let mut lower = 0; // #ref < value
    let mut i = 0;
    while i < current.len() {
        let value = current[i];
        let mut j = i + 1;
        while j < current.len() && current[j] == value {
            j += 1;
        }
        lower = gallop_lower(reference, lower, value);
        let upper = gallop_upper(reference, lower, value); // #ref <= value
        max_pos = max_pos.max(lower as f64 / n - i as f64 / m);
        max_neg = max_neg.max(j as f64 / m - upper as f64 / n);
        lower = upper;
        i = j;
    }
    max_pos.max(max_neg)
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

    #[test]
    fn published_small_sample_value() {
        // scipy.stats.ks_2samp([1,2,3,4,5], [6,7,8,9,10]) -> statistic 1.0, pvalue 0.007936507936507936
        // (= 2 / C(10, 5)).
        let r = ks_2samp_sorted(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(r.statistic, 1.0);
        assert!((r.pvalue - 2.0 / 252.0).abs() < 1e-15);
    }
}
