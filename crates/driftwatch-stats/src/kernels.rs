//! Hot loops shared by the drift statistics: branch-free binning of a contiguous slice against sorted
//! edges, and galloping searches over sorted slices.
//!
//! Everything here works on plain `&[f64]` with no allocation per value, so the compiler can keep the
//! inner loops in vector registers. Callers guarantee the slices are free of NaN.

/// Values are binned in blocks this long: the per-block bin indices fit in a stack array that stays in L1.
const BLOCK: usize = 512;

/// Adds to `counts[i]` the number of `values` that fall in bin `i`, where bin `i` holds the values with
/// exactly `i` edges `<=` them (numpy's `searchsorted(edges, v, side="right")`).
///
/// `counts.len()` must be `edges.len() + 1` and at most 256. The index of each value is the sum of
/// `v >= edge` over the edges — a compare-and-add per edge with no branches, which vectorises across
/// the block (u32 lanes, so the compare masks need no narrowing); the scatter into the histogram uses
/// four interleaved copies so consecutive increments of one bin don't serialise on a memory location.
/// On x86-64 with AVX2 the same code is compiled a second time for 4-wide vectors and picked at run
/// time, so the binary still runs on any x86-64.
pub fn bin_counts(values: &[f64], edges: &[f64], counts: &mut [u64]) {
    assert_eq!(counts.len(), edges.len() + 1, "one more bin than edges");
    assert!(counts.len() <= 256, "bin index must fit in a u8");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { bin_counts_avx2(values, edges, counts) };
    }
    bin_counts_portable(values, edges, counts)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bin_counts_avx2(values: &[f64], edges: &[f64], counts: &mut [u64]) {
    bin_counts_portable(values, edges, counts)
}

#[inline(always)]
fn bin_counts_portable(values: &[f64], edges: &[f64], counts: &mut [u64]) {
    let bins = counts.len();
    let mut lanes = [0u32; 4 * 256];
    let mut idx = [0u32; BLOCK];
    for block in values.chunks(BLOCK) {
        let idx = &mut idx[..block.len()];
        idx.fill(0);
        for &edge in edges {
            for (i, &v) in idx.iter_mut().zip(block) {
                *i += u32::from(v >= edge);
            }
        }
        let mut quads = idx.chunks_exact(4);
        for q in &mut quads {
            lanes[q[0] as usize] += 1;
            lanes[256 + q[1] as usize] += 1;
            lanes[512 + q[2] as usize] += 1;
            lanes[768 + q[3] as usize] += 1;
        }
        for &i in quads.remainder() {
            lanes[i as usize] += 1;
        }
    }
    // A lane counts about a quarter of the values, so u32 lanes hold slices of up to ~16 billion values.
    for (b, count) in counts.iter_mut().enumerate().take(bins) {
        *count +=
            u64::from(lanes[b]) + u64::from(lanes[256 + b]) + u64::from(lanes[512 + b]) + u64::from(lanes[768 + b]);
    }
}

/// Bin counts of an ascending slice: one binary search per edge instead of a pass over the values.
pub fn bin_counts_sorted(sorted: &[f64], edges: &[f64], counts: &mut [u64]) {
    assert_eq!(counts.len(), edges.len() + 1, "one more bin than edges");
    let mut prev = 0usize;
    for (count, &edge) in counts.iter_mut().zip(edges) {
        // Values < edge have fewer than this many edges <= them.
        let at = prev + sorted[prev..].partition_point(|&v| v < edge);
        *count += (at - prev) as u64;
        prev = at;
    }
    counts[edges.len()] += (sorted.len() - prev) as u64;
}

/// First index `i >= from` with `sorted[i] >= target` (or `sorted.len()`), searching outward from
/// `from` in doubling steps: O(log distance) when successive targets are close, as in a merge.
pub fn gallop_lower(sorted: &[f64], from: usize, target: f64) -> usize {
    gallop(sorted, from, |x| x < target)
}

/// First index `i >= from` with `sorted[i] > target` (or `sorted.len()`).
pub fn gallop_upper(sorted: &[f64], from: usize, target: f64) -> usize {
    gallop(sorted, from, |x| x <= target)
}

#[inline]
fn gallop(sorted: &[f64], from: usize, before: impl Fn(f64) -> bool) -> usize {
    let n = sorted.len();
    if from >= n || !before(sorted[from]) {
        return from.min(n);
    }
    // Invariant: before(sorted[lo]) holds.
    let mut lo = from;
    let mut step = 1;
    while lo + step < n && before(sorted[lo + step]) {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step).min(n);
    lo + 1 + sorted[lo + 1..hi].partition_point(|&x| before(x))
}

/// Sorts a NaN-free slice ascending with a radix sort (radsort): a few linear passes instead of
/// O(n log n) comparisons. It orders -0.0 before 0.0, which no statistic here can observe (they only
/// compare with `<`/`<=`).
pub fn sort_values(values: &mut [f64]) {
    radsort::sort(values);
}

/// Natural logarithms of positive, finite, normal values, in place, within 1 ulp (fdlibm's `log`:
/// the same reduction and polynomial as musl's, written without branches or tables so the loop
/// vectorises, 4 lanes with AVX2, picked at run time as for [`bin_counts`]). Smirnov's tail sums
/// thousands of logarithms per p-value; libm's scalar `ln` was most of the KS path's time.
pub fn ln_in_place(xs: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { ln_avx2(xs) };
    }
    xs.iter_mut().for_each(|x| *x = ln_one(*x));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ln_avx2(xs: &mut [f64]) {
    xs.iter_mut().for_each(|x| *x = ln_one(*x));
}

/// 2^52: adding it to a non-negative integer below 2^52 puts the integer in the low mantissa bits.
const TWO52: f64 = 4_503_599_627_370_496.0;

// Constants verbatim from fdlibm (e_log.c, e_exp.c), digits beyond f64 included, so the port is
// checkable by eye.
#[allow(clippy::excessive_precision)]
#[inline(always)]
fn ln_one(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const LG1: f64 = 6.666_666_666_666_735_130e-01;
    const LG2: f64 = 3.999_999_999_940_941_908e-01;
    const LG3: f64 = 2.857_142_874_366_239_149e-01;
    const LG4: f64 = 2.222_219_843_214_978_396e-01;
    const LG5: f64 = 1.818_357_216_161_805_012e-01;
    const LG6: f64 = 1.531_383_769_920_937_332e-01;
    const LG7: f64 = 1.479_819_860_511_658_591e-01;
    let bits = x.to_bits();
    // Reduce x to 2^k · m with m in [sqrt(2)/2, sqrt(2)).
    let hx = (bits >> 32) + (0x3ff0_0000 - 0x3fe6_a09e);
    // k + 1023 as a double, without an integer conversion (none is vectorised for 64-bit lanes).
    let dk = f64::from_bits((hx >> 20) | TWO52.to_bits()) - (TWO52 + 1023.0);
    let m = f64::from_bits((((hx & 0x000f_ffff) + 0x3fe6_a09e) << 32) | (bits & 0xffff_ffff));
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI
}

/// `exp` of values at most 0, in place, within 1 ulp (fdlibm's reduction and polynomial, without
/// branches, vectorised like [`ln_in_place`]); arguments below −708 give 0 (what a sum of such
/// terms against a largest term of 1 keeps of them).
pub fn exp_nonpositive_in_place(xs: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { exp_avx2(xs) };
    }
    xs.iter_mut().for_each(|x| *x = exp_one(*x));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_avx2(xs: &mut [f64]) {
    xs.iter_mut().for_each(|x| *x = exp_one(*x));
}

#[allow(clippy::excessive_precision)]
#[inline(always)]
fn exp_one(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const INV_LN2: f64 = std::f64::consts::LOG2_E; // fdlibm's invln2, 0x3ff71547652b82fe
    const P1: f64 = 1.666_666_666_666_660_190_37e-01;
    const P2: f64 = -2.777_777_777_701_559_338_42e-03;
    const P3: f64 = 6.613_756_321_437_934_361_17e-05;
    const P4: f64 = -1.653_390_220_546_525_153_90e-06;
    const P5: f64 = 4.138_136_797_057_238_460_39e-08;
    // 1.5 · 2^52: adding and subtracting it rounds to the nearest integer.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let under = x < -708.0;
    let x = if under { -708.0 } else { x };
    let k = (x * INV_LN2 + ROUND) - ROUND;
    let hi = x - k * LN2_HI;
    let lo = k * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // 2^k from k + 1023 placed in the exponent field (k is in [-1022, 0]).
    let scale = f64::from_bits(((k + 1023.0 + TWO52).to_bits() & 0x000f_ffff_ffff_ffff) << 52);
    if under { 0.0 } else { y * scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow_bin(values: &[f64], edges: &[f64]) -> Vec<u64> {
        let mut c = vec![0; edges.len() + 1];
        for &v in values {
            c[edges.iter().filter(|&&e| e <= v).count()] += 1;
        }
        c
    }

    #[test]
    fn bin_counts_matches_a_linear_scan_on_every_block_boundary() {
        let edges = [-1.0, 0.0, 0.5, 2.0];
        for n in [0, 1, 3, 4, 5, 511, 512, 513, 2000] {
            let values: Vec<f64> = (0..n).map(|i| ((i * 7919) % 101) as f64 / 25.0 - 2.0).collect();
            let mut c = vec![0; 5];
            bin_counts(&values, &edges, &mut c);
            assert_eq!(c, slow_bin(&values, &edges), "n={n}");
        }
    }

    #[test]
    fn sorted_bin_counts_match_the_scan() {
        let edges = [-1.0, 0.0, 0.0 + f64::EPSILON, 2.0];
        let mut values: Vec<f64> = (0..997).map(|i| ((i * 7919) % 101) as f64 / 25.0 - 2.0).collect();
        values.sort_by(f64::total_cmp);
        let mut c = vec![0; 5];
        bin_counts_sorted(&values, &edges, &mut c);
        assert_eq!(c, slow_bin(&values, &edges));
    }

    #[test]
    fn value_equal_to_an_edge_goes_to_the_bin_right_of_it() {
        let mut c = vec![0; 3];
        bin_counts(&[1.0, 2.0], &[1.0, 2.0], &mut c);
        assert_eq!(c, vec![0, 1, 1]);
    }

    /// Distance in units in the last place between two doubles of one sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn vectorised_ln_is_within_one_ulp_of_libm_over_every_binade_used() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut xs = Vec::new();
        for _ in 0..400_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Uniform mantissa, exponent across 2^-1000 .. 2^1000.
            let e = (state >> 52) % 2000;
            xs.push(f64::from_bits(((e + 23) << 52) | (state & 0x000f_ffff_ffff_ffff)));
        }
        xs.extend([
            1.0,
            2.0,
            0.5,
            std::f64::consts::SQRT_2,
            1.0 + f64::EPSILON,
            1.0 - f64::EPSILON / 2.0,
            f64::MAX,
            f64::MIN_POSITIVE,
        ]);
        let mut got = xs.clone();
        ln_in_place(&mut got);
        let worst = xs.iter().zip(&got).map(|(x, g)| ulps(x.ln(), *g)).max().unwrap();
        assert!(worst <= 1, "{worst} ulps");
        let mut portable = xs.clone();
        portable.iter_mut().for_each(|x| *x = ln_one(*x));
        assert_eq!(portable, got, "the AVX2 and portable builds agree");
    }

    #[test]
    fn vectorised_exp_is_within_one_ulp_of_libm_down_to_its_cutoff() {
        let mut xs: Vec<f64> = (0..400_000).map(|i| -(i as f64) * 708.0 / 400_000.0).collect();
        xs.extend([0.0, -0.0, -1e-300, -1e-17, -0.5 * std::f64::consts::LN_2, -707.999, -708.0]);
        let mut got = xs.clone();
        exp_nonpositive_in_place(&mut got);
        let worst = xs.iter().zip(&got).map(|(x, g)| ulps(x.exp(), *g)).max().unwrap();
        assert!(worst <= 1, "{worst} ulps");
        let mut below = vec![-708.5, -1e4, f64::NEG_INFINITY];
        exp_nonpositive_in_place(&mut below);
        assert_eq!(below, vec![0.0; 3]);
    }

    #[test]
    fn gallop_agrees_with_partition_point() {
        let s = [0.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 7.0];
        for from in 0..=s.len() {
            for t in [-1.0, 0.0, 0.5, 1.0, 2.5, 3.0, 7.0, 9.0] {
                let lo = from + s[from..].partition_point(|&x| x < t);
                let hi = from + s[from..].partition_point(|&x| x <= t);
                assert_eq!(gallop_lower(&s, from, t), lo, "lower from={from} t={t}");
                assert_eq!(gallop_upper(&s, from, t), hi, "upper from={from} t={t}");
            }
        }
    }
}
