//! The HTTP surface: [`routes`] maps endpoints to the pipeline, [`auth`] checks tokens, [`state`]
//! builds what they share; [`serve`] runs it on its listeners until the shutdown future (owned by
//! the binary, passed in) resolves, then drains in-flight requests (and the scoring they wait on)
//! and writes the final snapshot.
//!
//! May import every layer below it: `pipeline`, `monitor`, `series`, `retrain`, `ingest`, `config`,
//! `metrics` and the leaves.

pub(crate) mod auth;
pub(crate) mod listener;
pub(crate) mod routes;
pub(crate) mod state;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use routes::app;
use routes::{api_app, metrics_listener_app, with_fallbacks};
pub use state::{AppState, StartError};

use crate::monitor::snapshot;

/// How serving ended badly: the process should exit non-zero, saying this.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(
        "the shutdown grace period ({grace_seconds} s) ran out with {in_flight} request(s) in flight: \
         their data was not applied"
    )]
    GraceExpired { grace_seconds: f64, in_flight: i64 },
    #[error("the final snapshot failed ({0}): samples accepted since the last periodic snapshot are not on disk")]
    FinalSnapshot(String),
}

/// Longest the final snapshot may take after the grace period: a request stuck on a model's lock
/// must not hold the exit forever.
const FINAL_SNAPSHOT_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Serves every endpoint on `listener` until `shutdown` resolves; see [`serve`].
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve(listener, None, state, shutdown).await
}

/// Serves until `shutdown` resolves (with /metrics on `metrics_listener` if given), then stops
/// accepting, lets in-flight requests and the scoring they wait on finish — for at most the
/// configured grace period — and writes a final snapshot. Starts webhook delivery and periodic
/// snapshots. An expired grace period or a failed final snapshot is an error, so the exit status
/// says what was lost.
pub async fn serve(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    tracing::info!(addr = %listener.local_addr()?, "listening");
    state.start_background();
    let snapshots = state.data_dir.clone().map(|dir| {
        let (metrics, health) = (state.metrics().clone(), state.snapshot_health.clone());
        let (watched, written) = (state.clone(), state.clone());
        let dir = Arc::new(dir);
        let write = move || written.write_snapshot(&dir);
        let generations = move || watched.snapshot_generations();
        tokio::spawn(snapshot::periodic(generations, write, metrics, health, state.snapshot_interval))
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
        with_fallbacks(api_app(state.clone()), state.clone())
    } else {
        app(state.clone())
    };
    let limits = state.connection_limits;
    let main = listener::serve(listener, main_router, limits, state.metrics().clone(), stopped.clone());
    let metrics = async {
        match metrics_listener {
            Some(l) => {
                tracing::info!(addr = %l.local_addr()?, "serving /metrics");
                listener::serve(
                    l,
                    metrics_listener_app(state.clone()),
                    limits,
                    state.metrics().clone(),
                    stopped.clone(),
                )
                .await
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
    let result: Result<(), ServeError> = tokio::select! {
        r = async { tokio::try_join!(main, metrics) } => r.map(|_| ()).map_err(ServeError::from),
        _ = expired => {
            let in_flight = state.metrics().in_flight.get();
            tracing::error!(grace_seconds = grace.as_secs_f64(), in_flight, "shutdown grace period over with requests in flight");
            Err(ServeError::GraceExpired { grace_seconds: grace.as_secs_f64(), in_flight })
        }
    };
    if let Some(task) = snapshots {
        task.abort();
    }
    if let Some(dir) = state.data_dir.clone() {
        let last = state.clone();
        let written =
            tokio::time::timeout(FINAL_SNAPSHOT_LIMIT, tokio::task::spawn_blocking(move || last.write_snapshot(&dir)))
                .await;
        let failure = match written {
            Ok(Ok(Ok(bytes))) => {
                tracing::info!(bytes, "final snapshot written");
                None
            }
            Ok(Ok(Err(e))) => Some(e.to_string()),
            Ok(Err(e)) => Some(format!("the snapshot task failed: {e}")),
            Err(_) => Some(format!("not done after {} s", FINAL_SNAPSHOT_LIMIT.as_secs())),
        };
        if let Some(why) = failure {
            tracing::error!(error = %why, "could not write the final snapshot");
            state.metrics().snapshot_failures.inc();
            return Err(ServeError::FinalSnapshot(why));
        }
    }
    result
}
