//! `driftwatch report`: the drift report of one file against another, offline. The current file is
//! read and scored one feature column at a time (memory: the reference plus one column), each column
//! through the sidecar's own encoding and scoring, then the same decision across features, so the
//! page's numbers equal what `/metrics` exports for the same rows in one window.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::{ModelConfig, ReferenceSource, Sources};
use crate::monitor::profile::profile;
use crate::monitor::reference::{self, ModelSpec, Reference};
use crate::monitor::score::{decide, score_column};
use crate::monitor::window::WindowColumn;
use crate::report::Report;

pub(crate) struct ReportOptions {
    pub(crate) reference: PathBuf,
    pub(crate) current: PathBuf,
    /// A model config (file or directory) for features, methods, thresholds and bins.
    pub(crate) config: Option<PathBuf>,
    /// Which model of `config`; needed when it has more than one.
    pub(crate) model: Option<String>,
    pub(crate) output: PathBuf,
}

/// What the report found, for the terminal.
pub(crate) struct Outcome {
    pub(crate) model_drift: bool,
    pub(crate) drifted: usize,
    pub(crate) features: usize,
    pub(crate) rows: usize,
}

/// The model the report scores with: the config's (its reference replaced by `--reference`), or
/// the defaults for every column of the reference.
fn model_config(o: &ReportOptions) -> anyhow::Result<ModelConfig> {
    let mut config = match &o.config {
        Some(path) => {
            let config = Sources::load(path)?.validate()?;
            let mut models = config.models.into_iter();
            match &o.model {
                Some(name) => models
                    .find(|m| &m.name == name)
                    .with_context(|| format!("{} has no model {name:?}", path.display()))?,
                None => {
                    let first = models.next().with_context(|| format!("{} defines no model", path.display()))?;
                    if models.next().is_some() {
                        bail!("{} defines several models: name one with --model", path.display());
                    }
                    first
                }
            }
        }
        None => {
            let name = o.model.clone().unwrap_or_else(|| "report".to_owned());
            let text = format!("[[model]]\nname = {}\nreference = \"unused\"\nwindow = 2\n", toml::Value::String(name));
            Sources::from_str(&text, Path::new("."))?.validate()?.models.remove(0)
        }
    };
    config.reference = Some(ReferenceSource::File(o.reference.clone()));
    config.warmup = 0;
    Ok(config)
}

fn progress(len: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(len as u64), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("scoring {msg:>24} [{bar:30}] {pos}/{len} features ({eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}

/// Reads, scores and profiles the current file one feature at a time.
fn score_file(spec: &ModelSpec, reference: &Reference, current: &ReferenceSource) -> anyhow::Result<(Report, usize)> {
    let eps = spec.config.eps.get();
    let bar = progress(spec.features.len());
    let mut rows = None;
    let mut scored = Vec::with_capacity(spec.features.len());
    let mut profiles = Vec::with_capacity(spec.features.len());
    for (feature, fref) in spec.features.iter().zip(&reference.features) {
        bar.set_message(feature.name.clone());
        let frame = reference::read_columns(current, Some(std::slice::from_ref(&feature.name)))?;
        let column = frame.column(&feature.name).with_context(|| format!("{current}: no column {:?}", feature.name))?;
        let values = reference::column_values(column, feature.kind)
            .with_context(|| format!("{current}: column {:?}", feature.name))?;
        drop(frame);
        let n = values.len();
        match rows {
            None => rows = Some(n),
            Some(r) if r != n => bail!("{current}: column {:?} has {n} rows, the others {r}", feature.name),
            Some(_) => {}
        }
        let mut window = WindowColumn::empty(fref);
        window.extend_from(&values, 0..n, fref);
        drop(values);
        let missing = window.missing_in(0..n);
        profiles.push(profile(&window, missing, fref));
        scored.push(score_column(&mut window, missing, feature, fref, eps));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rows = rows.unwrap_or(0);
    if rows == 0 {
        bail!("{current}: no rows to compare");
    }
    let mut window = decide(spec, scored);
    window.seq = 1;
    window.samples = rows;
    let report = Report { window: Some(window), profiles: Some(profiles), ..Report::of(spec, reference.samples) };
    Ok((report, rows))
}

/// Writes the report of `current` against `reference` to `output`.
pub(crate) fn run(o: &ReportOptions) -> anyhow::Result<Outcome> {
    let config = model_config(o)?;
    let (spec, reference) = reference::load_model(config)?;
    let reference = reference.context("the reference did not load")?;
    let current = ReferenceSource::File(o.current.clone());
    let (mut report, rows) = score_file(&spec, &reference, &current)?;
    report.subject = format!("{} ({} rows) against the reference {}", o.current.display(), rows, o.reference.display());
    let html = report.render()?;
    std::fs::write(&o.output, html).with_context(|| format!("cannot write {}", o.output.display()))?;
    let window = report.window.as_ref().expect("scored above");
    Ok(Outcome {
        model_drift: window.model_drift,
        drifted: window.features.iter().filter(|f| f.drifted == Some(true)).count(),
        features: window.features.len(),
        rows,
    })
}
