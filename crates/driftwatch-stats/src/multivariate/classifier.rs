//! A classifier two-sample test: if a classifier tells the window's rows from the reference's
//! better than chance, they come from different distributions. The classifier is gradient-boosted
//! depth-2 trees on quantile-binned features (LightGBM's idea, which NannyML's domain classifier
//! uses, in a hundred lines): depth 2 is what a change in how two features move together needs —
//! a correlation flip is a split on one feature and then on the other. The score is the ROC AUC of
//! stratified k-fold out-of-fold predictions (NannyML's convention), 0.5 when the two are alike.

use super::auc::roc_auc;
use super::{Matrix, SplitMix64};

/// Settings of the boosted trees and the cross-validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierSettings {
    pub folds: usize,
    pub rounds: usize,
    pub learning_rate: f64,
    /// Quantile bins per feature (at most 256).
    pub bins: usize,
    /// Fewest training rows in a leaf.
    pub min_leaf: usize,
    /// L2 penalty on leaf weights.
    pub lambda: f64,
}

impl Default for ClassifierSettings {
    fn default() -> Self {
        ClassifierSettings { folds: 5, rounds: 50, learning_rate: 0.2, bins: 32, min_leaf: 20, lambda: 1.0 }
    }
}

/// Features binned once: `codes[j * rows + i]` is row `i`'s bin of feature `j`.
struct Binned {
    rows: usize,
    cols: usize,
    codes: Vec<u8>,
    bins: usize,
}

fn bin_features(x: &Matrix, bins: usize) -> Binned {
    let (rows, cols) = (x.rows, x.cols);
    let mut codes = vec![0u8; rows * cols];
    let mut column = vec![0.0; rows];
    for j in 0..cols {
        for (i, c) in column.iter_mut().enumerate() {
            *c = x.data[i * cols + j];
        }
        let mut sorted = column.clone();
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..bins).map(|b| sorted[b * (rows - 1) / bins]).collect();
        edges.dedup();
        for (i, &v) in column.iter().enumerate() {
            codes[j * rows + i] = edges.partition_point(|&e| e < v) as u8;
        }
    }
    Binned { rows, cols, codes, bins }
}

/// A split: rows with `code <= at` of feature `feature` go left.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    at: u8,
}

/// A depth-2 tree: a root split, an optional split per child, four leaf weights (a child without
/// a split uses its first leaf).
#[derive(Debug, Clone)]
struct Tree {
    root: Option<Split>,
    children: [Option<Split>; 2],
    leaves: [f64; 4],
}

impl Tree {
    fn leaf(&self, data: &Binned, i: usize) -> usize {
        let go = |s: Split| usize::from(data.codes[s.feature * data.rows + i] > s.at);
        match self.root {
            None => 0,
            Some(r) => {
                let side = go(r);
                2 * side + self.children[side].map_or(0, go)
            }
        }
    }
}

struct Grower<'a> {
    data: &'a Binned,
    grad: Vec<f64>,
    hess: Vec<f64>,
    settings: ClassifierSettings,
}

impl Grower<'_> {
    fn score(&self, g: f64, h: f64) -> f64 {
        g * g / (h + self.settings.lambda)
    }

    /// The best split of `rows`, if one improves the loss with at least `min_leaf` rows a side.
    fn best_split(&self, rows: &[usize]) -> Option<Split> {
        let bins = self.data.bins;
        let (g_all, h_all): (f64, f64) =
            rows.iter().fold((0.0, 0.0), |(g, h), &i| (g + self.grad[i], h + self.hess[i]));
        let parent = self.score(g_all, h_all);
        let mut best: Option<(f64, Split)> = None;
        let mut hist = vec![(0.0, 0.0, 0usize); bins];
        for feature in 0..self.data.cols {
            hist.iter_mut().for_each(|b| *b = (0.0, 0.0, 0));
            let codes = &self.data.codes[feature * self.data.rows..(feature + 1) * self.data.rows];
            for &i in rows {
                let b = &mut hist[codes[i] as usize];
                b.0 += self.grad[i];
                b.1 += self.hess[i];
                b.2 += 1;
            }
            let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
            for (at, &(g, h, n)) in hist.iter().enumerate().take(bins - 1) {
                gl += g;
                hl += h;
                nl += n;
                let nr = rows.len() - nl;
                if nl < self.settings.min_leaf || nr < self.settings.min_leaf {
                    continue;
                }
                let gain = self.score(gl, hl) + self.score(g_all - gl, h_all - hl) - parent;
                if gain > 1e-12 && best.is_none_or(|(b, _)| gain > b) {
                    best = Some((gain, Split { feature, at: at as u8 }));
                }
            }
        }
        best.map(|(_, s)| s)
    }

    fn grow(&self, rows: &[usize]) -> Tree {
        let mut tree = Tree { root: None, children: [None, None], leaves: [0.0; 4] };
        let side_of = |s: Split, i: usize| self.data.codes[s.feature * self.data.rows + i] > s.at;
        if let Some(root) = self.best_split(rows) {
            tree.root = Some(root);
            let (right, left): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| side_of(root, i));
            tree.children = [self.best_split(&left), self.best_split(&right)];
        }
        let mut sums = [(0.0, 0.0); 4];
        for &i in rows {
            let l = tree.leaf(self.data, i);
            sums[l].0 += self.grad[i];
            sums[l].1 += self.hess[i];
        }
        for (w, (g, h)) in tree.leaves.iter_mut().zip(sums) {
            *w = -self.settings.learning_rate * g / (h + self.settings.lambda);
        }
        tree
    }
}

fn sigmoid(f: f64) -> f64 {
    1.0 / (1.0 + (-f).exp())
}

/// Fits on `train` (labels `y`) and returns the raw scores of `test`.
fn fit_predict(data: &Binned, y: &[bool], train: &[usize], test: &[usize], settings: ClassifierSettings) -> Vec<f64> {
    let positives = train.iter().filter(|&&i| y[i]).count() as f64;
    let p = (positives / train.len() as f64).clamp(1e-6, 1.0 - 1e-6);
    let base = (p / (1.0 - p)).ln();
    let mut f = vec![base; data.rows];
    let mut grower = Grower { data, grad: vec![0.0; data.rows], hess: vec![0.0; data.rows], settings };
    let mut out = vec![base; test.len()];
    for _ in 0..settings.rounds {
        for &i in train {
            let s = sigmoid(f[i]);
            grower.grad[i] = s - f64::from(u8::from(y[i]));
            grower.hess[i] = (s * (1.0 - s)).max(1e-12);
        }
        let tree = grower.grow(train);
        for &i in train {
            f[i] += tree.leaves[tree.leaf(data, i)];
        }
        for (o, &i) in out.iter_mut().zip(test) {
            *o += tree.leaves[tree.leaf(data, i)];
        }
    }
    out
}

/// The out-of-fold ROC AUC of telling `window` rows (positive) from `reference` rows, with folds
/// stratified by class and drawn from `seed`. `None` when either side has fewer rows than folds.
pub fn cross_validated_auc(
    reference: &Matrix,
    window: &Matrix,
    settings: ClassifierSettings,
    seed: u64,
) -> Option<f64> {
    assert_eq!(reference.cols, window.cols);
    let k = settings.folds.max(2);
    if reference.rows < k || window.rows < k {
        return None;
    }
    let mut pooled = reference.data.clone();
    pooled.extend_from_slice(&window.data);
    let x = Matrix::new(reference.rows + window.rows, reference.cols, pooled);
    let y: Vec<bool> = (0..x.rows).map(|i| i >= reference.rows).collect();
    let data = bin_features(&x, settings.bins.clamp(2, 256));
    let mut rng = SplitMix64::new(seed);
    let mut fold = vec![0usize; x.rows];
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..x.rows).filter(|&i| y[i] == class).collect();
        rng.shuffle(&mut idx);
        for (pos, &i) in idx.iter().enumerate() {
            fold[i] = pos % k;
        }
    }
    let mut oof = vec![0.0; x.rows];
    for f in 0..k {
        let (test, train): (Vec<usize>, Vec<usize>) = (0..x.rows).partition(|&i| fold[i] == f);
        for (i, s) in test.iter().zip(fit_predict(&data, &y, &train, &test, settings)) {
            oof[*i] = s;
        }
    }
    roc_auc(&y, &oof)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian_pairs(n: usize, rho: f64, seed: u64) -> Matrix {
        let mut rng = SplitMix64::new(seed);
        let mut u = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let mut data = Vec::with_capacity(2 * n);
        for _ in 0..n {
            // Box–Muller, then mix for the correlation.
            let (a, b) = (u(), u());
            let r = (-2.0 * a.ln()).sqrt();
            let (z1, z2) = (r * (std::f64::consts::TAU * b).cos(), r * (std::f64::consts::TAU * b).sin());
            data.extend([z1, rho * z1 + (1.0 - rho * rho).sqrt() * z2]);
        }
        Matrix::new(n, 2, data)
    }

    #[test]
    fn a_correlation_flip_is_told_apart_and_the_same_distribution_is_not() {
        let reference = gaussian_pairs(1000, 0.8, 1);
        let same = gaussian_pairs(500, 0.8, 2);
        let flipped = gaussian_pairs(500, -0.8, 3);
        let s = ClassifierSettings::default();
        let auc_same = cross_validated_auc(&reference, &same, s, 7).unwrap();
        let auc_flip = cross_validated_auc(&reference, &flipped, s, 7).unwrap();
        assert!((0.4..0.6).contains(&auc_same), "same: {auc_same}");
        assert!(auc_flip > 0.8, "flipped: {auc_flip}");
    }
}
