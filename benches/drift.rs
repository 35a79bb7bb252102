//! Drift scoring throughput, on the shapes `../shared/peers/drift_baseline.py` times numpy/scipy on
//! (benches/compare_peers.py runs both and prints the ratios that BENCHMARKS.md quotes).
//!
//!     cargo bench --bench drift

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use driftwatch::config::Sources;
use driftwatch::drift::{self, Method, NumericReference};
use driftwatch::engine::score_window;
use driftwatch::reference::{self, Reference, Values};
use driftwatch::window::{FullWindow, WindowColumn};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

fn normal(rng: &mut StdRng, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    let d = Normal::new(mean, sd).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

/// A model of `features` numeric columns scored with `methods`, fitted on N(0, 1) references.
fn model(features: usize, reference_rows: usize, window: usize, methods: &[&str]) -> (reference::ModelSpec, Reference) {
    let mut toml = format!("[[model]]\nname = \"bench\"\nwindow = {window}\nwarmup = {reference_rows}\n");
    for j in 0..features {
        toml += &format!("[[model.features]]\nname = \"f{j}\"\nkind = \"numeric\"\nmethods = {methods:?}\n");
    }
    let config = Sources::from_str(&toml, std::path::Path::new(".")).unwrap().validate().unwrap();
    let (spec, _) = reference::load_model(config.models[0].clone()).unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    let columns = (0..features).map(|_| Values::Numeric(normal(&mut rng, reference_rows, 0.0, 1.0))).collect();
    let fitted = reference::fit(&spec.features, columns, 10).unwrap();
    (spec, fitted)
}

fn window(features: usize, rows: usize, mean: f64) -> FullWindow {
    let mut rng = StdRng::seed_from_u64(7);
    let columns = (0..features).map(|_| WindowColumn::Numeric(normal(&mut rng, rows, mean, 1.0))).collect();
    FullWindow::new(1, columns)
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
    // Peer (c4)/(c2): 100 features × 10k window, edges cached; driftwatch's full window path.
    let (spec, fitted) = model(100, 100_000, 10_000, &["psi"]);
    let template = window(100, 10_000, 0.05);
    g.throughput(Throughput::Elements(100 * 10_000));
    g.bench_function("score_window_100_features_10k", |b| {
        b.iter_batched(
            || FullWindow { columns: template.columns.clone(), missing: template.missing.clone(), ..template },
            |w| score_window(&spec, &fitted, w),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn bench_ks(c: &mut Criterion) {
    let mut g = c.benchmark_group("ks");
    g.sample_size(20);
    // Peer (c): a loop of scipy.stats.ks_2samp over 100 features, reference 100k, current 10k, with
    // p-values. driftwatch's reference is sorted once at load; the window is sorted per score.
    let (spec, fitted) = model(100, 100_000, 10_000, &["ks"]);
    let template = window(100, 10_000, 0.05);
    g.throughput(Throughput::Elements(100 * 10_000));
    g.bench_function("score_window_100_features_ref100k_cur10k", |b| {
        b.iter_batched(
            || FullWindow { columns: template.columns.clone(), missing: template.missing.clone(), ..template },
            |w| score_window(&spec, &fitted, w),
            criterion::BatchSize::LargeInput,
        )
    });
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
            |mut w| driftwatch::kernels::sort_values(&mut w),
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

fn bench_defaults(c: &mut Criterion) {
    let mut g = c.benchmark_group("defaults");
    g.sample_size(20);
    let (spec, fitted) = model(100, 100_000, 10_000, &["psi", "ks"]);
    let template = window(100, 10_000, 0.05);
    g.throughput(Throughput::Elements(100 * 10_000));
    g.bench_function("psi_and_ks_100_features_ref100k_cur10k", |b| {
        b.iter_batched(
            || FullWindow { columns: template.columns.clone(), missing: template.missing.clone(), ..template },
            |w| score_window(&spec, &fitted, w),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_psi, bench_ks, bench_defaults);
criterion_main!(benches);
