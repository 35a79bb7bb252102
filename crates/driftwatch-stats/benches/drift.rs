//! Drift statistic kernels on one feature, on the shapes `../shared/peers/drift_baseline.py` times
//! numpy/scipy on (benches/compare_peers.py runs both and prints the ratios that BENCHMARKS.md
//! quotes). The 100-feature window path is `benches/window.rs` of the sidecar crate.
//!
//!     cargo bench -p driftwatch-stats --bench drift

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use driftwatch_stats::drift::{self, Method, NumericReference};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

fn normal(rng: &mut StdRng, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    let d = Normal::new(mean, sd).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

fn bench_psi(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let reference = NumericReference::fit(normal(&mut rng, 100_000, 0.0, 1.0), 10).unwrap();
    let current = normal(&mut rng, 100_000, 0.1, 1.1);
    let mut g = c.benchmark_group("psi");
    g.throughput(Throughput::Elements(current.len() as u64));
    // Peer (b2): numpy PSI score with cached edges, one feature of 100k.
    g.bench_function("score_one_feature_100k", |b| {
        b.iter(|| {
            let counts = drift::psi::bin_counts(black_box(&current), &reference.edges);
            drift::psi::psi_from_counts(&reference.counts, &counts, 1e-4)
        })
    });
    g.finish();
}

fn bench_ks(c: &mut Criterion) {
    let mut g = c.benchmark_group("ks");
    g.sample_size(20);
    // Peer (a): one ks_2samp, 100k vs 100k.
    let mut rng = StdRng::seed_from_u64(3);
    let reference = NumericReference::fit(normal(&mut rng, 100_000, 0.0, 1.0), 10).unwrap();
    let current = normal(&mut rng, 100_000, 0.1, 1.1);
    g.throughput(Throughput::Elements(200_000));
    g.bench_with_input(BenchmarkId::new("ks_2samp_one_feature", "100k_vs_100k"), &current, |b, cur| {
        b.iter_batched(
            || cur.clone(),
            |mut w| drift::score_numeric(&reference, &mut w, &[Method::Ks], 1e-4),
            criterion::BatchSize::LargeInput,
        )
    });
    // Components of the window path, to see where its time goes.
    let mut rng = StdRng::seed_from_u64(5);
    let cur10k = normal(&mut rng, 10_000, 0.05, 1.0);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("component_sort_10k", |b| {
        b.iter_batched(
            || cur10k.clone(),
            |mut w| driftwatch_stats::kernels::sort_values(&mut w),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("component_pvalue_n9091_d0.025", |b| {
        b.iter(|| drift::ks::ks_pvalue(black_box(0.025), 100_000, 10_000))
    });
    g.bench_function("component_pvalue_n9091_d0.01", |b| {
        b.iter(|| drift::ks::ks_pvalue(black_box(0.01), 100_000, 10_000))
    });
    g.finish();
}

criterion_group!(benches, bench_psi, bench_ks);
criterion_main!(benches);
