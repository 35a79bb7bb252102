//! ROC AUC from scores, as scikit-learn's `roc_auc_score` gives it for two classes: the
//! Mann–Whitney U of the positives' ranks over n₁·n₀, tied scores sharing their mean rank (a tie
//! between a positive and a negative counts one half).

/// The AUC of `scores` for `positive` labels; `None` unless both classes are present.
pub fn roc_auc(positive: &[bool], scores: &[f64]) -> Option<f64> {
    assert_eq!(positive.len(), scores.len());
    let n1 = positive.iter().filter(|&&p| p).count();
    let n0 = positive.len() - n1;
    if n1 == 0 || n0 == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the positives' (1-based, tie-averaged) ranks.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        let positives = order[i..j].iter().filter(|&&k| positive[k]).count();
        rank_sum += mean_rank * positives as f64;
        i = j;
    }
    let (n1, n0) = (n1 as f64, n0 as f64);
    Some((rank_sum - n1 * (n1 + 1.0) / 2.0) / (n1 * n0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_between_classes_count_one_half() {
        // Pairs (pos, neg): (0.5, 0.1) win, (0.5, 0.5) tie, (0.9, 0.1) win, (0.9, 0.5) win → 3.5 / 4.
        assert_eq!(roc_auc(&[true, false, true, false], &[0.5, 0.1, 0.9, 0.5]), Some(0.875));
        assert_eq!(roc_auc(&[true, false], &[1.0, 1.0]), Some(0.5));
        assert_eq!(roc_auc(&[true, true], &[1.0, 2.0]), None);
    }
}
