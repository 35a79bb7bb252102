//! Configuration: TOML deserialised with serde ([`raw`]: `deny_unknown_fields`, defaults), then
//! validated section by section ([`server`], [`model`], [`retrain`], [`series`]) into the separate,
//! checked [`Config`]. Every validator reports through one [`check::Problems`], so every problem is
//! reported at once, each naming its place (`model[0].window`) and the bound it broke.
//!
//! A config is one file, or a directory whose `*.toml` files (one per monitored model, as in
//! `models/`) are merged. Reference paths are relative to the file that names them.
//!
//! May import: the leaves and `driftwatch_stats` only; every other layer reads its settings from here.

pub(crate) mod check;
pub(crate) mod model;
pub(crate) mod multivariate;
pub(crate) mod oip;
pub(crate) mod performance;
mod raw;
pub(crate) mod retrain;
pub(crate) mod secret;
pub(crate) mod series;
pub(crate) mod server;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use check::ConfigErrors;
use check::Problems;
pub use model::{Bins, Eps, FeatureConfig, ModelConfig, ReferenceSource};
pub use multivariate::{MultivariateConfig, MultivariateMethod};
pub use oip::OipConfig;
pub use performance::{PerformanceConfig, TaskKind};
use raw::RawConfig;
pub(crate) use raw::RawSeriesSource;
pub use retrain::{AlertmanagerConfig, RetrainConfig, Trigger};
pub use secret::Secret;
pub use series::{AnomalyConfig, PullConfig};
pub use server::{DEFAULT_LISTEN, ServerConfig};

/// The demo config and its data, compiled into the binary so `driftwatch demo` and a bare
/// `driftwatch serve` work from any directory.
pub(crate) const EMBEDDED_CONFIG: &str = include_str!("../../models/demo.toml");
pub(crate) const EMBEDDED_FILES: &[(&str, &[u8])] =
    &[("../datasets/demo/reference.csv", include_bytes!("../../datasets/demo/reference.csv"))];

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub models: Vec<ModelConfig>,
    pub alertmanager: Option<AlertmanagerConfig>,
    pub pulls: Vec<PullConfig>,
}

impl Config {
    /// Whether anything needs the data directory (the webhook outbox).
    pub(crate) fn needs_data_dir(&self) -> bool {
        self.alertmanager.is_some() || self.models.iter().any(|m| m.retrain.is_some())
    }
}

/// A name that is not fit to be a label value or part of a URL.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("must be 1 to {MAX_NAME_BYTES} bytes, got {0}")]
    Length(usize),
    #[error("must not contain control characters")]
    Control,
}

const MAX_NAME_BYTES: usize = 256;

/// Names end up as Prometheus label values and in URLs: keep them printable and bounded.
pub(crate) fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(NameError::Length(name.len()));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(())
}

/// Where one source file lives, to resolve its relative paths.
#[derive(Debug, Clone)]
pub(crate) enum Base {
    Dir(PathBuf),
    Embedded,
}

impl Base {
    /// `path` relative to the file that named it.
    pub(crate) fn resolve(&self, path: &Path) -> PathBuf {
        match self {
            Base::Dir(dir) => dir.join(path),
            Base::Embedded => path.to_path_buf(),
        }
    }
}

/// Parsed files before validation: (origin label, base, raw).
pub struct Sources(Vec<(String, Base, RawConfig)>);

impl Sources {
    /// A file, or every `*.toml` in a directory (sorted by name).
    pub fn load(path: &Path) -> Result<Sources, ConfigErrors> {
        let mut problems = Problems::default();
        let mut at = problems.at("");
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
        for f in files {
            let base = Base::Dir(f.parent().map(Path::to_path_buf).unwrap_or_default());
            let name = f.display().to_string();
            let parsed = std::fs::read_to_string(&f)
                .map_err(|e| e.to_string())
                .and_then(|text| toml::from_str::<RawConfig>(&text).map_err(|e| e.to_string()));
            match parsed {
                Ok(raw) => out.push((name, base, raw)),
                Err(e) => at.report(&name, e),
            }
        }
        problems.finish(|| Sources(out))
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
        let mut problems = Problems::default();
        let mut server: Option<ServerConfig> = None;
        let mut alertmanager: Option<AlertmanagerConfig> = None;
        let mut seen_alertmanager = false;
        let mut models = Vec::new();
        let mut names = HashSet::new();
        let mut pulls: Vec<PullConfig> = Vec::new();
        for (origin, base, raw) in self.0 {
            let mut file = problems.at(origin);
            for (i, p) in raw.pull.into_iter().enumerate() {
                let mut at = file.nested(&format!("pull[{i}]"));
                if let Some(pull) = series::validate_pull(p, &base, &mut at) {
                    if pulls.iter().any(|q| q.name == pull.name) {
                        at.report("name", format!("pull {:?} is defined twice", pull.name));
                    }
                    pulls.push(pull);
                }
            }
            if let Some(s) = raw.server {
                if server.is_some() {
                    file.report_table("[server] is set in more than one file");
                }
                server = Some(server::validate(s, &base, &mut file));
            }
            if let Some(a) = raw.alertmanager {
                if seen_alertmanager {
                    file.report_table("[alertmanager] is set in more than one file");
                }
                seen_alertmanager = true;
                alertmanager = retrain::validate_alertmanager(a, &base, &mut file);
            }
            for (i, m) in raw.model.into_iter().enumerate() {
                let mut at = file.nested(&format!("model[{i}]"));
                if let Some(model) = model::validate_model(m, &base, &mut at) {
                    if !names.insert(model.name.clone()) {
                        at.report("name", format!("model {:?} is defined twice", model.name));
                    }
                    models.push(model);
                }
            }
        }
        if models.is_empty() && pulls.is_empty() && problems.len() == 0 {
            problems.at("").report_table("no [[model]] or [[pull]] defined");
        }
        let server = server.unwrap_or_default();
        problems.finish(|| Config { server, models, alertmanager, pulls })
    }
}

/// Checks detector settings given outside a config file (the `replay` and `nab` flags) with the
/// config's own bounds; problems name the flags.
pub(crate) fn detector_from_flags(
    raw: &RawSeriesSource,
) -> Result<driftwatch_stats::anomaly::DetectorSettings, ConfigErrors> {
    let mut problems = Problems::default();
    let settings = series::validate_detector(raw, &mut problems.flags());
    problems.finish(|| settings).map(|s| s.expect("no problem reported, so the settings are valid"))
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
        assert_eq!(m.rule.correction, driftwatch_stats::drift::Correction::BenjaminiHochberg);
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
    fn the_anomaly_trigger_and_idle_expiry_report_every_misconfiguration_by_field() {
        let e = validate(
            r#"
            [[model]]
            name = "a"
            reference = "r.csv"
            window = 10
            [model.anomaly]
            series = ["latency"]
            idle_seconds = 0.5
            [model.retrain]
            url = "http://127.0.0.1:1/"
            triggers = ["anomaly"]
            anomaly_series = ["latency", "errors"]
            anomaly_points = 0
            "#,
        )
        .unwrap_err();
        let text = e.to_string();
        for needle in [
            "anomaly.idle_seconds: must be between 1 and 31536000",
            "retrain.anomaly_points: must be between 1 and 100000",
            "retrain.anomaly_series[1]: \"errors\" is not in anomaly.series",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert!(!text.contains("anomaly_series[0]"), "{text}");
        let e = validate(
            "[[model]]\nname = \"a\"\nreference = \"r.csv\"\nwindow = 10\n[model.retrain]\nurl = \"http://h/\"\ntriggers = [\"anomaly\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("retrain.anomaly_series: name the pushed series"), "{e}");
        let e = validate(
            "[[model]]\nname = \"a\"\nreference = \"r.csv\"\nwindow = 10\n[model.retrain]\nurl = \"http://h/\"\nanomaly_series = [\"x\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("retrain.anomaly_series: applies only when triggers includes"), "{e}");
        let c = validate(
            "[[model]]\nname = \"a\"\nreference = \"r.csv\"\nwindow = 10\n[model.retrain]\nurl = \"http://h/\"\ntriggers = [\"anomaly\"]\nanomaly_series = [\"x\"]\n",
        )
        .unwrap();
        let r = c.models[0].retrain.as_ref().unwrap();
        assert_eq!((r.anomaly_series.as_slice(), r.anomaly_points), (["x".to_owned()].as_slice(), 3));
        assert_eq!(c.models[0].anomaly.idle_seconds, 3600.0);
    }

    #[test]
    fn embedded_demo_config_is_valid() {
        let c = Sources::embedded().validate().unwrap();
        assert!(matches!(c.models[0].reference, Some(ReferenceSource::Embedded { .. })));
    }
}
