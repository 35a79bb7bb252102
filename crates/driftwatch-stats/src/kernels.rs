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
