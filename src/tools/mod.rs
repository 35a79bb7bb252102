//! The subcommands around the sidecar: [`demo`] streams the embedded dataset into a server with
//! drift injected over time, [`load`] drives a running sidecar and reports throughput, latency and
//! memory, [`replay`] scores a file (and NAB) through the live detector, [`report`] writes the
//! drift report of two files, and [`model_server`] (with `--features model-server`) is the demo
//! model server of deploy/.
//!
//! May import every layer below `cli`.

pub(crate) mod demo;
pub(crate) mod load;
#[cfg(feature = "model-server")]
pub(crate) mod model_server;
pub mod replay;
pub(crate) mod report;
