//! Anomaly detection cost: one seasonal refit (augurs MSTL + AutoETS) at the history sizes the
//! server keeps, the changepoint search run with it, one point scored between refits, and a fleet
//! of 1,000 one-minute series kept scored on a 2-thread refit pool (what the server does).
//!
//! `cargo bench --bench anomaly` (results and the ratios derived from them: BENCHMARKS.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use driftwatch_stats::anomaly::detector::{FitJob, Outcome};
use driftwatch_stats::anomaly::group::CHANGEPOINT_POINTS;
use driftwatch_stats::anomaly::{DetectorSettings, SeriesDetector, group, period};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// A one-minute series with hourly and daily seasons and noise.
fn minute_series(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let t = i as f64;
            100.0
                + 20.0 * (2.0 * std::f64::consts::PI * t / 1440.0).sin()
                + 5.0 * (2.0 * std::f64::consts::PI * t / 60.0).sin()
                + rng.random_range(-2.0..2.0)
        })
        .collect()
}

fn settings(periods: Vec<usize>) -> DetectorSettings {
    DetectorSettings { step_seconds: Some(60.0), periods: Some(periods), ..Default::default() }
}

/// A detector that has seen `n` points of `values` (refits inline, as replay does).
fn warmed(s: &DetectorSettings, values: &[f64], phase: usize) -> SeriesDetector {
    let mut d = SeriesDetector::new(s, phase);
    for (i, &v) in values.iter().enumerate() {
        d.push(s, 60.0 * i as f64, v);
        if let Some(job) = d.take_fit_job(s) {
            d.finish_fit(job.run());
        }
    }
    d
}

fn fits(c: &mut Criterion) {
    let mut g = c.benchmark_group("refit");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // The server's default for one-minute series: the daily period, three days kept.
    let day = FitJob {
        values: minute_series(4320, 1),
        end: 4319,
        complete: true,
        periods: vec![1440],
        detected: vec![],
        detect_beside: None,
        level: 0.9999,
        horizon: 241,
    };
    g.bench_function("mstl_autoets_4320_points_period_1440", |b| b.iter(|| black_box(day.clone().run().expect("fit"))));
    // The reference point: a week of minutes with periods [60, 1440].
    let week = FitJob { values: minute_series(10_080, 2), end: 10_079, periods: vec![60, 1440], ..day.clone() };
    g.bench_function("mstl_autoets_10080_points_periods_60_1440", |b| {
        b.iter(|| black_box(week.clone().run().expect("fit")))
    });
    let history = minute_series(4320, 3);
    g.bench_function("changepoints_4320_points", |b| b.iter(|| black_box(group::changepoints(&history))));
    let recent = &history[history.len() - CHANGEPOINT_POINTS..];
    g.bench_function("changepoints_newest_1000_points", |b| b.iter(|| black_box(group::changepoints(recent))));
    // The period search a fit runs when periods are not configured: when the history has doubled,
    // then once per turnover (4,320 points, three days, for a one-minute series).
    g.bench_function("period_search_4320_points", |b| b.iter(|| black_box(period::detect(&history, &[1440]))));
    g.finish();
}

fn scoring(c: &mut Criterion) {
    let s = settings(vec![1440]);
    let values = minute_series(4320 + 200_000, 4);
    let mut d = warmed(&s, &values[..4320], 0);
    let mut i = 4320;
    c.bench_function("score_one_point_between_refits", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let start = std::time::Instant::now();
                let o = d.push(&s, 60.0 * i as f64, values[i % values.len()]);
                timed += start.elapsed();
                black_box(matches!(o, Outcome::Scored(_)));
                i += 1;
                // Refits keep the forecast fresh, untimed: a scored point is what is measured.
                if let Some(job) = d.take_fit_job(&s) {
                    d.finish_fit(job.run());
                }
            }
            timed
        })
    });
}

/// 1,000 one-minute series, each scored every minute and refit every 60 points with refits
/// staggered by phase, on a 2-thread pool: one iteration is 6 simulated minutes.
fn fleet(c: &mut Criterion) {
    let s = settings(vec![1440]);
    let values = minute_series(4320 + 600, 5);
    // 60 phases warmed once each; the fleet clones them (1,000 warm-ups would take minutes).
    let templates: Vec<SeriesDetector> = (0..60).map(|p| warmed(&s, &values[..4320], p)).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut g = c.benchmark_group("fleet");
    g.sample_size(10).measurement_time(Duration::from_secs(60));
    g.bench_function("1000_series_6_minutes_2_threads", |b| {
        b.iter_batched(
            || (0..1000).map(|k| templates[k % 60].clone()).collect::<Vec<_>>(),
            |mut fleet| {
                for minute in 0..6 {
                    let i = 4320 + minute;
                    let mut jobs = Vec::new();
                    for (k, d) in fleet.iter_mut().enumerate() {
                        d.push(&s, 60.0 * i as f64, values[i] + k as f64 * 1e-3);
                        if let Some(job) = d.take_fit_job(&s) {
                            jobs.push((k, job));
                        }
                    }
                    let done: Vec<_> = pool.install(|| {
                        use rayon::prelude::*;
                        // What the server's refit does: the fit and the changepoint search.
                        jobs.into_par_iter()
                            .map(|(k, job)| {
                                let recent = &job.values[job.values.len() - CHANGEPOINT_POINTS..];
                                black_box(group::changepoints(recent));
                                (k, job.run())
                            })
                            .collect()
                    });
                    for (k, r) in done {
                        fleet[k].finish_fit(r);
                    }
                }
                fleet
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, fits, scoring, fleet);
criterion_main!(benches);
