//! Pearson's chi-squared test of homogeneity on the 2×k table (reference counts, window counts), equal
//! to `scipy.stats.chi2_contingency` with its defaults, including Yates' continuity correction when the
//! table has one degree of freedom.

use statrs::distribution::{ChiSquared, ContinuousCDF};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chi2Result {
    pub statistic: f64,
    pub pvalue: f64,
    pub dof: usize,
}

/// Categories absent from both samples are dropped first (scipy rejects tables with a zero expected
/// frequency). Both samples must be non-empty.
pub fn chi2_contingency_2xk(reference: &[u64], current: &[u64]) -> Chi2Result {
    assert_eq!(reference.len(), current.len());
    let cols: Vec<(f64, f64)> =
        reference.iter().zip(current).filter(|&(&r, &c)| r + c > 0).map(|(&r, &c)| (r as f64, c as f64)).collect();
    let rsum: f64 = cols.iter().map(|c| c.0).sum();
    let csum: f64 = cols.iter().map(|c| c.1).sum();
    assert!(rsum > 0.0 && csum > 0.0, "chi-squared needs two non-empty samples");
    let dof = cols.len().saturating_sub(1);
    if dof == 0 {
        return Chi2Result { statistic: 0.0, pvalue: 1.0, dof };
    }
    let total = rsum + csum;
    let mut statistic = 0.0;
    for &(r, c) in &cols {
        let col = r + c;
        for (obs, row) in [(r, rsum), (c, csum)] {
            let expected = row * col / total;
            let mut o = obs;
            if dof == 1 {
                // Yates: move each observation half a unit towards its expectation, never past it.
                let diff = expected - o;
                o += diff.signum() * diff.abs().min(0.5);
            }
            statistic += (o - expected) * (o - expected) / expected;
        }
    }
    let pvalue = ChiSquared::new(dof as f64).expect("dof >= 1").sf(statistic);
    Chi2Result { statistic, pvalue, dof }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_two_by_three() {
        // scipy.stats.chi2_contingency([[10, 20, 30], [6, 9, 17]]) -> (0.27157465150403504,
        // 0.873028283380073, 2).
        let r = chi2_contingency_2xk(&[10, 20, 30], &[6, 9, 17]);
        assert_eq!(r.dof, 2);
        assert!((r.statistic - 0.27157465150403504).abs() < 1e-12);
        assert!((r.pvalue - 0.873028283380073).abs() < 1e-12);
    }

    #[test]
    fn single_category_has_no_evidence() {
        let r = chi2_contingency_2xk(&[5, 0], &[9, 0]);
        assert_eq!((r.statistic, r.pvalue, r.dof), (0.0, 1.0, 0));
    }
}
