//! The HTTP surface: [`routes`] maps endpoints to the pipeline, [`auth`] checks tokens, [`state`]
//! builds what they share; [`serve`] runs it on its listeners until the shutdown future (owned by
//! the binary, passed in) resolves, then drains in-flight requests (and the scoring they wait on)
//! and writes the final snapshot.
//!
//! May import every layer below it: `pipeline`, `monitor`, `series`, `retrain`, `ingest`, `config`,
//! `metrics` and the leaves.

pub(crate) mod auth;
pub(crate) mod routes;
pub(crate) mod state;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use routes::app;
use routes::{api_app, method_not_allowed, metrics_listener_app, not_found};
pub use state::{AppState, StartError};

use crate::monitor::snapshot;

/// Serves every endpoint on `listener` until `shutdown` resolves; see [`serve`].
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(listener, None, state, shutdown).await
}

/// Serves until `shutdown` resolves (with /metrics on `metrics_listener` if given), then stops
/// accepting, lets in-flight requests and the scoring they wait on finish — for at most the
/// configured grace period — and writes a final snapshot. Starts webhook delivery and periodic
/// snapshots.
pub async fn serve(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "listening");
    state.start_background();
    let snapshots = state.data_dir.clone().map(|dir| {
        let (models, metrics) = (state.pipeline.models.clone(), state.metrics().clone());
        tokio::spawn(snapshot::periodic(models, metrics, dir, state.snapshot_interval))
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let main_router = if metrics_listener.is_some() {
        api_app(state.clone()).fallback(not_found).method_not_allowed_fallback(method_not_allowed)
    } else {
        app(state.clone())
    };
    let main = axum::serve(listener, main_router).with_graceful_shutdown(stopped());
    let metrics = async {
        match metrics_listener {
            Some(l) => {
                tracing::info!(addr = %l.local_addr()?, "serving /metrics");
                axum::serve(l, metrics_listener_app(state.clone())).with_graceful_shutdown(stopped()).await
            }
            None => Ok(()),
        }
    };
    let grace = state.shutdown_grace;
    let expired = {
        let stopped = stopped();
        async move {
            stopped.await;
            tokio::time::sleep(grace).await;
        }
    };
    let result = tokio::select! {
        r = async { tokio::try_join!(main, metrics) } => r.map(|_| ()),
        _ = expired => {
            tracing::warn!(grace_seconds = grace.as_secs_f64(), "shutdown grace period over: exiting with requests in flight");
            Ok(())
        }
    };
    if let Some(task) = snapshots {
        task.abort();
    }
    if let Some(dir) = state.data_dir.clone() {
        let models = state.pipeline.models.clone();
        match tokio::task::spawn_blocking(move || snapshot::write(&models, &dir)).await {
            Ok(Ok(bytes)) => tracing::info!(bytes, "final snapshot written"),
            Ok(Err(e)) => tracing::error!(error = %e, "could not write the final snapshot"),
            Err(e) => tracing::error!(error = %e, "final snapshot task failed"),
        }
    }
    result
}
