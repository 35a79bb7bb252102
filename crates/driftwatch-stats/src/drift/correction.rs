//! Multiple-testing corrections across the features of one model, so that a model with many features is
//! not flagged merely because one of many null hypotheses was rejected by chance.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Each p-value against alpha on its own.
    None,
    /// Family-wise error control: reject when p <= alpha / m.
    Bonferroni,
    /// False-discovery-rate control (Benjamini–Hochberg step-up).
    #[default]
    #[serde(alias = "bh")]
    BenjaminiHochberg,
}

impl Correction {
    /// Which hypotheses are rejected at level `alpha`. NaN p-values are never rejected and do not count
    /// towards m.
    pub fn reject(self, pvalues: &[f64], alpha: f64) -> Vec<bool> {
        let m = pvalues.iter().filter(|p| !p.is_nan()).count();
        match self {
            Correction::None => pvalues.iter().map(|&p| p <= alpha).collect(),
            Correction::Bonferroni => pvalues.iter().map(|&p| p <= alpha / m as f64).collect(),
            Correction::BenjaminiHochberg => {
                let mut order: Vec<usize> = (0..pvalues.len()).filter(|&i| !pvalues[i].is_nan()).collect();
                order.sort_by(|&a, &b| pvalues[a].total_cmp(&pvalues[b]));
                // Largest rank k with p_(k) <= k/m · alpha; every p-value up to it is rejected.
                let cutoff = order
                    .iter()
                    .enumerate()
                    .filter(|&(k, &i)| pvalues[i] <= (k + 1) as f64 / m as f64 * alpha)
                    .map(|(k, _)| k + 1)
                    .next_back();
                let mut out = vec![false; pvalues.len()];
                if let Some(k) = cutoff {
                    for &i in &order[..k] {
                        out[i] = true;
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benjamini_hochberg_step_up_rejects_below_the_largest_passing_rank() {
        // m = 4, alpha = 0.05: thresholds 0.0125, 0.025, 0.0375, 0.05. Sorted p: 0.01 (pass), 0.03 (fail),
        // 0.035 (pass) -> step-up rejects the three smallest.
        let p = [0.035, 0.01, 0.5, 0.03];
        assert_eq!(Correction::BenjaminiHochberg.reject(&p, 0.05), vec![true, true, false, true]);
        assert_eq!(Correction::Bonferroni.reject(&p, 0.05), vec![false, true, false, false]);
        assert_eq!(Correction::None.reject(&p, 0.05), vec![true, true, false, true]);
    }
}
