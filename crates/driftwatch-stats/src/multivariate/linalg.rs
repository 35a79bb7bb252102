//! The one piece of linear algebra PCA needs: eigenvectors of a small symmetric matrix (the
//! features' covariance), by cyclic Jacobi rotations. Features number in the tens to hundreds, so
//! O(d³) per sweep is milliseconds, and Jacobi's eigenvectors are orthonormal to rounding.

/// Eigenvalues (descending) and their eigenvectors (row `i` of the returned `d × d` row-major
/// matrix is the unit eigenvector of eigenvalue `i`) of the symmetric `d × d` matrix `a`.
pub(crate) fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), d * d);
    let mut a = a.to_vec();
    // v holds eigenvectors as columns while rotating.
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        if off.sqrt() <= 1e-15 * scale || scale == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * d + p], a[q * d + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| a[j * d + j].total_cmp(&a[i * d + i]));
    let values = order.iter().map(|&i| a[i * d + i]).collect();
    let mut vectors = Vec::with_capacity(d * d);
    for &i in &order {
        vectors.extend((0..d).map(|k| v[k * d + i]));
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenpairs_satisfy_av_equals_lambda_v_and_are_orthonormal() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.25, 0.5, 0.25, 1.0];
        let (values, vectors) = symmetric_eigen(&a, 3);
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        for i in 0..3 {
            let v = &vectors[i * 3..i * 3 + 3];
            for r in 0..3 {
                let av: f64 = (0..3).map(|c| a[r * 3 + c] * v[c]).sum();
                assert!((av - values[i] * v[r]).abs() < 1e-12);
            }
            for j in 0..3 {
                let dot: f64 = (0..3).map(|k| v[k] * vectors[j * 3 + k]).sum();
                assert!((dot - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        // The trace is the sum of the eigenvalues.
        assert!((values.iter().sum::<f64>() - 8.0).abs() < 1e-12);
    }
}
