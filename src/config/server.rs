//! `[server]`: listeners, limits, the data directory, the bearer token.

use std::net::SocketAddr;
use std::path::PathBuf;

use driftwatch_stats::bounds::Bound;
use serde::Serialize;

use super::check::Scope;
use super::raw::RawServer;
use super::{Base, Secret, check_name};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9184";

const MAX_BODY_BYTES: Bound<u64> = Bound::between(1, 1 << 30);
const MAX_CONCURRENT_REQUESTS: Bound<u64> = Bound::between(1, 100_000);
const MAX_CONNECTIONS: Bound<u64> = Bound::between(4, 1_000_000);
const READ_TIMEOUT_SECONDS: Bound<f64> = Bound::between(0.1, 3600.0);
const MAX_DECODE_BYTES: Bound<u64> = Bound::between(1 << 20, 1 << 40);
/// At most how many bytes decoding a body holds per byte of body, the body itself included, for
/// JSON/NDJSON and for Arrow: what `/ingest` reserves against `max_decode_bytes` (measured on the
/// costliest shapes by `tests/it/decode_memory.rs`, with headroom).
pub(crate) const TEXT_DECODE_FACTOR: usize = 40;
pub(crate) const ARROW_DECODE_FACTOR: usize = 8;
/// And for Arrow, on top, per cell (row × column) the stream declares: a boolean or a small integer
/// is a bit or a byte of body but a `String` (a category) or a JSON value (an output) once decoded,
/// so bytes alone do not bound it.
pub(crate) const ARROW_CELL_BYTES: usize = 64;
const SNAPSHOT_INTERVAL_SECONDS: Bound<f64> = Bound::between(0.05, 86_400.0);
const SHUTDOWN_GRACE_SECONDS: Bound<f64> = Bound::between(0.0, 3600.0);
const MAX_LABEL_SETS: Bound<u64> = Bound::between(1, 10_000_000);
const REFIT_THREADS: Bound<u64> = Bound::between(0, 256);

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub data_dir: Option<PathBuf>,
    pub instance: String,
    #[serde(skip)]
    pub bearer_token: Option<Secret>,
    pub metrics_listen: Option<SocketAddr>,
    pub max_concurrent_requests: usize,
    pub max_connections: usize,
    pub header_read_timeout_seconds: f64,
    pub body_read_timeout_seconds: f64,
    pub max_decode_bytes: usize,
    pub snapshot_interval_seconds: f64,
    pub shutdown_grace_seconds: f64,
    pub max_label_sets: usize,
    pub refit_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            max_body_bytes: 16 << 20,
            data_dir: None,
            instance: default_instance(),
            bearer_token: None,
            metrics_listen: None,
            max_concurrent_requests: 64,
            // Below the usual 1024 open files, with room for the data directory and the outbox.
            max_connections: 768,
            header_read_timeout_seconds: 10.0,
            body_read_timeout_seconds: 30.0,
            // Room for one body of the default max_body_bytes decoded, and more of typical size.
            max_decode_bytes: 1 << 30,
            snapshot_interval_seconds: 10.0,
            shutdown_grace_seconds: 25.0,
            max_label_sets: 10_000,
            refit_threads: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        }
    }
}

/// The host name (what a pod's `HOSTNAME` is), else "driftwatch".
fn default_instance() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "driftwatch".into())
}

pub(crate) fn validate(s: RawServer, base: &Base, at: &mut Scope<'_>) -> ServerConfig {
    let d = ServerConfig::default();
    let mut at = at.nested("server");
    let listen = match s.listen {
        Some(l) => at.ok("listen", l.parse()).unwrap_or(d.listen),
        None => d.listen,
    };
    let metrics_listen = s.metrics_listen.and_then(|m| at.ok("metrics_listen", m.parse()));
    let instance = match s.instance {
        Some(i) => {
            at.ok("instance", check_name(&i));
            i
        }
        None => d.instance,
    };
    let bearer_token = at
        .ok("bearer_token_env", Secret::resolve(s.bearer_token_env.as_deref(), s.bearer_token_file.as_deref(), base))
        .flatten();
    let config = ServerConfig {
        listen,
        max_body_bytes: at.setting("max_body_bytes", s.max_body_bytes, MAX_BODY_BYTES, d.max_body_bytes as u64)
            as usize,
        data_dir: s.data_dir.map(|dir| base.resolve(&dir)),
        instance,
        bearer_token,
        metrics_listen,
        max_concurrent_requests: at.setting(
            "max_concurrent_requests",
            s.max_concurrent_requests,
            MAX_CONCURRENT_REQUESTS,
            d.max_concurrent_requests as u64,
        ) as usize,
        max_connections: at.setting("max_connections", s.max_connections, MAX_CONNECTIONS, d.max_connections as u64)
            as usize,
        header_read_timeout_seconds: at.setting(
            "header_read_timeout_seconds",
            s.header_read_timeout_seconds,
            READ_TIMEOUT_SECONDS,
            d.header_read_timeout_seconds,
        ),
        body_read_timeout_seconds: at.setting(
            "body_read_timeout_seconds",
            s.body_read_timeout_seconds,
            READ_TIMEOUT_SECONDS,
            d.body_read_timeout_seconds,
        ),
        max_decode_bytes: at.setting(
            "max_decode_bytes",
            s.max_decode_bytes,
            MAX_DECODE_BYTES,
            d.max_decode_bytes as u64,
        ) as usize,
        snapshot_interval_seconds: at.setting(
            "snapshot_interval_seconds",
            s.snapshot_interval_seconds,
            SNAPSHOT_INTERVAL_SECONDS,
            d.snapshot_interval_seconds,
        ),
        shutdown_grace_seconds: at.setting(
            "shutdown_grace_seconds",
            s.shutdown_grace_seconds,
            SHUTDOWN_GRACE_SECONDS,
            d.shutdown_grace_seconds,
        ),
        max_label_sets: at.setting("max_label_sets", s.max_label_sets, MAX_LABEL_SETS, d.max_label_sets as u64)
            as usize,
        refit_threads: at.setting("refit_threads", s.refit_threads, REFIT_THREADS, d.refit_threads as u64) as usize,
    };
    let one_body = config.max_body_bytes.saturating_mul(TEXT_DECODE_FACTOR);
    if config.max_decode_bytes < one_body {
        at.report(
            "max_decode_bytes",
            format!(
                "must hold one body of max_body_bytes decoded: at least {one_body} ({} x max_body_bytes), got {}",
                TEXT_DECODE_FACTOR, config.max_decode_bytes
            ),
        );
    }
    config
}
