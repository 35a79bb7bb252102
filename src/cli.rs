//! The `driftwatch` command line: argument parsing and wiring only; the work lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{Config, Sources};
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
    /// Validate a config and load its references, then print what would be monitored.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    let sources = match path {
        Some(p) => Sources::load(p)?,
        None => Sources::embedded(),
    };
    Ok(sources.validate()?)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received: draining in-flight requests");
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
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
            server::serve(listener, metrics_listener, state, shutdown_signal()).await?;
            Ok(())
        }
        Command::Demo { listen, rate, duration } => crate::demo::run(listen, rate, duration).await,
        Command::Load { target, model, duration, concurrency, rows, report_every, warmup, pid, token_env, output } => {
            let token = match token_env {
                Some(var) => Some(std::env::var(&var).with_context(|| format!("{var} is not set"))?),
                None => None,
            };
            let summary = crate::load::run(crate::load::LoadOptions {
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
        Command::Check { config } => {
            let config = load_config(config.as_ref())?;
            let state = AppState::build(&config)?;
            for m in state.models.values() {
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
