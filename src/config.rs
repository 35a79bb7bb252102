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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub max_body_bytes: Option<u64>,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub models: Vec<ModelConfig>,
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
        let mut models = Vec::new();
        let mut names = HashSet::new();
        for (origin, base, raw) in self.0 {
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
                server = Some(ServerConfig { listen, max_body_bytes: max_body_bytes as usize });
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
        if models.is_empty() && errors.is_empty() {
            errors.push("no [[model]] defined".into());
        }
        let server =
            server.unwrap_or(ServerConfig { listen: DEFAULT_LISTEN.parse().unwrap(), max_body_bytes: 16 << 20 });
        if errors.is_empty() { Ok(Config { server, models }) } else { Err(ConfigErrors(errors)) }
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
