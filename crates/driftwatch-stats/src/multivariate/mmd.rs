//! Maximum mean discrepancy between the reference and a window, as alibi-detect's `MMDDrift`
//! computes it: a Gaussian RBF kernel k(x, y) = exp(−‖x − y‖² / 2σ²) over the pooled rows, the
//! unbiased MMD² (diagonal left out), and a permutation p-value — the share of random relabellings
//! of the pooled rows whose MMD² is at least the observed one. σ defaults to alibi's median
//! heuristic. The kernel matrix is (n + m)², so the caller bounds n and m by subsampling.

use super::{Matrix, SplitMix64};
use crate::kernels;

/// One test's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmdTest {
    pub mmd2: f64,
    pub pvalue: f64,
    /// The MMD² a window must exceed to be flagged at `alpha`: alibi's `distance_threshold`, the
    /// permuted statistics sorted descending, taken at index ⌊alpha · permutations⌋.
    pub threshold: f64,
    pub sigma: f64,
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// alibi-detect's `sigma_median(x, y, dist)`: with `dist` the squared distances between the rows
/// of `x` and of `y`, σ = sqrt(½ · sorted(dist)[k]) where k = n + (|dist| − n) / 2 − 1 and n is the
/// number of leading rows `x` and `y` share (all of them when they are the same matrix, so the
/// zero self-distances are skipped; else 0).
pub fn median_sigma(x: &Matrix, y: &Matrix) -> f64 {
    let mut dist = Vec::with_capacity(x.rows * y.rows);
    for i in 0..x.rows {
        for j in 0..y.rows {
            dist.push(squared_distance(x.row(i), y.row(j)));
        }
    }
    let n = x.rows.min(y.rows);
    let same = x.rows == y.rows && x.cols == y.cols && (0..n).all(|i| x.row(i) == y.row(i));
    let n = if same { n } else { 0 };
    let k = n + (dist.len() - n) / 2 - 1;
    let (_, median, _) = dist.select_nth_unstable_by(k, f64::total_cmp);
    (0.5 * *median).sqrt()
}

/// The pooled kernel matrix of `[x; y]` with its diagonal set to 0, row-major.
fn kernel_matrix(x: &Matrix, y: &Matrix, sigma: f64) -> Vec<f64> {
    let rows: Vec<&[f64]> = (0..x.rows).map(|i| x.row(i)).chain((0..y.rows).map(|i| y.row(i))).collect();
    let n = rows.len();
    let gamma = -1.0 / (2.0 * sigma * sigma);
    let mut k = vec![0.0; n * n];
    for i in 0..n {
        let out = &mut k[i * n..(i + 1) * n];
        for (o, r) in out.iter_mut().zip(&rows) {
            *o = gamma * squared_distance(rows[i], r);
        }
        kernels::exp_nonpositive_in_place(out);
        out[i] = 0.0;
    }
    k
}

/// The pooled kernel matrix with what every split of it reuses: its row sums and total.
struct Pooled {
    k: Vec<f64>,
    row_sums: Vec<f64>,
    total: f64,
}

impl Pooled {
    fn new(x: &Matrix, y: &Matrix, sigma: f64) -> Pooled {
        let k = kernel_matrix(x, y, sigma);
        let row_sums: Vec<f64> = k.chunks_exact(x.rows + y.rows).map(|r| r.iter().sum()).collect();
        let total = row_sums.iter().sum();
        Pooled { k, row_sums, total }
    }

    fn mmd2(&self, order: &[usize], n: usize) -> f64 {
        mmd2_split(&self.k, &self.row_sums, self.total, order, n)
    }
}

/// MMD² with the first `n` of the pooled rows (in `order`) as the reference and the rest as the
/// window, from a zero-diagonal kernel matrix and its row sums.
fn mmd2_split(k: &[f64], row_sums: &[f64], total: f64, order: &[usize], n: usize) -> f64 {
    let big = order.len();
    let m = big - n;
    let mut member = vec![false; big];
    for &i in &order[..n] {
        member[i] = true;
    }
    let mut xx = 0.0;
    let mut x_all = 0.0;
    for &i in &order[..n] {
        let row = &k[i * big..(i + 1) * big];
        x_all += row_sums[i];
        // Independent accumulators: the sum over a row is the hot loop of every permutation.
        let mut acc = [0.0; 4];
        for (c, (kv, &mv)) in row.iter().zip(&member).enumerate() {
            if mv {
                acc[c & 3] += kv;
            }
        }
        xx += acc[0] + acc[1] + acc[2] + acc[3];
    }
    let xy = x_all - xx;
    let yy = total - 2.0 * x_all + xx;
    let (nf, mf) = (n as f64, m as f64);
    xx / (nf * (nf - 1.0)) + yy / (mf * (mf - 1.0)) - 2.0 * xy / (nf * mf)
}

/// The MMD test of `x` (reference, ≥ 2 rows) against `y` (window, ≥ 2 rows) with `permutations`
/// random relabellings drawn from `seed`; σ from [`median_sigma`] of `x` with itself when `None`.
pub fn mmd_test(x: &Matrix, y: &Matrix, sigma: Option<f64>, permutations: usize, alpha: f64, seed: u64) -> MmdTest {
    assert!(x.rows >= 2 && y.rows >= 2 && x.cols == y.cols);
    let sigma = sigma.unwrap_or_else(|| median_sigma(x, x));
    // A degenerate reference (all rows equal) has σ = 0; any positive width then gives the same
    // verdict as the limit.
    let sigma = if sigma > 0.0 && sigma.is_finite() { sigma } else { 1.0 };
    let pooled = Pooled::new(x, y, sigma);
    let mut order: Vec<usize> = (0..x.rows + y.rows).collect();
    let mmd2 = pooled.mmd2(&order, x.rows);
    let mut rng = SplitMix64::new(seed);
    let mut permuted: Vec<f64> = (0..permutations)
        .map(|_| {
            rng.shuffle(&mut order);
            pooled.mmd2(&order, x.rows)
        })
        .collect();
    let pvalue = if permutations == 0 {
        f64::NAN
    } else {
        permuted.iter().filter(|&&p| mmd2 <= p).count() as f64 / permutations as f64
    };
    permuted.sort_by(|a, b| b.total_cmp(a));
    let threshold = permuted
        .get(((alpha * permutations as f64) as usize).min(permutations.saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN);
    MmdTest { mmd2, pvalue, threshold, sigma }
}

/// MMD² of `x` against `y` with a given σ (no permutations).
pub fn mmd2(x: &Matrix, y: &Matrix, sigma: f64) -> f64 {
    let order: Vec<usize> = (0..x.rows + y.rows).collect();
    Pooled::new(x, y, sigma).mmd2(&order, x.rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, term by term.
    fn mmd2_slow(x: &Matrix, y: &Matrix, sigma: f64) -> f64 {
        let k = |a: &[f64], b: &[f64]| (-squared_distance(a, b) / (2.0 * sigma * sigma)).exp();
        let (n, m) = (x.rows as f64, y.rows as f64);
        let mut xx = 0.0;
        for i in 0..x.rows {
            for j in 0..x.rows {
                if i != j {
                    xx += k(x.row(i), x.row(j));
                }
            }
        }
        let mut yy = 0.0;
        for i in 0..y.rows {
            for j in 0..y.rows {
                if i != j {
                    yy += k(y.row(i), y.row(j));
                }
            }
        }
        let mut xy = 0.0;
        for i in 0..x.rows {
            for j in 0..y.rows {
                xy += k(x.row(i), y.row(j));
            }
        }
        xx / (n * (n - 1.0)) + yy / (m * (m - 1.0)) - 2.0 * xy / (n * m)
    }

    #[test]
    fn the_unbiased_statistic_equals_its_definition() {
        let x = Matrix::new(5, 2, vec![0.0, 1.0, 1.0, 0.5, -1.0, 0.2, 0.3, 0.3, 2.0, -1.0]);
        let y = Matrix::new(4, 2, vec![1.0, 1.0, 2.0, 0.5, 0.0, 0.0, 1.5, -0.5]);
        for sigma in [0.5, 1.0, 3.0] {
            let fast = mmd2(&x, &y, sigma);
            assert!((fast - mmd2_slow(&x, &y, sigma)).abs() < 1e-14, "σ = {sigma}");
        }
    }

    /// Under the null the permutation p-value is uniform: about alpha of the windows are flagged.
    #[test]
    fn the_permutation_test_flags_about_alpha_of_null_windows() {
        let mut rng = SplitMix64::new(42);
        let mut draw = |n: usize| {
            Matrix::new(n, 2, (0..2 * n).map(|_| ((rng.next_u64() >> 11) as f64) / (1u64 << 53) as f64).collect())
        };
        let trials = 400;
        let flagged = (0..trials)
            .filter(|&t| {
                let (x, y) = (draw(60), draw(40));
                mmd_test(&x, &y, None, 100, 0.05, t).pvalue < 0.05
            })
            .count();
        // Binomial(400, 0.05): mean 20, sd 4.4.
        assert!((8..=34).contains(&flagged), "{flagged} of {trials} null windows flagged at alpha 0.05");
    }

    #[test]
    fn median_sigma_skips_the_zero_self_distances() {
        // Three points on a line at 0, 1, 3: squared distances 1, 4, 9 (each twice) and three zeros.
        let x = Matrix::new(3, 1, vec![0.0, 1.0, 3.0]);
        // k = 3 + (9 − 3) / 2 − 1 = 5: sorted [0, 0, 0, 1, 1, 4, 4, 9, 9] → 4.
        assert_eq!(median_sigma(&x, &x), (0.5f64 * 4.0).sqrt());
    }
}
