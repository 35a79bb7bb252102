//! What the handlers share, and how it is built from a validated config: the models (with their
//! restored snapshot), the series sources, the retrain planner and its delivery, the limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::unix_now;
use crate::config::{AlertmanagerConfig, Config, PullConfig, Secret};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::monitor::{self, LoadError, snapshot};
use crate::pipeline::Pipeline;
use crate::retrain::webhook::client::{Delivery, Sleeper, TokioSleeper};
use crate::retrain::{self, OpenError};
use crate::series::{Limits, RefitPool, SeriesSource};

/// Scored points kept per pushed series for the live drift report: four hours of one-minute points,
/// about 15 KB a series (pulled series keep none).
const REPORT_POINTS: usize = 240;

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Models(#[from] LoadError),
    #[error(transparent)]
    Retrain(#[from] OpenError),
    #[error("data directory {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
}

/// Everything the handlers share.
pub struct AppState {
    pub(crate) pipeline: Pipeline,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_decode_bytes: usize,
    pub(crate) alertmanager: Option<AlertmanagerConfig>,
    delivery: Option<Delivery>,
    /// Where snapshots go; `None`: state is in memory only.
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) snapshot_interval: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) connection_limits: super::listener::ConnectionLimits,
    pub(crate) body_read_timeout: Duration,
    /// Memory reserved by bodies being read and decoded, in KiB permits.
    decode_budget: Arc<tokio::sync::Semaphore>,
    pub(crate) bearer_token: Option<Secret>,
    /// One permit per request being processed on /ingest or /alertmanager.
    request_slots: Arc<tokio::sync::Semaphore>,
    /// Whether the last snapshot write failed (`/readyz` is 503 while it does).
    pub(crate) snapshot_health: Arc<snapshot::Health>,
    /// Pull queries and their series; polled by [`crate::series::pull`] once started.
    pulls: Vec<(PullConfig, Arc<SeriesSource>)>,
}

impl AppState {
    /// [`AppState::build_with`] on real time.
    pub fn build(config: &Config) -> Result<AppState, StartError> {
        Self::build_with(config, Arc::new(TokioSleeper))
    }

    /// Loads every model's reference and registers its series; opens the data directory's outbox and
    /// policy state when a model has `[model.retrain]` or `[alertmanager]` is set, and restores the
    /// last snapshot. Webhook delivery and pulls start with [`AppState::start_background`] (`serve`
    /// calls it).
    pub fn build_with(config: &Config, sleeper: Arc<dyn Sleeper>) -> Result<AppState, StartError> {
        let metrics = Metrics::new();
        let models = Arc::new(monitor::load(config, &metrics)?);
        if let Some(dir) = &config.server.data_dir {
            std::fs::create_dir_all(dir)
                .map_err(|source| StartError::DataDir { dir: dir.display().to_string(), source })?;
        }
        let (retrain, delivery) = if config.needs_data_dir() {
            let (retrainer, delivery) = retrain::open(config, &models, &metrics, sleeper)?;
            (Some(Arc::new(retrainer)), Some(delivery))
        } else {
            (None, None)
        };
        let refits = Arc::new(match config.server.refit_threads {
            0 => RefitPool::inline(),
            n => RefitPool::new(n),
        });
        let series = config
            .models
            .iter()
            .map(|mc| {
                let a = &mc.anomaly;
                let limits = Limits {
                    allow: a.series.clone(),
                    max_series: a.max_series,
                    keep_recent: REPORT_POINTS,
                    idle_seconds: a.idle_seconds,
                };
                let source = SeriesSource::new(&mc.name, a.detector.clone(), limits, metrics.clone(), refits.clone());
                (mc.name.clone(), source)
            })
            .collect::<BTreeMap<_, _>>();
        let pulls = config
            .pulls
            .iter()
            .map(|p| {
                let limits = Limits {
                    allow: Vec::new(),
                    max_series: p.max_series,
                    keep_recent: 0,
                    idle_seconds: p.idle_seconds,
                };
                let source = SeriesSource::new(&p.name, p.detector.clone(), limits, metrics.clone(), refits.clone());
                (p.clone(), source)
            })
            .collect();
        if let Some(dir) = &config.server.data_dir {
            let restored = snapshot::restore(&models, &metrics, dir)
                .map_err(|source| StartError::DataDir { dir: dir.display().to_string(), source })?;
            if let Some(t) = restored.taken_at {
                tracing::info!(models = ?restored.models, taken_at = t, "state restored from the snapshot");
            }
            for (name, snap) in restored.series {
                let outcome = match series.get(&name) {
                    Some(source) => source.restore(snap, unix_now()).map_err(|e| e.to_string()),
                    None => Err("the model is no longer configured".to_owned()),
                };
                match outcome {
                    Ok(n) => tracing::info!(model = %name, series = n, "series state restored from the snapshot"),
                    Err(why) => {
                        tracing::warn!(model = %name, reason = %why, "series state in the snapshot not restored")
                    }
                }
            }
        }
        Ok(AppState {
            pipeline: Pipeline { models, metrics, series, retrain },
            max_body_bytes: config.server.max_body_bytes,
            max_decode_bytes: config.server.max_decode_bytes,
            alertmanager: config.alertmanager.clone(),
            delivery,
            data_dir: config.server.data_dir.clone(),
            snapshot_interval: Duration::from_secs_f64(config.server.snapshot_interval_seconds),
            shutdown_grace: Duration::from_secs_f64(config.server.shutdown_grace_seconds),
            connection_limits: super::listener::ConnectionLimits {
                max_connections: config.server.max_connections,
                header_read_timeout: Duration::from_secs_f64(config.server.header_read_timeout_seconds),
            },
            body_read_timeout: Duration::from_secs_f64(config.server.body_read_timeout_seconds),
            decode_budget: Arc::new(tokio::sync::Semaphore::new(config.server.max_decode_bytes >> 10)),
            bearer_token: config.server.bearer_token.clone(),
            request_slots: Arc::new(tokio::sync::Semaphore::new(config.server.max_concurrent_requests)),
            snapshot_health: Arc::default(),
            pulls,
        })
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.pipeline.metrics
    }

    /// The `/metrics` text.
    pub fn encode_metrics(&self) -> String {
        self.pipeline.metrics.encode()
    }

    /// Writes a snapshot of every model and its pushed series to `<dir>/snapshot.bin` now (what
    /// `serve` does periodically and at shutdown); returns its size in bytes.
    pub fn write_snapshot(&self, dir: &Path) -> std::io::Result<usize> {
        let series = || self.pipeline.series.iter().map(|(name, s)| (name.clone(), s.snapshot())).collect();
        snapshot::write(&self.pipeline.models, series, dir)
    }

    /// What changes with every accepted batch or series point: when a periodic snapshot is due.
    pub(crate) fn snapshot_generations(&self) -> Vec<u64> {
        let models = self.pipeline.models.values().map(|m| m.generation());
        models.chain(self.pipeline.series.values().map(|s| s.generation())).collect()
    }

    /// Takes one request slot, or says the sidecar is overloaded.
    pub(crate) fn slot(&self) -> Result<Slot, ApiError> {
        let permit =
            self.request_slots.clone().try_acquire_owned().map_err(|_| ApiError::Overloaded { retry_after: 1 })?;
        self.metrics().in_flight.inc();
        Ok(Slot(permit, self.metrics().in_flight.clone()))
    }

    /// An empty reservation against the decode budget, grown as a body arrives.
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation { budget: self.decode_budget.clone(), permit: None, gauge: self.metrics().decode_bytes.clone() }
    }

    /// Starts delivering the outbox (requests left from before a restart first), polling every
    /// `[[pull]]` and expiring idle series.
    pub fn start_background(&self) {
        if let Some(d) = &self.delivery {
            d.clone().spawn();
        }
        for (pull, source) in &self.pulls {
            tokio::spawn(crate::series::pull::run(pull.clone(), source.clone(), self.metrics().clone()));
        }
        for source in self.series_sources() {
            tokio::spawn(crate::series::expire_periodically(source));
        }
    }

    fn series_sources(&self) -> Vec<Arc<SeriesSource>> {
        self.pipeline.series.values().chain(self.pulls.iter().map(|(_, s)| s)).cloned().collect()
    }

    /// Expires, in every source, the series idle at `now` (what the background task does on its
    /// schedule); returns how many went.
    pub fn expire_idle_series(&self, now: f64) -> usize {
        self.series_sources().iter().map(|s| s.expire_idle(now)).sum()
    }
}

/// Holds a request slot for the life of a request's work (also on a blocking thread), and keeps
/// `driftwatch_requests_in_flight` in step with it.
pub(crate) struct Slot(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit, prometheus_client::metrics::gauge::Gauge);

impl Drop for Slot {
    fn drop(&mut self) {
        self.1.dec();
    }
}

/// Memory a request's body and its decoding hold against `server.max_decode_bytes`, in KiB;
/// released (and `driftwatch_decode_bytes_reserved` lowered) when the request's work ends.
pub(crate) struct Reservation {
    budget: Arc<tokio::sync::Semaphore>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Reservation {
    /// Reserves `bytes` more, or says the budget is taken (nothing more is reserved then).
    pub(crate) fn grow(&mut self, bytes: usize) -> Result<(), ApiError> {
        let kib = u32::try_from(bytes.div_ceil(1024)).map_err(|_| ApiError::MemoryBudget { retry_after: 1 })?;
        if kib == 0 {
            return Ok(());
        }
        let more =
            self.budget.clone().try_acquire_many_owned(kib).map_err(|_| ApiError::MemoryBudget { retry_after: 1 })?;
        self.gauge.inc_by(i64::from(kib) << 10);
        match &mut self.permit {
            Some(p) => p.merge(more),
            None => self.permit = Some(more),
        }
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(p) = &self.permit {
            self.gauge.dec_by((p.num_permits() as i64) << 10);
        }
    }
}
