//! driftwatch: a sidecar that scores data drift of an ML model's inputs against a reference, and
//! anomalies of its metric series against their seasonal forecast, and exports the scores as
//! Prometheus metrics. The statistics themselves are the `driftwatch_stats` crate (pure, no I/O);
//! this crate is everything around them. ARCHITECTURE.md draws the data path.
//!
//! # Layout
//! Each module may import only the modules below it in this list (and `driftwatch_stats`); each
//! folder's `mod.rs` says what it owns and what it may import.
//!
//! - [`cli`]: the `driftwatch` subcommands, argument parsing and wiring only.
//! - [`tools`]: `demo`, `load`, `replay`/`nab`, `report`, and (feature `model-server`) the demo
//!   model server.
//! - [`server`]: `app(state) -> Router`, the routes, token checks, `AppState`, `serve(listener, …,
//!   shutdown)`. Turns HTTP into pipeline calls; decides nothing about the data.
//! - [`pipeline`]: a request's data path: decode → admit → append → score → publish → retrain, and
//!   Alertmanager payloads → retrain. Beside it (neither imports the other) [`report`]: the drift
//!   report page, from a running model or from two files.
//! - [`ingest`]: request decoders (JSON columnar or rows, NDJSON, Arrow IPC) into a validated batch;
//!   columnar JSON and flat Arrow streams in one pass, the general decoders their fallback.
//! - [`series`]: live metric series — each source's detectors, background refits, anomaly gauges,
//!   and the Prometheus poller.
//! - [`retrain`]: the retrain policy, the planner that makes requests durable, the signed webhook
//!   with its outbox and delivery, and the Alertmanager payload.
//! - [`monitor`]: per-model state: reference, window, scoring a window, the report, snapshots.
//! - [`metrics`]: every exported metric family, in one registry.
//! - [`config`]: TOML → validated `Config`, every problem reported at once, bounds written once.
//! - Leaves, importable from anywhere: [`json`] (strict JSON bodies), [`durable`] (crash-safe file
//!   writes), [`digest`] (stable keys), [`clock`], [`arrow_guard`] (Arrow IPC framing checked
//!   before polars reads it); and below them [`error`], the API error and its
//!   JSON 4xx.
//!
//! `tests/it/layering.rs` checks this order on every `crate::` path, so an import that points up
//! fails a test.

mod arrow_guard;
pub mod cli;
mod clock;
pub mod config;
mod digest;
mod durable;
mod error;
pub mod ingest;
mod json;
mod metrics;
pub mod monitor;
mod pipeline;
mod report;
pub mod retrain;
mod series;
pub mod server;
pub mod tools;

pub use error::ApiError;
