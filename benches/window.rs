//! The sidecar's window scoring path (100 features, rayon across them, missing values filtered,
//! one decision across features), on the shapes `../shared/peers/drift_baseline.py` times numpy/scipy
//! on (benches/compare_peers.py runs both and prints the ratios that BENCHMARKS.md quotes). The
//! one-feature kernels are `crates/driftwatch-stats/benches/drift.rs`.
//!
//!     cargo bench --bench window

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use driftwatch::config::Sources;
use driftwatch::monitor::reference::{self, Reference, Values};
use driftwatch::monitor::score::score_window;
use driftwatch::monitor::window::{FullWindow, WindowColumn};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

fn normal(rng: &mut StdRng, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    let d = Normal::new(mean, sd).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

/// A model of `features` numeric columns scored with `methods`, fitted on N(0, 1) references.
fn model(features: usize, reference_rows: usize, window: usize, methods: &[&str]) -> (reference::ModelSpec, Reference) {
    model_with(features, reference_rows, window, methods, "")
}

/// As [`model`], with more TOML for the model (a `[model.multivariate]` table).
fn model_with(
    features: usize,
    reference_rows: usize,
    window: usize,
    methods: &[&str],
    extra: &str,
) -> (reference::ModelSpec, Reference) {
    let mut toml = format!("[[model]]\nname = \"bench\"\nwindow = {window}\nwarmup = {reference_rows}\n");
    for j in 0..features {
        toml += &format!("[[model.features]]\nname = \"f{j}\"\nkind = \"numeric\"\nmethods = {methods:?}\n");
    }
    toml += extra;
    let config = Sources::from_str(&toml, std::path::Path::new(".")).unwrap().validate().unwrap();
    let (spec, _) = reference::load_model(config.models[0].clone()).unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    let columns = (0..features).map(|_| Values::Numeric(normal(&mut rng, reference_rows, 0.0, 1.0))).collect();
    let fitted = reference::fit(&spec.features, columns, &spec.config).unwrap();
    (spec, fitted)
}

fn window(features: usize, rows: usize, mean: f64) -> FullWindow {
    let mut rng = StdRng::seed_from_u64(7);
    let columns = (0..features).map(|_| WindowColumn::Numeric(normal(&mut rng, rows, mean, 1.0))).collect();
    FullWindow::new(1, columns)
}

/// Scores one 100-feature × 10k window against a 100k reference with `methods`, as criterion id
/// `<group>/<id>`. As in the sidecar, the window's buffers are reused from one window to the next;
/// the copy of the template into them (scoring filters and sorts in place) is outside the timing.
fn bench_window(c: &mut Criterion, group: &str, id: &str, methods: &[&str], sample_size: Option<usize>) {
    let mut g = c.benchmark_group(group);
    if let Some(n) = sample_size {
        g.sample_size(n);
    }
    let (spec, fitted) = model(100, 100_000, 10_000, methods);
    let template = window(100, 10_000, 0.05);
    g.throughput(Throughput::Elements(100 * 10_000));
    g.bench_function(id, |b| b.iter_custom(|iters| time_scoring(iters, &spec, &fitted, &template)));
    g.finish();
}

/// `iters` scorings of `template` through one reused window (the copy into it untimed).
fn time_scoring(
    iters: u64,
    spec: &reference::ModelSpec,
    fitted: &Reference,
    template: &FullWindow,
) -> std::time::Duration {
    let mut w = FullWindow { columns: template.columns.clone(), missing: template.missing.clone(), ..*template };
    let mut total = std::time::Duration::ZERO;
    for _ in 0..iters {
        for (to, from) in w.columns.iter_mut().zip(&template.columns) {
            if let (WindowColumn::Numeric(to), WindowColumn::Numeric(from)) = (to, from) {
                to.clear();
                to.extend_from_slice(from);
            }
        }
        let t = std::time::Instant::now();
        std::hint::black_box(score_window(spec, fitted, &mut w));
        total += t.elapsed();
    }
    total
}

fn bench_psi(c: &mut Criterion) {
    // Peer (c4)/(c2): 100 features × 10k window, edges cached; driftwatch's full window path.
    bench_window(c, "psi", "score_window_100_features_10k", &["psi"], None);
}

fn bench_ks(c: &mut Criterion) {
    // Peer (c): a loop of scipy.stats.ks_2samp over 100 features, reference 100k, current 10k, with
    // p-values. driftwatch's reference is sorted once at load; the window is sorted per score.
    bench_window(c, "ks", "score_window_100_features_ref100k_cur10k", &["ks"], Some(20));
}

fn bench_defaults(c: &mut Criterion) {
    bench_window(c, "defaults", "psi_and_ks_100_features_ref100k_cur10k", &["psi", "ks"], Some(20));
}

/// Cost per window of each multivariate method (defaults: PCA on every row, the classifier on
/// 2,000 rows a side with 5 folds × 50 rounds, MMD on 500 a side with 100 permutations), on 20
/// features × a 10k window against a 20k reference, beside PSI alone on the same shape.
fn bench_multivariate(c: &mut Criterion) {
    let mut g = c.benchmark_group("multivariate");
    g.sample_size(10);
    let template = window(20, 10_000, 0.05);
    for (id, extra) in [
        ("psi_only", ""),
        ("pca", "[model.multivariate]\nmethods = [\"pca\"]\n"),
        ("classifier", "[model.multivariate]\nmethods = [\"classifier\"]\n"),
        ("mmd", "[model.multivariate]\nmethods = [\"mmd\"]\n"),
    ] {
        let (spec, fitted) = model_with(20, 20_000, 10_000, &["psi"], extra);
        g.bench_function(format!("{id}_20_features_ref20k_cur10k"), |b| {
            b.iter_custom(|iters| time_scoring(iters, &spec, &fitted, &template))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_psi, bench_ks, bench_defaults, bench_multivariate);
criterion_main!(benches);
