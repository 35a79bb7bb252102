//! The deterministic sample generator shared with `tests/golden/make_golden.py` (same splitmix64
//! stream, same inverse transforms, same dyadic rounding), so golden cases store parameters, not data.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Spec {
    pub dist: String,
    pub n: usize,
    pub seed: u64,
    pub a: f64,
    pub b: f64,
    pub q: i32,
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * 2f64.powi(-53)
    }
}

pub(crate) fn sample(spec: &Spec) -> Vec<f64> {
    let mut rng = SplitMix64(spec.seed);
    let scale = 2f64.powi(spec.q);
    let (a, b) = (spec.a, spec.b);
    let pi = std::f64::consts::PI;
    (0..spec.n)
        .map(|_| {
            let x = match spec.dist.as_str() {
                "normal" | "lognormal" => {
                    let (u1, u2) = (rng.uniform(), rng.uniform());
                    let z = a + b * (-2.0 * u1.ln()).sqrt() * (2.0 * pi * u2).cos();
                    if spec.dist == "normal" { z } else { z.exp() }
                }
                "cauchy" => a + b * (pi * (rng.uniform() - 0.5)).tan(),
                "exponential" => a - b * rng.uniform().ln(),
                "int" => a + (rng.uniform() * b).floor(),
                "constant" => a,
                other => panic!("unknown distribution {other}"),
            };
            (x * scale + 0.5).floor() / scale
        })
        .collect()
}
