//! Entry point: parse arguments, set up logging, hand over to [`driftwatch::cli::run`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    driftwatch::cli::run(driftwatch::cli::Cli::parse()).await
}
