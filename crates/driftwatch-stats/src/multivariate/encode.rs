//! The numeric matrix the multivariate detectors read, fixed by the reference the way NannyML's
//! data reconstruction calculator fixes it: a missing number becomes the reference mean, a missing
//! category the reference's most frequent one (the smallest on a tie, as scikit-learn's
//! `SimpleImputer` picks); a category becomes its share of the imputed reference (a count encoder
//! with `normalize=True`), one the reference never saw becomes 0; then every column is
//! standardised with the reference's mean and population standard deviation (scikit-learn's
//! `StandardScaler`, which leaves a constant column unscaled).

use super::Matrix;

/// Code of a missing category in a [`Column::Categorical`].
pub const MISSING: u32 = u32::MAX;

/// One feature's values over a set of rows.
#[derive(Debug, Clone, Copy)]
pub enum Column<'a> {
    /// NaN is missing.
    Numeric(&'a [f64]),
    /// Codes `0..categories` are the reference's categories, `categories` is the bin of unseen
    /// ones, [`MISSING`] is missing.
    Categorical { codes: &'a [u32], categories: usize },
}

impl Column<'_> {
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Categorical { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
enum ColumnEncoder {
    Numeric {
        impute: f64,
    },
    /// `values[code]` for every reference code and the unseen bin (last); missing takes `impute`.
    Categorical {
        values: Vec<f64>,
        impute: f64,
    },
}

/// Fitted on the reference; turns columns into the standardised matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder {
    columns: Vec<ColumnEncoder>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Encoder {
    /// Fits on the reference's columns (equal lengths, at least one row). `None` when a numeric
    /// column has no value or a categorical one no category: there is nothing to impute with.
    pub fn fit(columns: &[Column<'_>]) -> Option<Encoder> {
        let rows = columns.first()?.len();
        if rows == 0 || columns.iter().any(|c| c.len() != rows) {
            return None;
        }
        let mut encoders = Vec::with_capacity(columns.len());
        for c in columns {
            encoders.push(match *c {
                Column::Numeric(v) => {
                    let (sum, n) = v.iter().filter(|x| !x.is_nan()).fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                    if n == 0 {
                        return None;
                    }
                    ColumnEncoder::Numeric { impute: sum / n as f64 }
                }
                Column::Categorical { codes, categories } => {
                    let mut counts = vec![0u64; categories + 1];
                    let mut missing = 0u64;
                    for &code in codes {
                        match code {
                            MISSING => missing += 1,
                            c => counts[(c as usize).min(categories)] += 1,
                        }
                    }
                    // The first maximum: codes follow the categories' sorted order, so it is the
                    // smallest of the most frequent.
                    let mode = (0..counts.len()).max_by(|&a, &b| counts[a].cmp(&counts[b]).then(b.cmp(&a)))?;
                    if counts[mode] == 0 {
                        return None;
                    }
                    // Shares of the imputed reference: the missing rows count as the mode.
                    counts[mode] += missing;
                    let total = rows as f64;
                    let mut values: Vec<f64> = counts.iter().map(|&c| c as f64 / total).collect();
                    // A reference never holds unseen categories; the window's get 0.
                    values[categories] = 0.0;
                    let impute = values[mode];
                    ColumnEncoder::Categorical { values, impute }
                }
            });
        }
        let mut encoder =
            Encoder { columns: encoders, mean: vec![0.0; columns.len()], scale: vec![1.0; columns.len()] };
        let x = encoder.encode(columns);
        let d = columns.len();
        for j in 0..d {
            let mean = (0..rows).map(|i| x.data[i * d + j]).sum::<f64>() / rows as f64;
            let var = (0..rows).map(|i| (x.data[i * d + j] - mean).powi(2)).sum::<f64>() / rows as f64;
            encoder.mean[j] = mean;
            // scikit-learn's _handle_zeros_in_scale: a (near-)constant column keeps scale 1.
            let scale = var.sqrt();
            encoder.scale[j] = if scale < 10.0 * f64::EPSILON * mean.abs().max(1.0) { 1.0 } else { scale };
        }
        Some(encoder)
    }

    pub fn features(&self) -> usize {
        self.columns.len()
    }

    /// The imputed, encoded, unscaled values (row-major).
    fn encode(&self, columns: &[Column<'_>]) -> Matrix {
        assert_eq!(columns.len(), self.columns.len(), "one column per fitted feature");
        let rows = columns.first().map_or(0, Column::len);
        let d = columns.len();
        let mut data = vec![0.0; rows * d];
        for (j, (c, e)) in columns.iter().zip(&self.columns).enumerate() {
            assert_eq!(c.len(), rows, "columns of one length");
            match (*c, e) {
                (Column::Numeric(v), ColumnEncoder::Numeric { impute }) => {
                    for (i, &x) in v.iter().enumerate() {
                        data[i * d + j] = if x.is_nan() { *impute } else { x };
                    }
                }
                (Column::Categorical { codes, .. }, ColumnEncoder::Categorical { values, impute }) => {
                    let unseen = values.len() - 1;
                    for (i, &code) in codes.iter().enumerate() {
                        data[i * d + j] = match code {
                            MISSING => *impute,
                            c => values[(c as usize).min(unseen)],
                        };
                    }
                }
                _ => panic!("column {j} is not of the kind the encoder was fitted on"),
            }
        }
        Matrix::new(rows, d, data)
    }

    /// The standardised matrix of `columns` (one per fitted feature, in the same order).
    pub fn transform(&self, columns: &[Column<'_>]) -> Matrix {
        let mut x = self.encode(columns);
        let d = x.cols;
        for row in x.data.chunks_exact_mut(d) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_take_the_mean_or_mode_and_unseen_categories_encode_as_zero() {
        let nums = [1.0, f64::NAN, 3.0, 4.0];
        // categories: 0 = "a", 1 = "b"; the reference has a, a, b, missing.
        let codes = [0, 0, 1, MISSING];
        let cols = [Column::Numeric(&nums), Column::Categorical { codes: &codes, categories: 2 }];
        let e = Encoder::fit(&cols).unwrap();
        let raw = e.encode(&cols);
        let mean = 8.0 / 3.0;
        assert_eq!(raw.data, vec![1.0, 0.75, mean, 0.75, 3.0, 0.25, 4.0, 0.75]);
        let window_codes = [2, MISSING];
        let w =
            e.encode(&[Column::Numeric(&[f64::NAN, 0.0]), Column::Categorical { codes: &window_codes, categories: 2 }]);
        assert_eq!(w.data, vec![mean, 0.0, 0.0, 0.75]);
        let z = e.transform(&cols);
        for j in 0..2 {
            let m: f64 = (0..4).map(|i| z.data[i * 2 + j]).sum::<f64>() / 4.0;
            let v: f64 = (0..4).map(|i| z.data[i * 2 + j].powi(2)).sum::<f64>() / 4.0;
            assert!(m.abs() < 1e-15 && (v - 1.0).abs() < 1e-12, "column {j}: mean {m}, var {v}");
        }
    }

    #[test]
    fn a_constant_column_is_centred_but_not_scaled() {
        let e = Encoder::fit(&[Column::Numeric(&[2.0, 2.0, 2.0])]).unwrap();
        assert_eq!((e.mean[0], e.scale[0]), (2.0, 1.0));
    }
}
