//! The drift report: one self-contained HTML page (inline SVG charts and CSS, no scripts, nothing
//! fetched at view time) with the model's verdict, a table of every feature's scores, p-values and
//! thresholds, its data quality, each feature's reference-vs-current histogram on the reference's
//! bins, and the recent points of the model's series inside their band. `driftwatch report` builds
//! it from two files; `GET /models/{name}/report` from the newest window of a running model. Both
//! take their numbers from the same scoring code as `/metrics`.
//!
//! May import: `monitor`, `series`, `config` and the leaves.

mod charts;
mod page;

use driftwatch_stats::anomaly::Observation;
use driftwatch_stats::drift::FeatureKind;

pub(crate) use charts::ChartError;

use crate::clock::unix_now;
use crate::monitor::model::ModelState;
use crate::monitor::profile::FeatureProfile;
use crate::monitor::reference::ModelSpec;
use crate::monitor::report::WindowReport;
use crate::series::SeriesSource;

/// Everything the page shows.
pub(crate) struct Report {
    pub(crate) model: String,
    pub(crate) version: String,
    /// What was compared, in words ("reference.csv (20000 rows) vs current.csv (5000 rows)").
    pub(crate) subject: String,
    pub(crate) generated_at: f64,
    pub(crate) reference_rows: usize,
    /// The share of drifted features at which the model counts as drifted.
    pub(crate) drift_share_threshold: f64,
    /// The model's features in config order.
    pub(crate) features: Vec<(String, FeatureKind)>,
    /// `None` before the first window is scored.
    pub(crate) window: Option<WindowReport>,
    /// One per feature, of the same window; `None` when only the scores are known (restored from a
    /// snapshot).
    pub(crate) profiles: Option<Vec<FeatureProfile>>,
    /// Series name and its recent points, oldest first.
    pub(crate) series: Vec<(String, Vec<Observation>)>,
    /// Caveats shown under the summary.
    pub(crate) notes: Vec<String>,
}

impl Report {
    /// The page of `spec` before anything is compared: what the model says, nothing scored yet.
    pub(crate) fn of(spec: &ModelSpec, reference_rows: usize) -> Report {
        Report {
            model: spec.config.name.clone(),
            version: spec.config.version.clone(),
            subject: String::new(),
            generated_at: unix_now(),
            reference_rows,
            drift_share_threshold: spec.config.rule.drift_share,
            features: spec.features.iter().map(|f| (f.name.clone(), f.kind)).collect(),
            window: None,
            profiles: None,
            series: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The page for a running model: its newest window against the reference, with its pushed
    /// series.
    pub(crate) fn live(model: &ModelState, series: Option<&SeriesSource>) -> Report {
        let window = model.latest().map(|w| w.as_ref().clone());
        let (reference_rows, window_rows, _) = model.fill();
        let profiles = match (&window, model.latest_profiles()) {
            (Some(w), Some((seq, p))) if seq == w.seq => Some(p.as_ref().clone()),
            _ => None,
        };
        let mut notes = Vec::new();
        match &window {
            None if !model.ready() => notes.push(format!(
                "Warming up: the reference is fitted from the first {} samples ({window_rows} so far).",
                model.spec.config.warmup
            )),
            None => notes.push(format!(
                "No window scored yet: {window_rows} of {} samples in the current window.",
                model.spec.config.window
            )),
            Some(_) if profiles.is_none() => notes.push(
                "The scores were restored from a snapshot; histograms come back with the next window.".to_owned(),
            ),
            Some(_) => {}
        }
        notes
            .push("Model quality (accuracy from labels) is not shown: driftwatch does not take labels yet.".to_owned());
        let series = series
            .map(|s| {
                s.recent()
                    .into_iter()
                    .map(|(labels, points)| {
                        let name =
                            labels.iter().find(|(k, _)| k == "series").map_or_else(String::new, |(_, v)| v.clone());
                        (name, points)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let subject = match &window {
            Some(w) => format!("window {} ({} samples) of the running sidecar against its reference", w.seq, w.samples),
            None => "the running sidecar".to_owned(),
        };
        Report { subject, window, profiles, series, notes, ..Report::of(&model.spec, reference_rows) }
    }

    /// The HTML page.
    pub(crate) fn render(&self) -> Result<String, ChartError> {
        page::render(self)
    }
}
