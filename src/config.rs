//! Configuration: TOML deserialised with serde (`deny_unknown_fields`, defaults), then [`RawConfig::validate`]
//! into the separate, checked [`Config`] — every problem found is reported at once, each naming its
//! place (`model[0].window`), and range checks reject NaN.
//!
//! A config is one file, or a directory whose `*.toml` files (one per monitored model, as in
//! `models/`) are merged. Reference paths are relative to the file that names them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::drift::{Correction, DecisionRule, FeatureKind, Method};

/// The demo config and its data, compiled into the binary so `driftwatch demo` and a bare
/// `driftwatch serve` work from any directory.
pub const EMBEDDED_CONFIG: &str = include_str!("../models/demo.toml");
pub const EMBEDDED_FILES: &[(&str, &[u8])] =
    &[("../datasets/demo/reference.csv", include_bytes!("../datasets/demo/reference.csv"))];

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9184";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: Option<RawServer>,
    #[serde(default)]
    pub model: Vec<RawModel>,
    #[serde(default)]
    pub alertmanager: Option<RawAlertmanager>,
    #[serde(default)]
    pub pull: Vec<RawSeriesSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub max_body_bytes: Option<u64>,
    /// Holds the webhook outbox and the retrain policy's state (`--data-dir` overrides it).
    pub data_dir: Option<PathBuf>,
    /// Names this sidecar in retrain requests (default: the host name).
    pub instance: Option<String>,
    /// Bearer token required on /ingest, /alertmanager and /v1/* (not on /metrics, /healthz, /readyz).
    pub bearer_token_env: Option<String>,
    pub bearer_token_file: Option<PathBuf>,
    /// Serve /metrics (and the probes) on this address instead of the main listener.
    pub metrics_listen: Option<String>,
    /// Requests to /ingest and /alertmanager processed at once; more get 429 with Retry-After.
    pub max_concurrent_requests: Option<u64>,
    /// How often the state snapshot is written to the data directory (when something changed).
    pub snapshot_interval_seconds: Option<f64>,
    /// How long a graceful shutdown may take before the process exits anyway.
    pub shutdown_grace_seconds: Option<f64>,
    /// Hard cap on exported label sets (model × feature × method): a config above it is refused.
    pub max_label_sets: Option<u64>,
    /// Threads for seasonal refits (default: half the CPUs, at least one); 0 refits inline, on the
    /// request that made a refit due (deterministic: for tests and replays).
    pub refit_threads: Option<u64>,
}

/// `[model.retrain]`: when and where to ask for a retrain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetrain {
    pub url: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default = "default_for_windows")]
    pub for_windows: u64,
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: f64,
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: u64,
    /// Fire on these features drifting (any of them) instead of on `model_drift_detected`.
    #[serde(default)]
    pub features: Vec<String>,
    /// What may start a retrain: "drift" (this sidecar's windows), "alert" (Alertmanager).
    #[serde(default = "default_triggers")]
    pub triggers: Vec<crate::webhook::Trigger>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub bearer_token_env: Option<String>,
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_seconds: f64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_seconds: f64,
}

/// `[alertmanager]`: which firing alerts become retrain requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    pub alerts: Vec<String>,
    pub bearer_token_env: Option<String>,
    pub bearer_token_file: Option<PathBuf>,
}

fn default_triggers() -> Vec<crate::webhook::Trigger> {
    vec![crate::webhook::Trigger::Drift, crate::webhook::Trigger::Alert]
}
fn default_for_windows() -> u64 {
    1
}
fn default_cooldown() -> f64 {
    3600.0
}
fn default_max_per_hour() -> u64 {
    4
}
fn default_timeout() -> f64 {
    10.0
}
fn default_initial_backoff() -> f64 {
    1.0
}
fn default_max_backoff() -> f64 {
    300.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: String,
    #[serde(default = "default_version")]
    pub version: String,
    pub reference: Option<String>,
    pub window: u64,
    pub step: Option<u64>,
    pub warmup: Option<u64>,
    #[serde(default = "default_bins")]
    pub bins: u32,
    #[serde(default = "default_eps")]
    pub eps: f64,
    #[serde(default)]
    pub correction: Correction,
    #[serde(default = "default_drift_share")]
    pub drift_share: f64,
    #[serde(default)]
    pub thresholds: HashMap<Method, f64>,
    #[serde(default)]
    pub features: Vec<RawFeature>,
    pub retrain: Option<RawRetrain>,
    pub anomaly: Option<RawSeriesSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeature {
    pub name: String,
    pub kind: Option<FeatureKind>,
    pub methods: Option<Vec<Method>>,
}

fn default_version() -> String {
    "1".into()
}
fn default_bins() -> u32 {
    10
}
fn default_eps() -> f64 {
    1e-4
}
fn default_drift_share() -> f64 {
    0.5
}

/// Number of PSI bins: 2 to 255 (bin indices are bytes in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bins(u8);

impl TryFrom<u32> for Bins {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if (2..=255).contains(&v) { Ok(Bins(v as u8)) } else { Err(format!("must be between 2 and 255, got {v}")) }
    }
}

impl Bins {
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// Floor for bin proportions in PSI: strictly between 0 and 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Eps(f64);

impl TryFrom<f64> for Eps {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        // Written so NaN fails the check.
        if v > 0.0 && v < 0.5 { Ok(Eps(v)) } else { Err(format!("must be > 0 and < 0.5, got {v}")) }
    }
}

impl Eps {
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A method's threshold: an alpha in (0, 1) for tests, a finite non-negative distance otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold(f64);

impl TryFrom<(Method, f64)> for Threshold {
    type Error = String;
    fn try_from((method, v): (Method, f64)) -> Result<Self, String> {
        let ok = if method.is_test() { v > 0.0 && v < 1.0 } else { v.is_finite() && v >= 0.0 };
        if ok {
            Ok(Threshold(v))
        } else if method.is_test() {
            Err(format!("alpha must be > 0 and < 1, got {v}"))
        } else {
            Err(format!("must be finite and >= 0, got {v}"))
        }
    }
}

/// Where a reference comes from.
#[derive(Debug, Clone)]
pub enum ReferenceSource {
    File(PathBuf),
    Embedded { name: &'static str, bytes: &'static [u8] },
}

impl fmt::Display for ReferenceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceSource::File(p) => write!(f, "{}", p.display()),
            ReferenceSource::Embedded { name, .. } => write!(f, "embedded:{name}"),
        }
    }
}

/// A feature as configured (kind may still be inferred from the reference).
#[derive(Debug, Clone, Serialize)]
pub struct FeatureConfig {
    pub name: String,
    pub kind: Option<FeatureKind>,
    pub methods: Option<Vec<Method>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    pub name: String,
    pub version: String,
    #[serde(serialize_with = "ser_display_opt")]
    pub reference: Option<ReferenceSource>,
    pub window: usize,
    pub step: usize,
    pub warmup: usize,
    pub bins: Bins,
    pub eps: Eps,
    pub rule: DecisionRule,
    /// Empty: every column of the reference.
    pub features: Vec<FeatureConfig>,
    pub retrain: Option<RetrainConfig>,
    /// Settings for the series this model pushes (defaults when `[model.anomaly]` is absent).
    pub anomaly: AnomalyConfig,
}

fn ser_display_opt<S: serde::Serializer>(v: &Option<ReferenceSource>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(r) => s.serialize_some(&r.to_string()),
        None => s.serialize_none(),
    }
}

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
    pub snapshot_interval_seconds: f64,
    pub shutdown_grace_seconds: f64,
    pub max_label_sets: usize,
    pub refit_threads: usize,
}

impl ServerConfig {
    fn default_with(listen: SocketAddr, max_body_bytes: usize) -> Self {
        ServerConfig {
            listen,
            max_body_bytes,
            data_dir: None,
            instance: default_instance(),
            bearer_token: None,
            metrics_listen: None,
            max_concurrent_requests: 64,
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

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub models: Vec<ModelConfig>,
    pub alertmanager: Option<AlertmanagerConfig>,
    pub pulls: Vec<PullConfig>,
}

impl Config {
    /// Whether anything needs the data directory (the webhook outbox).
    pub fn needs_data_dir(&self) -> bool {
        self.alertmanager.is_some() || self.models.iter().any(|m| m.retrain.is_some())
    }
}

/// A secret read at start-up from an environment variable or a file. Never serialised, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Reads `env` or `file` (one at most), trimming a trailing newline (as `echo > file` writes one).
    /// `Ok(None)` when neither is given.
    pub fn resolve(env: Option<&str>, file: Option<&Path>, base: &Base) -> Result<Option<Secret>, String> {
        let bytes = match (env, file) {
            (Some(_), Some(_)) => return Err("set the _env or the _file form, not both".into()),
            (None, None) => return Ok(None),
            (Some(var), None) => {
                std::env::var(var).map_err(|_| format!("environment variable {var:?} is not set"))?.into_bytes()
            }
            (None, Some(path)) => {
                let path = match base {
                    Base::Dir(dir) => dir.join(path),
                    Base::Embedded => path.to_path_buf(),
                };
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
        };
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Some(Secret(trimmed.to_vec())))
    }

    /// Compares in time independent of where the inputs differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.len() == candidate.len() && self.0.iter().zip(candidate).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// A model's validated `[model.retrain]`.
#[derive(Debug, Clone, Serialize)]
pub struct RetrainConfig {
    pub urls: Vec<String>,
    pub for_windows: u32,
    pub cooldown_seconds: f64,
    pub max_per_hour: u32,
    /// Empty: fire on `model_drift_detected`; else on any of these features drifting.
    pub features: Vec<String>,
    pub triggers: Vec<crate::webhook::Trigger>,
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// Extra request headers (a bearer token among them); only their names are shown.
    #[serde(skip)]
    pub headers: Vec<(String, Secret)>,
    pub header_names: Vec<String>,
    pub signed: bool,
    pub timeout_seconds: f64,
    pub initial_backoff_seconds: f64,
    pub max_backoff_seconds: f64,
}

/// The validated `[alertmanager]` section.
#[derive(Debug, Clone, Serialize)]
pub struct AlertmanagerConfig {
    pub alerts: Vec<String>,
    #[serde(skip)]
    pub bearer_token: Option<Secret>,
}

fn in_range(v: f64, lo: f64, hi: f64) -> bool {
    // Written so NaN fails.
    v >= lo && v <= hi
}

fn validate_retrain(r: RawRetrain, base: &Base, err: &mut dyn FnMut(&str, String)) -> Option<RetrainConfig> {
    let mut ok = true;
    let mut bad = |field: &str, msg: String, err: &mut dyn FnMut(&str, String)| {
        ok = false;
        err(&format!("retrain.{field}"), msg);
    };
    let mut urls: Vec<String> = r.url.into_iter().chain(r.urls).collect();
    if urls.is_empty() {
        bad("url", "set url (or urls) to the endpoint that starts a retrain".into(), err);
    }
    for (i, u) in urls.iter_mut().enumerate() {
        match reqwest::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            Ok(_) => bad(&format!("urls[{i}]"), format!("{u:?} must be an http or https URL with a host"), err),
            Err(e) => bad(&format!("urls[{i}]"), format!("{u:?} is not a URL: {e}"), err),
        }
    }
    if !(1..=10_000).contains(&r.for_windows) {
        bad("for_windows", format!("must be between 1 and 10000, got {}", r.for_windows), err);
    }
    if !in_range(r.cooldown_seconds, 0.0, 30.0 * 86400.0) {
        bad("cooldown_seconds", format!("must be between 0 and 2592000, got {}", r.cooldown_seconds), err);
    }
    if r.triggers.is_empty() {
        bad("triggers", "name at least one of \"drift\", \"alert\"".into(), err);
    }
    if !(1..=3600).contains(&r.max_per_hour) {
        bad("max_per_hour", format!("must be between 1 and 3600, got {}", r.max_per_hour), err);
    }
    if !in_range(r.timeout_seconds, 0.001, 300.0) {
        bad("timeout_seconds", format!("must be > 0 and at most 300, got {}", r.timeout_seconds), err);
    }
    if !in_range(r.max_backoff_seconds, 0.001, 86400.0) {
        bad("max_backoff_seconds", format!("must be > 0 and at most 86400, got {}", r.max_backoff_seconds), err);
    }
    if !in_range(r.initial_backoff_seconds, 0.001, r.max_backoff_seconds.max(0.001)) {
        bad(
            "initial_backoff_seconds",
            format!("must be > 0 and at most max_backoff_seconds, got {}", r.initial_backoff_seconds),
            err,
        );
    }
    let secret = Secret::resolve(r.secret_env.as_deref(), r.secret_file.as_deref(), base)
        .map_err(|e| bad("secret_env", e, err))
        .ok()
        .flatten();
    let mut headers = Vec::new();
    for (name, value) in r.headers {
        let valid_name = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
        let valid_value = axum::http::HeaderValue::from_str(&value).is_ok();
        if !valid_name || !valid_value {
            bad(&format!("headers.{name}"), "not a valid HTTP header name and value".into(), err);
        } else {
            headers.push((name, Secret(value.into_bytes())));
        }
    }
    match Secret::resolve(r.bearer_token_env.as_deref(), r.bearer_token_file.as_deref().map(Path::new), base) {
        Ok(Some(token)) => {
            let mut value = b"Bearer ".to_vec();
            value.extend_from_slice(&token.0);
            headers.push(("Authorization".into(), Secret(value)));
        }
        Ok(None) => {}
        Err(e) => bad("bearer_token_env", e, err),
    }
    if !ok {
        return None;
    }
    Some(RetrainConfig {
        urls,
        for_windows: r.for_windows as u32,
        cooldown_seconds: r.cooldown_seconds,
        max_per_hour: r.max_per_hour as u32,
        features: r.features,
        triggers: r.triggers,
        signed: secret.is_some(),
        secret,
        header_names: headers.iter().map(|(n, _)| n.clone()).collect(),
        headers,
        timeout_seconds: r.timeout_seconds,
        initial_backoff_seconds: r.initial_backoff_seconds,
        max_backoff_seconds: r.max_backoff_seconds,
    })
}

fn validate_alertmanager(
    a: RawAlertmanager,
    base: &Base,
    origin: &str,
    errors: &mut Vec<String>,
) -> Option<AlertmanagerConfig> {
    let before = errors.len();
    if a.alerts.is_empty() {
        errors.push(format!("{origin}: alertmanager.alerts: name at least one alert (e.g. \"DataDriftDetected\")"));
    }
    for (i, name) in a.alerts.iter().enumerate() {
        if let Err(e) = check_name(name) {
            errors.push(format!("{origin}: alertmanager.alerts[{i}]: {e}"));
        }
    }
    let bearer_token = Secret::resolve(a.bearer_token_env.as_deref(), a.bearer_token_file.as_deref(), base)
        .map_err(|e| errors.push(format!("{origin}: alertmanager.bearer_token_env: {e}")))
        .ok()
        .flatten();
    (errors.len() == before).then_some(AlertmanagerConfig { alerts: a.alerts, bearer_token })
}

/// Every problem in a config, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigErrors(pub Vec<String>);

/// Names end up as Prometheus label values and in URLs: keep them printable and bounded.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 256 {
        return Err(format!("must be 1 to 256 bytes, got {}", name.len()));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Where one source file lives, to resolve its relative paths.
#[derive(Debug, Clone)]
pub enum Base {
    Dir(PathBuf),
    Embedded,
}

/// Parsed files before validation: (origin label, base, raw).
pub struct Sources(Vec<(String, Base, RawConfig)>);

impl Sources {
    /// A file, or every `*.toml` in a directory (sorted by name).
    pub fn load(path: &Path) -> Result<Sources, ConfigErrors> {
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| ConfigErrors(vec![format!("{}: {e}", path.display())]))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            v.sort();
            if v.is_empty() {
                return Err(ConfigErrors(vec![format!("{}: no *.toml files", path.display())]));
            }
            v
        } else {
            vec![path.to_path_buf()]
        };
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for f in files {
            let base = Base::Dir(f.parent().map(Path::to_path_buf).unwrap_or_default());
            match std::fs::read_to_string(&f) {
                Ok(text) => match toml::from_str::<RawConfig>(&text) {
                    Ok(raw) => out.push((f.display().to_string(), base, raw)),
                    Err(e) => errors.push(format!("{}: {e}", f.display())),
                },
                Err(e) => errors.push(format!("{}: {e}", f.display())),
            }
        }
        if errors.is_empty() { Ok(Sources(out)) } else { Err(ConfigErrors(errors)) }
    }

    pub fn embedded() -> Sources {
        let raw = toml::from_str(EMBEDDED_CONFIG).expect("the embedded config parses");
        Sources(vec![("embedded:models/demo.toml".into(), Base::Embedded, raw)])
    }

    pub fn from_str(text: &str, base: &Path) -> Result<Sources, ConfigErrors> {
        let raw = toml::from_str(text).map_err(|e| ConfigErrors(vec![e.to_string()]))?;
        Ok(Sources(vec![("<string>".into(), Base::Dir(base.to_path_buf()), raw)]))
    }

    /// Checks everything and builds the [`Config`], or lists every problem.
    pub fn validate(self) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut server: Option<ServerConfig> = None;
        let mut alertmanager: Option<AlertmanagerConfig> = None;
        let mut seen_alertmanager = false;
        let mut models = Vec::new();
        let mut names = HashSet::new();
        let mut pulls: Vec<PullConfig> = Vec::new();
        for (origin, base, raw) in self.0 {
            for (i, p) in raw.pull.into_iter().enumerate() {
                let at = format!("{origin}: pull[{i}]");
                if let Some(pull) = validate_pull(p, &base, &at, &mut errors) {
                    if pulls.iter().any(|q| q.name == pull.name) {
                        errors.push(format!("{at}.name: pull {:?} is defined twice", pull.name));
                    }
                    pulls.push(pull);
                }
            }
            if let Some(s) = raw.server {
                if server.is_some() {
                    errors.push(format!("{origin}: [server] is set in more than one file"));
                }
                let listen = s.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
                let listen = listen.parse().unwrap_or_else(|e| {
                    errors.push(format!("{origin}: server.listen: {e}"));
                    DEFAULT_LISTEN.parse().unwrap()
                });
                let max_body_bytes = s.max_body_bytes.unwrap_or(16 << 20);
                if max_body_bytes == 0 || max_body_bytes > 1 << 30 {
                    errors.push(format!("{origin}: server.max_body_bytes: must be 1 to 1073741824"));
                }
                let mut sc = ServerConfig::default_with(listen, max_body_bytes as usize);
                sc.data_dir = s.data_dir.map(|d| match &base {
                    Base::Dir(dir) => dir.join(d),
                    Base::Embedded => d,
                });
                if let Some(instance) = s.instance {
                    if let Err(e) = check_name(&instance) {
                        errors.push(format!("{origin}: server.instance: {e}"));
                    }
                    sc.instance = instance;
                }
                match Secret::resolve(s.bearer_token_env.as_deref(), s.bearer_token_file.as_deref(), &base) {
                    Ok(t) => sc.bearer_token = t,
                    Err(e) => errors.push(format!("{origin}: server.bearer_token_env: {e}")),
                }
                if let Some(m) = s.metrics_listen {
                    match m.parse() {
                        Ok(a) => sc.metrics_listen = Some(a),
                        Err(e) => errors.push(format!("{origin}: server.metrics_listen: {e}")),
                    }
                }
                if let Some(n) = s.max_concurrent_requests {
                    if (1..=100_000).contains(&n) {
                        sc.max_concurrent_requests = n as usize;
                    } else {
                        errors.push(format!("{origin}: server.max_concurrent_requests: must be 1 to 100000, got {n}"));
                    }
                }
                if let Some(v) = s.snapshot_interval_seconds {
                    if in_range(v, 0.05, 86400.0) {
                        sc.snapshot_interval_seconds = v;
                    } else {
                        errors.push(format!(
                            "{origin}: server.snapshot_interval_seconds: must be 0.05 to 86400, got {v}"
                        ));
                    }
                }
                if let Some(v) = s.shutdown_grace_seconds {
                    if in_range(v, 0.0, 3600.0) {
                        sc.shutdown_grace_seconds = v;
                    } else {
                        errors.push(format!("{origin}: server.shutdown_grace_seconds: must be 0 to 3600, got {v}"));
                    }
                }
                if let Some(n) = s.max_label_sets {
                    if (1..=10_000_000).contains(&n) {
                        sc.max_label_sets = n as usize;
                    } else {
                        errors.push(format!("{origin}: server.max_label_sets: must be 1 to 10000000, got {n}"));
                    }
                }
                if let Some(n) = s.refit_threads {
                    if n <= 256 {
                        sc.refit_threads = n as usize;
                    } else {
                        errors.push(format!("{origin}: server.refit_threads: must be 0 to 256, got {n}"));
                    }
                }
                server = Some(sc);
            }
            if let Some(a) = raw.alertmanager {
                if seen_alertmanager {
                    errors.push(format!("{origin}: [alertmanager] is set in more than one file"));
                }
                seen_alertmanager = true;
                alertmanager = validate_alertmanager(a, &base, &origin, &mut errors);
            }
            for (i, m) in raw.model.into_iter().enumerate() {
                let at = format!("{origin}: model[{i}]");
                if let Some(model) = validate_model(m, &base, &at, &mut errors) {
                    if !names.insert(model.name.clone()) {
                        errors.push(format!("{at}.name: model {:?} is defined twice", model.name));
                    }
                    models.push(model);
                }
            }
        }
        if models.is_empty() && pulls.is_empty() && errors.is_empty() {
            errors.push("no [[model]] or [[pull]] defined".into());
        }
        let server = server.unwrap_or_else(|| ServerConfig::default_with(DEFAULT_LISTEN.parse().unwrap(), 16 << 20));
        if errors.is_empty() { Ok(Config { server, models, alertmanager, pulls }) } else { Err(ConfigErrors(errors)) }
    }
}

fn validate_model(m: RawModel, base: &Base, at: &str, errors: &mut Vec<String>) -> Option<ModelConfig> {
    let before = errors.len();
    let mut err = |field: &str, msg: String| errors.push(format!("{at}.{field}: {msg}"));
    if let Err(e) = check_name(&m.name) {
        err("name", e);
    }
    if m.window < 2 || m.window > 50_000_000 {
        err("window", format!("must be between 2 and 50000000 samples, got {}", m.window));
    }
    let step = m.step.unwrap_or(m.window);
    if step == 0 || step > m.window {
        err("step", format!("must be between 1 and window ({}), got {step}", m.window));
    }
    let warmup = m.warmup.unwrap_or(0);
    match (&m.reference, warmup) {
        (Some(_), w) if w > 0 => err("warmup", "set either reference or warmup, not both".into()),
        (None, 0) => err("reference", "required unless warmup = N gives the first N samples as reference".into()),
        (None, w) if w > 50_000_000 => err("warmup", format!("must be at most 50000000, got {w}")),
        _ => {}
    }
    if m.reference.is_none() && warmup > 0 {
        for (i, f) in m.features.iter().enumerate() {
            if f.kind.is_none() {
                err(&format!("features[{i}].kind"), "required when the reference comes from warmup".into());
            }
        }
        if m.features.is_empty() {
            err("features", "list the features (name and kind) when the reference comes from warmup".into());
        }
    }
    let bins = Bins::try_from(m.bins).map_err(|e| err("bins", e)).ok();
    let eps = Eps::try_from(m.eps).map_err(|e| err("eps", e)).ok();
    if !(m.drift_share >= 0.0 && m.drift_share <= 1.0) {
        err("drift_share", format!("must be between 0 and 1, got {}", m.drift_share));
    }
    let mut thresholds = HashMap::new();
    for (&method, &v) in &m.thresholds {
        match Threshold::try_from((method, v)) {
            Ok(t) => {
                thresholds.insert(method, t.0);
            }
            Err(e) => err(&format!("thresholds.{}", method.as_str()), e),
        }
    }
    let mut seen = HashSet::new();
    for (i, f) in m.features.iter().enumerate() {
        if let Err(e) = check_name(&f.name) {
            err(&format!("features[{i}].name"), e);
        }
        if !seen.insert(f.name.as_str()) {
            err(&format!("features[{i}].name"), format!("feature {:?} listed twice", f.name));
        }
        if let Some(methods) = &f.methods {
            if methods.is_empty() {
                err(&format!("features[{i}].methods"), "must name at least one method".into());
            }
            if let Some(kind) = f.kind {
                for method in methods.iter().filter(|m| !m.supports(kind)) {
                    err(
                        &format!("features[{i}].methods"),
                        format!("{} does not apply to {kind:?} features", method.as_str()),
                    );
                }
            }
        }
    }
    let retrain = m.retrain.and_then(|r| validate_retrain(r, base, &mut err));
    let anomaly = validate_anomaly(m.anomaly, &mut err);
    let reference = m.reference.as_ref().map(|r| match base {
        Base::Dir(dir) => ReferenceSource::File(dir.join(r)),
        Base::Embedded => match EMBEDDED_FILES.iter().find(|(n, _)| *n == r.as_str()) {
            Some((name, bytes)) => ReferenceSource::Embedded { name, bytes },
            None => ReferenceSource::File(PathBuf::from(r)),
        },
    });
    if errors.len() > before {
        return None;
    }
    Some(ModelConfig {
        name: m.name,
        version: m.version,
        reference,
        window: m.window as usize,
        step: step as usize,
        warmup: warmup as usize,
        bins: bins?,
        eps: eps?,
        rule: DecisionRule { thresholds, correction: m.correction, drift_share: m.drift_share },
        features: m
            .features
            .into_iter()
            .map(|f| FeatureConfig { name: f.name, kind: f.kind, methods: f.methods })
            .collect(),
        retrain,
        anomaly: anomaly?,
    })
}

/// `[model.anomaly]` and `[[pull]]` share one table shape: the detector settings plus what the
/// source needs (`series`/`max_series` for pushed series; `name`, `url`, `query`… for pulls).
/// One struct keeps `deny_unknown_fields` (serde cannot combine it with `flatten`); fields that do
/// not apply where they are written are reported.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeriesSource {
    // Detector.
    pub periods: Option<Vec<u64>>,
    pub step_seconds: Option<f64>,
    pub level: Option<f64>,
    pub direction: Option<crate::anomaly::Direction>,
    pub min_deviation: Option<f64>,
    pub refit_every: Option<u64>,
    pub history_periods: Option<u64>,
    pub max_history: Option<u64>,
    pub fallback_window: Option<u64>,
    pub calibration_window: Option<u64>,
    pub max_series: Option<u64>,
    // [model.anomaly] only.
    pub series: Option<Vec<String>>,
    // [[pull]] only.
    pub name: Option<String>,
    pub url: Option<String>,
    pub query: Option<String>,
    pub interval_seconds: Option<f64>,
    pub timeout_seconds: Option<f64>,
    pub outlier_sensitivity: Option<f64>,
    pub bearer_token_env: Option<String>,
    pub bearer_token_file: Option<String>,
}

/// Pushed series of one model.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyConfig {
    pub detector: crate::anomaly::DetectorSettings,
    /// Accepted series names; empty accepts any name, up to `max_series`.
    pub series: Vec<String>,
    pub max_series: usize,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig { detector: Default::default(), series: Vec::new(), max_series: 100 }
    }
}

/// A PromQL query polled from Prometheus' `query_range`; every series it returns is scored.
#[derive(Debug, Clone, Serialize)]
pub struct PullConfig {
    pub name: String,
    pub url: String,
    pub query: String,
    pub detector: crate::anomaly::DetectorSettings,
    pub step_seconds: f64,
    pub interval_seconds: f64,
    pub timeout_seconds: f64,
    pub max_series: usize,
    pub outlier_sensitivity: f64,
    #[serde(skip)]
    pub bearer_token: Option<Secret>,
}

fn validate_detector(
    r: &RawSeriesSource,
    err: &mut dyn FnMut(&str, String),
) -> Option<crate::anomaly::DetectorSettings> {
    let mut d = crate::anomaly::DetectorSettings::default();
    let mut ok = true;
    let mut bad = |field: &str, msg: String| {
        ok = false;
        err(field, msg);
    };
    if let Some(p) = &r.periods {
        if p.is_empty() || p.iter().any(|&v| !(2..=1_000_000).contains(&v)) {
            bad("periods", format!("must be a non-empty list of periods in steps, each 2 to 1000000, got {p:?}"));
        }
        d.periods = Some(p.iter().map(|&v| v as usize).collect());
    }
    if let Some(v) = r.step_seconds {
        if !in_range(v, 0.001, 31_536_000.0) {
            bad("step_seconds", format!("must be 0.001 to 31536000, got {v}"));
        }
        d.step_seconds = Some(v);
    }
    if let Some(v) = r.level {
        match crate::anomaly::Level::try_from(v) {
            Ok(l) => d.level = l,
            Err(e) => bad("level", e),
        }
    }
    if let Some(v) = r.direction {
        d.direction = v;
    }
    if let Some(v) = r.min_deviation {
        if !in_range(v, 0.0, f64::MAX) {
            bad("min_deviation", format!("must be a finite number >= 0, got {v}"));
        }
        d.min_deviation = v;
    }
    let mut count = |field: &str, v: Option<u64>, lo: u64, hi: u64, into: &mut usize| {
        if let Some(v) = v {
            if (lo..=hi).contains(&v) {
                *into = v as usize;
            } else {
                bad(field, format!("must be {lo} to {hi}, got {v}"));
            }
        }
    };
    count("refit_every", r.refit_every, 1, 1_000_000, &mut d.refit_every);
    count("history_periods", r.history_periods, 2, 100, &mut d.history_periods);
    count("max_history", r.max_history, 16, 1_000_000, &mut d.max_history);
    count("fallback_window", r.fallback_window, 3, 100_000, &mut d.fallback_window);
    count("calibration_window", r.calibration_window, 30, 1_000_000, &mut d.calibration_window);
    if ok {
        if let Some(p) = &d.periods {
            let longest = p.iter().copied().max().unwrap_or(0);
            if 2 * longest > d.max_history {
                err(
                    "periods",
                    format!("two of the longest period ({longest}) must fit in max_history ({})", d.max_history),
                );
                return None;
            }
        }
    }
    ok.then_some(d)
}

fn validate_anomaly(raw: Option<RawSeriesSource>, err: &mut dyn FnMut(&str, String)) -> Option<AnomalyConfig> {
    let Some(r) = raw else {
        return Some(AnomalyConfig::default());
    };
    let mut ok = true;
    let mut bad = |field: &str, msg: String| {
        ok = false;
        err(&format!("anomaly.{field}"), msg);
    };
    for (field, set) in [
        ("name", r.name.is_some()),
        ("url", r.url.is_some()),
        ("query", r.query.is_some()),
        ("interval_seconds", r.interval_seconds.is_some()),
        ("timeout_seconds", r.timeout_seconds.is_some()),
        ("outlier_sensitivity", r.outlier_sensitivity.is_some()),
        ("bearer_token_env", r.bearer_token_env.is_some()),
        ("bearer_token_file", r.bearer_token_file.is_some()),
    ] {
        if set {
            bad(field, "applies to [[pull]] only".into());
        }
    }
    let detector = validate_detector(&r, &mut bad);
    let mut config = AnomalyConfig::default();
    if let Some(n) = r.max_series {
        if (1..=100_000).contains(&n) {
            config.max_series = n as usize;
        } else {
            bad("max_series", format!("must be 1 to 100000, got {n}"));
        }
    }
    for (i, name) in r.series.iter().flatten().enumerate() {
        if let Err(e) = check_name(name) {
            bad(&format!("series[{i}]"), e);
        }
    }
    config.series = r.series.unwrap_or_default();
    config.detector = detector?;
    ok.then_some(config)
}

fn validate_pull(r: RawSeriesSource, base: &Base, at: &str, errors: &mut Vec<String>) -> Option<PullConfig> {
    let before = errors.len();
    let mut err = |field: &str, msg: String| errors.push(format!("{at}.{field}: {msg}"));
    if r.series.is_some() {
        err("series", "applies to [model.anomaly] only: a pull scores every series its query returns".into());
    }
    let name = r.name.clone().unwrap_or_default();
    if let Err(e) = check_name(&name) {
        err("name", e);
    }
    let url = r.url.clone().unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        err("url", format!("must be the Prometheus base URL (http:// or https://), got {url:?}"));
    }
    let query = r.query.clone().unwrap_or_default();
    if query.trim().is_empty() {
        err("query", "required: the PromQL expression to score".into());
    }
    let step_seconds = match r.step_seconds {
        Some(v) if in_range(v, 1.0, 86_400.0) => v,
        Some(v) => {
            err("step_seconds", format!("must be 1 to 86400, got {v}"));
            1.0
        }
        None => {
            err("step_seconds", "required: the query_range step".into());
            1.0
        }
    };
    let interval_seconds = r.interval_seconds.unwrap_or(step_seconds);
    if !in_range(interval_seconds, 1.0, 86_400.0) {
        err("interval_seconds", format!("must be 1 to 86400, got {interval_seconds}"));
    }
    let timeout_seconds = r.timeout_seconds.unwrap_or(10.0);
    if !in_range(timeout_seconds, 0.1, 600.0) {
        err("timeout_seconds", format!("must be 0.1 to 600, got {timeout_seconds}"));
    }
    let outlier_sensitivity = r.outlier_sensitivity.unwrap_or(0.9);
    if !(outlier_sensitivity > 0.0 && outlier_sensitivity < 1.0) {
        err("outlier_sensitivity", format!("must be in (0, 1), got {outlier_sensitivity}"));
    }
    let max_series = r.max_series.unwrap_or(1000);
    if !(1..=100_000).contains(&max_series) {
        err("max_series", format!("must be 1 to 100000, got {max_series}"));
    }
    let bearer_token =
        Secret::resolve(r.bearer_token_env.as_deref(), r.bearer_token_file.as_deref().map(Path::new), base)
            .map_err(|e| err("bearer_token_env", e))
            .ok()
            .flatten();
    let detector = validate_detector(&r, &mut err);
    if errors.len() > before {
        return None;
    }
    let mut detector = detector?;
    detector.step_seconds = Some(step_seconds);
    Some(PullConfig {
        name,
        url: url.trim_end_matches('/').to_owned(),
        query,
        detector,
        step_seconds,
        interval_seconds,
        timeout_seconds,
        max_series: max_series as usize,
        outlier_sensitivity,
        bearer_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(text: &str) -> Result<Config, ConfigErrors> {
        Sources::from_str(text, Path::new("/cfg"))?.validate()
    }

    #[test]
    fn the_issue_example_validates_with_defaults() {
        let c = validate(
            r#"
            [[model]]
            name = "churn"
            version = "1"
            reference = "reference.csv"   # CSV or Parquet
            window = 5000
            "#,
        )
        .unwrap();
        let m = &c.models[0];
        assert_eq!((m.window, m.step, m.bins.get(), m.eps.get()), (5000, 5000, 10, 1e-4));
        assert!(matches!(&m.reference, Some(ReferenceSource::File(p)) if p == Path::new("/cfg/reference.csv")));
        assert_eq!(m.rule.correction, Correction::BenjaminiHochberg);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = validate(
            r#"
            [[model]]
            name = "a"
            window = 1
            bins = 1
            eps = nan
            drift_share = 2.0
            thresholds = { ks = 1.5, psi = -1 }
            features = [{ name = "x", kind = "categorical", methods = ["ks"] }]
            "#,
        )
        .unwrap_err();
        let text = e.to_string();
        for needle in [
            "window",
            "bins",
            "eps",
            "drift_share",
            "thresholds.ks",
            "thresholds.psi",
            "features[0].methods",
            "reference",
        ] {
            assert!(text.contains(needle), "missing {needle} in:\n{text}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = validate("[[model]]\nname = \"a\"\nreference = \"r.csv\"\nwindow = 10\nwindw = 3\n").unwrap_err();
        assert!(e.to_string().contains("windw"), "{e}");
    }

    #[test]
    fn embedded_demo_config_is_valid() {
        let c = Sources::embedded().validate().unwrap();
        assert!(matches!(c.models[0].reference, Some(ReferenceSource::Embedded { .. })));
    }
}
