//! First Wasserstein (earth mover's) distance between two samples, equal to
//! `scipy.stats.wasserstein_distance(reference, current)`: ∫ |F_ref − F_cur| dx, computed by one merge of
//! the two sorted samples.

/// Both samples ascending, NaN-free and non-empty.
pub fn wasserstein_sorted(reference: &[f64], current: &[f64]) -> f64 {
    let (n, m) = (reference.len() as f64, current.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = 0.0;
    // Walk the union in ascending order; after consuming every value <= x, the ECDFs are i/n and j/m,
    // constant until the next union value.
    let mut x = reference[0].min(current[0]);
    loop {
        while i < reference.len() && reference[i] <= x {
            i += 1;
        }
        while j < current.len() && current[j] <= x {
            j += 1;
        }
        let next = match (reference.get(i), current.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        total += (i as f64 / n - j as f64 / m).abs() * (next - x);
        x = next;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scipy_docstring_examples() {
        // wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0
        assert!((wasserstein_sorted(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]) - 5.0).abs() < 1e-15);
        // A shift by c moves the distance by exactly c.
        assert!((wasserstein_sorted(&[0.0, 1.0], &[0.5, 1.5]) - 0.5).abs() < 1e-15);
    }
}
