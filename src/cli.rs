//! The `driftwatch` command line: argument parsing and wiring only; the work lives in the layers
//! below. The shutdown signal is the binary's: [`run`] is handed the future that ends a server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use driftwatch_stats::anomaly::DetectorSettings;
use tokio::net::TcpListener;

use crate::config::{Config, RawSeriesSource, Sources, detector_from_flags};
use crate::server::{self, AppState};

#[derive(Debug, Parser)]
#[command(name = "driftwatch", version, about = "Data-drift sidecar: /ingest samples, scrape drift scores on /metrics")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve /ingest and /metrics for the configured models.
    Serve {
        /// A TOML file, or a directory of them (one per model). Without it: the embedded demo config.
        #[arg(long, env = "DRIFTWATCH_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on (overrides server.listen).
        #[arg(long, env = "DRIFTWATCH_LISTEN")]
        listen: Option<SocketAddr>,
        /// Directory for the retrain webhook's outbox and policy state (overrides server.data_dir).
        #[arg(long, env = "DRIFTWATCH_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Serve the embedded demo config and stream the demo dataset into it with drift injected over time.
    Demo {
        #[arg(long, default_value = crate::config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Samples per second to stream.
        #[arg(long, default_value_t = 2000)]
        rate: u32,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// The demo model server of deploy/: serves churn predictions on POST /predict, mirrors their
    /// features to the sidecar, pushes its prediction latency, exports application metrics. Built
    /// with `--features model-server` only: it is not part of the production binary.
    #[cfg(feature = "model-server")]
    ModelServer {
        #[arg(long, env = "MODEL_SERVER_LISTEN", default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
        /// The driftwatch sidecar's base URL ("none": do not forward).
        #[arg(long, env = "DRIFTWATCH_URL", default_value = "http://127.0.0.1:9184")]
        sidecar: String,
        /// The model name the sidecar monitors.
        #[arg(long, default_value = "demo-churn")]
        model: String,
        /// Environment variable holding the sidecar's bearer token.
        #[arg(long)]
        token_env: Option<String>,
        /// Requests per second of built-in traffic to its own /predict (0: none).
        #[arg(long, default_value_t = 10)]
        traffic: u32,
        /// Rows per built-in request.
        #[arg(long, default_value_t = 50)]
        batch_rows: usize,
        /// Seconds between a built-in request and its labels reaching the sidecar's /labels.
        #[arg(long, default_value_t = 5.0)]
        label_delay: f64,
        /// Seconds between points of the prediction_latency_p95 series pushed to the sidecar.
        #[arg(long, default_value_t = 60)]
        series_every: u64,
        /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Drive /ingest of a running sidecar for a while; report throughput, latency and its memory.
    Load {
        /// The sidecar's base URL.
        #[arg(long, default_value = "http://127.0.0.1:9184")]
        target: String,
        #[arg(long, default_value = "demo-churn")]
        model: String,
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Rows per request.
        #[arg(long, default_value_t = 1000)]
        rows: usize,
        /// Seconds between report lines.
        #[arg(long, default_value_t = 10)]
        report_every: u64,
        /// Seconds of warm-up before RSS growth is measured.
        #[arg(long, default_value_t = 60)]
        warmup: u64,
        /// The sidecar's process id, to report its resident memory.
        #[arg(long)]
        pid: Option<u32>,
        /// Environment variable holding the bearer token, if the sidecar requires one.
        #[arg(long)]
        token_env: Option<String>,
        /// Write the summary (with every interval) as JSON here.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Score a `timestamp,value` CSV causally (each row from the rows before it only) through the
    /// live anomaly detector; writes `timestamp,value,anomaly_score`.
    Replay {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        #[command(flatten)]
        detector: DetectorArgs,
    },
    /// Replay every file of a NAB-format folder and print the NAB score (three profiles).
    Nab {
        /// The folder holding one sub-folder per corpus (NAB's `data/`).
        #[arg(long)]
        data: PathBuf,
        /// NAB's combined windows labels file.
        #[arg(long)]
        labels: PathBuf,
        /// Corpora (sub-folders) to score.
        #[arg(long, value_delimiter = ',', default_value = "realKnownCause,artificialWithAnomaly")]
        corpus: Vec<String>,
        /// Write the per-profile and per-file results as JSON here.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Write each file's row scores (NAB's 0–1 scale) as <dir>/<corpus>/<file>.csv.
        #[arg(long)]
        scores_dir: Option<PathBuf>,
        #[command(flatten)]
        detector: DetectorArgs,
    },
    /// Write the drift report of one file against a reference: a self-contained HTML page with the
    /// verdict, every feature's scores, p-values and thresholds, data quality and histograms.
    Report {
        /// The reference (CSV, Parquet or Arrow IPC stream).
        #[arg(long)]
        reference: PathBuf,
        /// The data to compare with it (same formats), scored as one window.
        #[arg(long)]
        current: PathBuf,
        /// A model config (file or directory) for features, methods, thresholds and bins; without it
        /// every reference column gets the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The model of --config to use (needed when it defines several).
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value = "report.html")]
        output: PathBuf,
    },
    /// Validate a config and load its references, then print what would be monitored.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Detector settings for `replay` and `nab`; the defaults are the server's defaults.
#[derive(Debug, clap::Args)]
pub struct DetectorArgs {
    /// Seasonal periods in steps (default: a day and a week of the inferred step, where they fit).
    #[arg(long, value_delimiter = ',')]
    periods: Option<Vec<usize>>,
    /// Prediction-interval level.
    #[arg(long)]
    level: Option<f64>,
    /// Points between seasonal refits.
    #[arg(long)]
    refit_every: Option<usize>,
    /// Deviations smaller than this never score above 1.
    #[arg(long)]
    min_deviation: Option<f64>,
    /// both, above or below.
    #[arg(long)]
    direction: Option<String>,
    /// Points the median/MAD cold-start fallback looks back over.
    #[arg(long)]
    fallback_window: Option<usize>,
    /// Recent prediction errors the interval is calibrated on.
    #[arg(long)]
    calibration_window: Option<usize>,
}

impl DetectorArgs {
    /// The flags checked with the config's own bounds (`--refit-every: must be between 1 and …`).
    fn settings(&self) -> anyhow::Result<DetectorSettings> {
        let direction = match &self.direction {
            Some(d) => Some(
                serde_json::from_value(serde_json::Value::String(d.clone()))
                    .map_err(|_| anyhow::anyhow!("--direction must be both, above or below"))?,
            ),
            None => None,
        };
        let raw = RawSeriesSource {
            periods: self.periods.as_ref().map(|p| p.iter().map(|&v| v as u64).collect()),
            level: self.level,
            refit_every: self.refit_every.map(|v| v as u64),
            min_deviation: self.min_deviation,
            direction,
            fallback_window: self.fallback_window.map(|v| v as u64),
            calibration_window: self.calibration_window.map(|v| v as u64),
            ..RawSeriesSource::default()
        };
        Ok(detector_from_flags(&raw)?)
    }
}

pub(crate) fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    let sources = match path {
        Some(p) => Sources::load(p)?,
        None => Sources::embedded(),
    };
    Ok(sources.validate()?)
}

/// The bearer token held by the environment variable a `--token-env` flag names, if one is named.
fn token_from_env(var: Option<String>) -> anyhow::Result<Option<String>> {
    var.map(|var| std::env::var(&var).with_context(|| format!("{var} is not set"))).transpose()
}

/// Runs the subcommand; `shutdown` resolving (the binary passes SIGTERM or Ctrl-C) stops the
/// servers of `serve`, `demo` and `model-server`.
pub async fn run(cli: Cli, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, listen, data_dir } => {
            let mut config = load_config(config.as_ref())?;
            if data_dir.is_some() {
                config.server.data_dir = data_dir;
            }
            let addr = listen.unwrap_or(config.server.listen);
            let state = Arc::new(AppState::build(&config)?);
            let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            let metrics_listener = match config.server.metrics_listen {
                Some(a) => Some(TcpListener::bind(a).await.with_context(|| format!("cannot listen on {a}"))?),
                None => None,
            };
            server::serve(listener, metrics_listener, state, shutdown).await?;
            Ok(())
        }
        Command::Demo { listen, rate, duration } => crate::tools::demo::run(listen, rate, duration, shutdown).await,
        #[cfg(feature = "model-server")]
        Command::ModelServer {
            listen,
            sidecar,
            model,
            token_env,
            traffic,
            batch_rows,
            label_delay,
            series_every,
            duration,
        } => {
            use crate::tools::model_server;
            let token = token_from_env(token_env)?;
            model_server::run(
                model_server::RunOptions {
                    listen,
                    options: model_server::Options {
                        model_name: model,
                        sidecar: (sidecar != "none").then_some(sidecar),
                        token,
                    },
                    traffic: model_server::Traffic {
                        rate: traffic,
                        rows: batch_rows,
                        label_delay: std::time::Duration::try_from_secs_f64(label_delay)
                            .map_err(|_| anyhow::anyhow!("--label-delay: seconds, >= 0, got {label_delay}"))?,
                    },
                    series_every,
                    duration,
                },
                shutdown,
            )
            .await
        }
        Command::Load { target, model, duration, concurrency, rows, report_every, warmup, pid, token_env, output } => {
            let token = token_from_env(token_env)?;
            let summary = crate::tools::load::run(crate::tools::load::LoadOptions {
                target: target.trim_end_matches('/').to_owned(),
                model,
                duration: std::time::Duration::from_secs(duration),
                concurrency: concurrency.max(1),
                rows: rows.max(1),
                report_every: std::time::Duration::from_secs(report_every.max(1)),
                pid,
                token,
                warmup: std::time::Duration::from_secs(warmup),
            })
            .await?;
            let json = serde_json::to_string_pretty(&summary)?;
            if let Some(path) = output {
                std::fs::write(&path, &json).with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!(
                "requests {} errors {} rows/s {:.0} p50 {:.2} ms p99 {:.2} ms rss growth after warm-up {}",
                summary.requests,
                summary.errors,
                summary.rows_per_s,
                summary.p50_ms,
                summary.p99_ms,
                summary.rss_growth_after_warmup.map_or("-".into(), |g| format!("{:.2} %", g * 100.0))
            );
            Ok(())
        }
        Command::Replay { input, output, detector } => {
            let settings = detector.settings()?;
            let rows =
                tokio::task::spawn_blocking(move || crate::tools::replay::replay(&settings, &input, &output)).await??;
            eprintln!("scored {rows} rows");
            Ok(())
        }
        Command::Nab { data, labels, corpus, output, scores_dir, detector } => {
            let settings = detector.settings()?;
            let eval = tokio::task::spawn_blocking(move || {
                crate::tools::replay::evaluate_nab(&settings, &data, &labels, &corpus)
            })
            .await??;
            crate::tools::replay::report_nab(&eval, scores_dir.as_deref(), output.as_deref())
        }
        Command::Report { reference, current, config, model, output } => {
            let options = crate::tools::report::ReportOptions { reference, current, config, model, output };
            let outcome = tokio::task::spawn_blocking(move || {
                crate::tools::report::run(&options).map(|outcome| (outcome, options.output))
            })
            .await??;
            let (o, output) = outcome;
            println!(
                "{}: {} rows, {} of {} features drifted, {}",
                output.display(),
                o.rows,
                o.drifted,
                o.features,
                if o.model_drift { "model drift detected" } else { "no model drift" }
            );
            Ok(())
        }
        Command::Check { config } => {
            let config = load_config(config.as_ref())?;
            let state = AppState::build(&config)?;
            for m in state.pipeline.models.values() {
                let (reference_rows, _, _) = m.fill();
                println!(
                    "model {:?} version {:?}: window {} step {}, reference {} rows",
                    m.name(),
                    m.spec.config.version,
                    m.spec.config.window,
                    m.spec.config.step,
                    reference_rows
                );
                for f in &m.spec.features {
                    let methods: Vec<&str> = f.methods.iter().map(|m| m.as_str()).collect();
                    println!("  {:<24} {:<12} {}", f.name, format!("{:?}", f.kind).to_lowercase(), methods.join(", "));
                }
            }
            Ok(())
        }
    }
}
