//! driftwatch: a sidecar that scores data drift of an ML model's inputs against a reference, and
//! anomalies of its metric series against their seasonal forecast, and exports the scores as
//! Prometheus metrics.
//!
//! # Layout
//! Dependencies point down this list: HTTP and CLI on top, pure statistics and kernels at the bottom.
//!
//! - [`cli`]: the `driftwatch` subcommands (`serve`, `demo`, `model-server`, `check`, `load`, `replay`, `nab`), argument parsing only.
//! - [`load`]: the `load` subcommand, a load generator that reports throughput, latency and RSS.
//! - [`demo`]: streams the embedded demo dataset into a running server with drift injected over time.
//! - [`modelserver`]: the demo model server of deploy/ (a linfa logistic regression that mirrors its
//!   inputs to the sidecar and exports application metrics).
//! - [`server`]: `app(state) -> Router`, the handlers, `run(listener, shutdown)`.
//! - [`alertmanager`]: the Alertmanager webhook payload received on `POST /alertmanager`.
//! - [`retrain`]: puts windows and alerts to the policy and writes retrain requests to the outbox.
//! - [`policy`]: when to ask for a retrain (`for_windows`, cooldown, hourly cap) over injected time.
//! - [`webhook`]: the retrain request body, HMAC signing, the durable outbox and retrying delivery.
//! - [`error`]: the API error enum and its JSON 4xx / opaque 500 mapping.
//! - [`ingest`]: request decoders (JSON columnar or rows, NDJSON, Arrow IPC) into a [`batch::Batch`].
//! - [`batch`]: the validated columnar batch, accepted or rejected whole.
//! - [`engine`]: per-model state; append → score full windows off the reactor → publish.
//! - [`series`]: live metric series — each source's detectors, background refits, anomaly gauges.
//! - [`snapshot`]: atomic state snapshots in the data directory, restored at start.
//! - [`window`]: tumbling/sliding windows and the warmup buffer.
//! - [`metrics`]: every exported metric family, in one registry.
//! - [`config`]: TOML → validated `Config`, every problem reported at once; bounded newtypes.
//! - [`reference`]: reading references with polars, resolving features, fitting them.
//! - [`drift`]: PSI, KS, chi-squared, Wasserstein, Jensen–Shannon and the multiple-testing decision, as
//!   pure functions over slices.
//! - [`anomaly`]: seasonal anomaly detection on series (augurs MSTL/AutoETS, median/MAD cold
//!   start, outliers, changepoints), `replay`, the NAB scorer and the Prometheus pull.
//! - [`durable`]: crash-safe file writes (write, fsync, rename, fsync the directory).
//! - [`kernels`]: the shared hot loops (branch-free binning, galloping search).

pub mod alertmanager;
pub mod anomaly;
pub mod batch;
pub mod cli;
pub mod config;
pub mod demo;
pub mod drift;
pub mod durable;
pub mod engine;
pub mod error;
pub mod ingest;
pub mod kernels;
pub mod load;
pub mod metrics;
pub mod modelserver;
pub mod policy;
pub mod reference;
pub mod retrain;
pub mod series;
pub mod server;
pub mod snapshot;
pub mod webhook;
pub mod window;
