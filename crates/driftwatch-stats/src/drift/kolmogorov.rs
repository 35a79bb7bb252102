//! Distribution of the one-sample two-sided Kolmogorov–Smirnov statistic D_n, as scipy's `kstwo`
//! (Simard & L'Ecuyer 2011: the method is chosen by n and n·x²), plus Smirnov's one-sided tail.
//!
//! This is a port of `scipy/stats/_ksstats.py` so that the asymptotic branch of
//! [`super::ks::ks_pvalue`] agrees with `ks_2samp`; each branch names the formula it evaluates.
//! The one-sided tail `smirnov(n, x)` (C code in scipy) is evaluated exactly here with the
//! Birnbaum–Tingey sum in log space.

use std::f64::consts::PI;

const E128: i32 = 128;
const EP128: f64 = 3.402_823_669_209_385e38; // 2^128
const EM128: f64 = 2.938_735_877_055_719e-39; // 2^-128
const MIN_LOG: f64 = -708.0;

/// Survival function P(D_n >= x) (`scipy.stats.kstwo.sf(x, n)`).
pub fn kolmogn_sf(n: u64, x: f64) -> f64 {
    kolmogn(n, x, false)
}

/// CDF P(D_n <= x) (`scipy.stats.kstwo.cdf(x, n)`).
pub fn kolmogn_cdf(n: u64, x: f64) -> f64 {
    kolmogn(n, x, true)
}

fn select(cdfprob: f64, sfprob: f64, cdf: bool) -> f64 {
    (if cdf { cdfprob } else { sfprob }).clamp(0.0, 1.0)
}

fn kolmogn(n: u64, x: f64, cdf: bool) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return select(1.0, 0.0, cdf);
    }
    if x <= 0.0 {
        return select(0.0, 1.0, cdf);
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        // Ruben–Gambino: 1/2n <= x <= 1/n.
        if t <= 0.5 {
            return select(0.0, 1.0, cdf);
        }
        let prob = if n <= 140 {
            (1..=n).map(|i| i as f64 * (1.0 / nf) * (2.0 * t - 1.0)).product()
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return select(prob, 1.0 - prob, cdf);
    }
    if t >= nf - 1.0 {
        // Ruben–Gambino upper end.
        let prob = 2.0 * (1.0 - x).powf(nf);
        return select(1.0 - prob, prob, cdf);
    }
    if x >= 0.5 {
        // Exact: the two one-sided tails cannot overlap.
        let prob = 2.0 * smirnov(n, x);
        return select(1.0 - prob, prob, cdf);
    }
    let nxsquared = t * x;
    if n <= 140 {
        if nxsquared <= 0.754693 {
            let prob = durbin_matrix_cdf(n, x);
            return select(prob, 1.0 - prob, cdf);
        }
        if nxsquared <= 4.0 {
            let prob = pomeranz_cdf(n, x);
            return select(prob, 1.0 - prob, cdf);
        }
        // Miller's approximation: twice the one-sided tail.
        let prob = 2.0 * smirnov(n, x);
        return select(1.0 - prob, prob, cdf);
    }
    if !cdf {
        if nxsquared >= 370.0 {
            return 0.0;
        }
        if nxsquared >= 2.2 {
            return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
        }
    }
    let cdfprob = if nxsquared >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_matrix_cdf(n, x)
    } else {
        pelz_good_cdf(n, x)
    };
    select(cdfprob, 1.0 - cdfprob, cdf)
}

/// log(n! / n^n) by Stirling's series.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    // Verbatim from scipy's _ksstats.py, digits beyond f64 included, so the port is checkable by eye.
    #[allow(clippy::excessive_precision)]
    const COEFFS: [f64; 8] = [
        -2.955065359477124183e-2,
        6.4102564102564102564e-3,
        -1.9175269175269175269e-3,
        8.4175084175084175084e-4,
        -5.952380952380952381e-4,
        7.9365079365079365079e-4,
        -2.7777777777777777778e-3,
        8.3333333333333333333e-2,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let poly = COEFFS.iter().fold(0.0, |acc, &c| acc * x + c);
    n.ln() / 2.0 - n + (2.0 * PI).ln() / 2.0 + rn * poly
}

/// Durbin's matrix formula with Marsaglia–Tsang–Wang's scaling: P(D_n <= d) = n!/n^n · (H^n)_{kk}.
fn durbin_matrix_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powi(j as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let mut pwr = vec![0.0; m * m];
    for i in 0..m {
        pwr[i * m + i] = 1.0;
    }
    let mut nn = n;
    let mut expnt: i32 = 0;
    let mut h_expnt: i32 = 0;
    while nn > 0 {
        if nn % 2 == 1 {
            pwr = matmul(&pwr, &hm, m);
            expnt += h_expnt;
        }
        hm = matmul(&hm, &hm, m);
        h_expnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > EP128 {
            hm.iter_mut().for_each(|x| *x /= EP128);
            h_expnt += E128;
        }
        nn /= 2;
    }
    let mut p = pwr[(k - 1) * m + (k - 1)];
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < EM128 {
            p *= EP128;
            expnt -= E128;
        }
    }
    if expnt != 0 {
        p = ldexp(p, expnt);
    }
    p.clamp(0.0, 1.0)
}

fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            let (row_b, row_c) = (&b[k * m..(k + 1) * m], &mut c[i * m..(i + 1) * m]);
            for (cj, bj) in row_c.iter_mut().zip(row_b) {
                *cj += aik * bj;
            }
        }
    }
    c
}

fn ldexp(x: f64, e: i32) -> f64 {
    // Split the exponent so neither factor overflows on its own.
    let half = e / 2;
    x * 2f64.powi(half) * 2f64.powi(e - half)
}

fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (ip1div2, ip1mod2) = ((i + 1) / 2, (i + 1) % 2);
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// Pomeranz's recursion (1974): P(D_n <= x) as n! times the last entry of a chain of convolutions with
/// truncated Poisson weights.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let n_i = n as i64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![1.0; npwrs];
    let mut twogpower = vec![1.0; npwrs];
    let mut onem2gpower = vec![1.0; npwrs];
    let (g_n, two_g_n, one_m2g_n) = (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for m in 1..npwrs {
        let mf = m as f64;
        gpower[m] = gpower[m - 1] * g_n / mf;
        twogpower[m] = twogpower[m - 1] * two_g_n / mf;
        onem2gpower[m] = onem2gpower[m - 1] * one_m2g_n / mf;
    }
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt: i32 = 0;
    let (mut j1, mut _j2) = pomeranz_j1j2(0, n_i, ll, ceilf, roundf);
    let mut conv = Vec::new();
    for i in 1..(2 * n_i + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.fill(0.0);
        let (nj1, j2) = pomeranz_j1j2(i, n_i, ll, ceilf, roundf);
        j1 = nj1;
        _j2 = j2;
        let pwrs = if i == 1 || i == 2 * n_i + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let start = (k1 - v0s) as usize;
            let a = &v0[start.min(npwrs)..(start + ln2 as usize).min(npwrs)];
            let b = &pwrs[..(ln2 as usize).min(npwrs)];
            conv.clear();
            conv.resize(a.len() + b.len() - 1, 0.0);
            for (ia, &xa) in a.iter().enumerate() {
                for (ib, &xb) in b.iter().enumerate() {
                    conv[ia + ib] += xa * xb;
                }
            }
            let conv_start = (j1 - k1) as usize;
            let conv_len = (j2 - j1 + 1).max(0) as usize;
            let end = (conv_start + conv_len).min(conv.len());
            let src = &conv[conv_start.min(end)..end];
            v1[..src.len()].copy_from_slice(src);
            let vmax = v1.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if vmax > 0.0 && vmax < EM128 {
                v1.iter_mut().for_each(|x| *x *= EP128);
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = v1[(n_i - v1s) as usize];
    for m in 1..=n {
        if ans.abs() > EP128 {
            ans *= EM128;
            expnt += E128;
        }
        ans *= m as f64;
    }
    if expnt != 0 {
        ans = ldexp(ans, expnt);
    }
    ans.clamp(0.0, 1.0)
}

/// Pelz–Good (1976) asymptotic series for P(D_n <= x), four terms in 1/sqrt(n).
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let pi2 = PI * PI;
    let pi4 = pi2 * pi2;
    let pi6 = pi4 * pi2;
    let sqrt2pi = (2.0 * PI).sqrt();
    let z = nf.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z * z * z, z.powi(4), z.powi(6));
    let qlog = -pi2 / 8.0 / z2;
    if qlog < MIN_LOG {
        return 0.0;
    }
    let q = qlog.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf(8.0 * kk as f64);
        let coeffs = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
        for (acc, c) in k.iter_mut().zip(coeffs) {
            *acc = *acc * qpower + c;
        }
    }
    let denoms = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (acc, d) in k.iter_mut().zip(denoms) {
        *acc = *acc * q * sqrt2pi / d;
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ks = kk as f64;
        let ks2 = ks * ks;
        let qp = q2.powf(ks2);
        let kspi = PI * ks;
        k2extra += ks2 * qp;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    (0..4).map(|i| k[i] / nf.powf(i as f64 / 2.0)).sum()
}

/// One-sided tail P(D_n^+ >= x) by the Birnbaum–Tingey formula
/// x · Σ_{j=0}^{⌊n(1−x)⌋} C(n, j) (1 − x − j/n)^{n−j} (x + j/n)^{j−1}, summed in log space: every term
/// is positive, so there is no cancellation to guard against, only under/overflow.
pub fn smirnov(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let jmax = (nf * (1.0 - x)).floor() as u64;
    // Three passes (log terms, their maximum, the scaled sum), the logarithms and exponentials of a
    // block at a time through the vectorised kernels: ~9,000 terms for n = 9,091.
    const BLOCK: usize = 512;
    let count = jmax as usize + 1;
    let mut terms = vec![0.0f64; count];
    let (mut ratio, mut a, mut b) = ([0.0f64; BLOCK], [0.0f64; BLOCK], [0.0f64; BLOCK]);
    let mut positive = [false; BLOCK];
    // j within a block as doubles, so the argument loop needs no integer conversion and vectorises.
    let mut offsets = [0.0f64; BLOCK];
    for (k, o) in offsets.iter_mut().enumerate() {
        *o = k as f64;
    }
    let mut log_binom = 0.0; // ln C(n, j)
    for start in (0..count).step_by(BLOCK) {
        let len = BLOCK.min(count - start);
        let first = start as f64;
        for k in 0..len {
            let jf = first + offsets[k];
            // ln C(n, j) grows by ln((n − j + 1) / j); j = 0 adds ln 1 = 0 (fixed below).
            ratio[k] = (nf - jf + 1.0) / jf;
            let ak = 1.0 - x - jf / nf;
            // a ≤ 0 only at the last term; its logarithm is not used (see below).
            positive[k] = ak > 0.0;
            a[k] = if positive[k] { ak } else { 1.0 };
            b[k] = x + jf / nf;
        }
        if start == 0 {
            ratio[0] = 1.0;
        }
        for v in [&mut ratio, &mut a, &mut b] {
            crate::kernels::ln_in_place(&mut v[..len]);
        }
        // The running sum is serial (and kept in j order, as the scalar sum adds it); the rest of
        // each term vectorises.
        for r in &mut ratio[..len] {
            log_binom += *r;
            *r = log_binom;
        }
        for k in 0..len {
            let jf = first + offsets[k];
            terms[start + k] = if positive[k] {
                ratio[k] + (nf - jf) * a[k] + (jf - 1.0) * b[k]
            } else if nf == jf {
                ratio[k] + (jf - 1.0) * b[k]
            } else {
                f64::NEG_INFINITY
            };
        }
    }
    let max_log = max_of(&terms);
    if max_log == f64::NEG_INFINITY {
        return 0.0;
    }
    terms.iter_mut().for_each(|t| *t -= max_log);
    crate::kernels::exp_nonpositive_in_place(&mut terms);
    // Four partial sums: a single accumulator waits on every add.
    let mut lanes = [0.0f64; 4];
    let mut quads = terms.chunks_exact(4);
    for q in &mut quads {
        for (l, t) in lanes.iter_mut().zip(q) {
            *l += t;
        }
    }
    let sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + quads.remainder().iter().sum::<f64>();
    (x.ln() + max_log + sum.ln()).exp().clamp(0.0, 1.0)
}

/// The largest of NaN-free values, four lanes at a time.
fn max_of(values: &[f64]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; 4];
    let mut quads = values.chunks_exact(4);
    for q in &mut quads {
        for (l, &v) in lanes.iter_mut().zip(q) {
            *l = if v > *l { v } else { *l };
        }
    }
    quads.remainder().iter().chain(&lanes).copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The same sum with libm's scalar `ln` and `exp` term by term: what the vectorised kernels are
/// checked against.
#[cfg(test)]
fn smirnov_libm(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let jmax = (nf * (1.0 - x)).floor() as u64;
    let mut log_binom = 0.0;
    let terms: Vec<f64> = (0..=jmax)
        .map(|j| {
            let jf = j as f64;
            if j > 0 {
                log_binom += ((nf - jf + 1.0) / jf).ln();
            }
            let a = 1.0 - x - jf / nf;
            let b = x + jf / nf;
            if a > 0.0 {
                log_binom + (nf - jf) * a.ln() + (jf - 1.0) * b.ln()
            } else if n == j {
                log_binom + (jf - 1.0) * b.ln()
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    let max_log = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max_log == f64::NEG_INFINITY {
        return 0.0;
    }
    let sum: f64 = terms.iter().map(|&t| (t - max_log).exp()).sum();
    (x.ln() + max_log + sum.ln()).exp().clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smirnov_small_n_closed_forms() {
        // n = 1: P(D+ >= x) = 1 − x.
        assert!((smirnov(1, 0.3) - 0.7).abs() < 1e-15);
        // n = 2, x = 0.5: x·[(1−x)^2·x^−1 + 2·(0.5−x)·x^0 ...] = 0.5·(0.25/0.5 + 0) = 0.25.
        assert!((smirnov(2, 0.5) - 0.25).abs() < 1e-15);
    }

    #[test]
    fn smirnov_with_vectorised_logs_equals_the_libm_sum_to_1e_12() {
        let mut worst: f64 = 0.0;
        for n in [1u64, 2, 3, 10, 141, 1000, 9091, 50_000] {
            for i in 1..200 {
                let x = i as f64 / 200.0;
                let (fast, slow) = (smirnov(n, x), smirnov_libm(n, x));
                if slow > 1e-300 {
                    worst = worst.max((fast - slow).abs() / slow);
                } else {
                    assert!(fast <= 1e-290, "n={n} x={x}: {fast} vs {slow}");
                }
            }
        }
        assert!(worst < 1e-12, "relative difference {worst:e}");
    }

    #[test]
    fn cdf_and_sf_add_to_one_across_branches() {
        for (n, x) in [(10, 0.05), (10, 0.2), (50, 0.1), (50, 0.3), (200, 0.05), (5000, 0.01), (5000, 0.03)] {
            let s = kolmogn_cdf(n, x) + kolmogn_sf(n, x);
            assert!((s - 1.0).abs() < 1e-9, "n={n} x={x}: {s}");
        }
    }
}
