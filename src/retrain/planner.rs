//! Ties the [`policy`](super::policy) to the [`webhook`](super::webhook) outbox: every published window
//! and every configured firing alert is put to the model's policy, and a `Request` verdict becomes a
//! [`RetrainRequest`] per URL, made durable before this returns. The policy state (cooldowns, hourly
//! counts, alerts already acted on) is persisted to `<data-dir>/policy.json` after every change, with
//! the same write-fsync-rename as the outbox ([`crate::durable`]), so a restart neither forgets a cooldown nor re-acts on an
//! alert Alertmanager re-sends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::policy::{PolicyState, Verdict};
use super::webhook::outbox::{Entry, Outbox};
use super::webhook::{AlertInfo, AnomalyInfo, DriftedFeature, ModelRef, RetrainRequest, WindowInfo};
use crate::config::{RetrainConfig, Trigger};
use crate::digest::key_from;
use crate::durable::write_atomically;
use crate::metrics::{DecisionLabels, Metrics};
use crate::monitor::performance::PerformanceReport;
use crate::monitor::report::WindowReport;
use driftwatch_stats::anomaly::Observation;

/// Alerts remembered for deduplication (by fingerprint and start): far more than Alertmanager re-sends.
const SEEN_ALERTS: usize = 4096;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    models: BTreeMap<String, PolicyState>,
    seen_alerts: VecDeque<String>,
}

/// Per model: its retrain config and the features whose drift triggers it (indices into the spec).
pub(crate) struct Target {
    pub(crate) config: RetrainConfig,
    pub(crate) version: String,
    /// `None`: the model-level `model_drift_detected`; else any of these feature indices drifting.
    pub(crate) features: Option<Vec<usize>>,
    /// `[model.performance] accuracy_target`, for the `performance` trigger.
    pub(crate) accuracy_target: Option<f64>,
}

pub(crate) struct Retrainer {
    targets: HashMap<String, Target>,
    outbox: Arc<Outbox>,
    state: Mutex<Persisted>,
    path: PathBuf,
    metrics: Metrics,
    instance: String,
}

/// What became of a firing alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertAction {
    Requested,
    Duplicate,
    Cooldown,
    RateLimited,
    NoRetrainConfig,
    /// The model's `retrain.triggers` does not include "alert".
    TriggerDisabled,
}

impl AlertAction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertAction::Requested => "retrain_requested",
            AlertAction::Duplicate => "duplicate",
            AlertAction::Cooldown => "cooldown",
            AlertAction::RateLimited => "rate_limited",
            AlertAction::NoRetrainConfig => "no_retrain_config",
            AlertAction::TriggerDisabled => "trigger_disabled",
        }
    }
}

impl Retrainer {
    pub(crate) fn open(
        data_dir: &Path,
        targets: HashMap<String, Target>,
        outbox: Arc<Outbox>,
        metrics: Metrics,
        instance: String,
    ) -> io::Result<Retrainer> {
        let path = data_dir.join("policy.json");
        let state = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(file = %path.display(), error = %e, "unreadable policy state: starting afresh");
                Persisted::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Persisted::default(),
            Err(e) => return Err(e),
        };
        for (model, s) in &state.models {
            if let Some(t) = s.last_request_at {
                metrics.last_retrain.get_or_create(&Metrics::model(model)).set(t);
            }
        }
        Ok(Retrainer { targets, outbox, state: Mutex::new(state), path, metrics, instance })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Persisted> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, model: &str, trigger: Trigger, verdict: Verdict) {
        if let Some(decision) = verdict.label() {
            let labels = DecisionLabels {
                model_name: model.into(),
                trigger: trigger.as_str().into(),
                decision: decision.into(),
            };
            self.metrics.retrain_decisions.get_or_create(&labels).inc();
        }
    }

    /// Puts a published window to the model's policy; on `Request`, the request is durable in the
    /// outbox when this returns. An outbox write that fails leaves the streak standing, so the next
    /// drifted window tries again.
    pub(crate) fn on_window(&self, model: &str, report: &WindowReport, now: f64) -> Verdict {
        let Some(target) = self.targets.get(model) else { return Verdict::Wait };
        let triggers = &target.config.triggers;
        let univariate = triggers.contains(&Trigger::Drift)
            && match &target.features {
                None => report.model_drift,
                Some(idx) => idx.iter().any(|&i| report.features.get(i).is_some_and(|f| f.drifted == Some(true))),
            };
        let multivariate = triggers.contains(&Trigger::Multivariate) && report.multivariate_drift();
        // One streak for both: a window with either kind of drift continues it.
        let holds = univariate || multivariate;
        let trigger = if multivariate && !univariate { Trigger::Multivariate } else { Trigger::Drift };
        let mut state = self.lock();
        let policy = state.models.entry(model.to_owned()).or_default();
        let verdict = policy.observe_window(holds, &target.config, now);
        self.count(model, trigger, verdict);
        if verdict != Verdict::Request {
            return verdict;
        }
        let streak = policy.streak;
        let key = key_from(&[&self.instance, model, &report.seq.to_string(), &now.to_string()]);
        let features = report
            .features
            .iter()
            .filter(|f| f.drifted == Some(true))
            .map(|f| DriftedFeature { name: f.name.clone(), samples: f.samples, scores: f.scores.clone() })
            .collect();
        let request = RetrainRequest {
            idempotency_key: key,
            model: ModelRef { name: model.into(), version: target.version.clone() },
            trigger,
            reason: match (trigger, &target.features) {
                (Trigger::Multivariate, _) => {
                    let methods: Vec<&str> =
                        report.multivariate.iter().filter(|m| m.drifted).map(|m| m.method.as_str()).collect();
                    format!("multivariate drift ({}) ended a streak of {streak} drifted windows", methods.join(", "))
                }
                (_, None) => format!("model_drift_detected held for {streak} consecutive windows"),
                (_, Some(_)) => format!("a configured feature drifted in {streak} consecutive windows"),
            },
            instance: self.instance.clone(),
            timestamp: now,
            window: Some(WindowInfo {
                seq: report.seq,
                samples: report.samples,
                start: report.started_at,
                end: report.completed_at,
                drift_share: report.drift_share,
                consecutive_drifted_windows: streak,
            }),
            features,
            multivariate: report.multivariate.clone(),
            performance: None,
            alert: None,
            anomaly: None,
        };
        match self.send(&mut state, target, request, now, None) {
            Ok(_) => Verdict::Request,
            Err(e) => {
                tracing::error!(model, error = %e, "could not write the retrain request to the outbox");
                Verdict::Wait
            }
        }
    }

    /// A push to one of the model's series left it `streak` consecutive points above 1, `newest`
    /// last. At the model's `anomaly_points` or more (for a series it names), a request, through the
    /// same cooldown and hourly cap as every trigger. The streak keeps growing through a cooldown, so
    /// an anomaly that outlasts it asks again, as persisting drift does.
    pub(crate) fn on_anomaly(&self, model: &str, series: &str, streak: u32, newest: Observation, now: f64) -> Verdict {
        let Some(target) = self.targets.get(model) else { return Verdict::Wait };
        let rc = &target.config;
        if !rc.triggers.contains(&Trigger::Anomaly)
            || streak < rc.anomaly_points
            || !rc.anomaly_series.iter().any(|s| s == series)
        {
            return Verdict::Wait;
        }
        let mut state = self.lock();
        let verdict = state.models.entry(model.to_owned()).or_default().check(rc, now);
        self.count(model, Trigger::Anomaly, verdict);
        if verdict != Verdict::Request {
            return verdict;
        }
        let request = RetrainRequest {
            idempotency_key: key_from(&[&self.instance, model, "anomaly", series, &newest.timestamp.to_string()]),
            model: ModelRef { name: model.into(), version: target.version.clone() },
            trigger: Trigger::Anomaly,
            reason: format!("series {series} scored above 1 on {streak} consecutive points"),
            instance: self.instance.clone(),
            timestamp: now,
            window: None,
            features: Vec::new(),
            multivariate: Vec::new(),
            performance: None,
            alert: None,
            anomaly: Some(AnomalyInfo { series: series.into(), consecutive_points: streak, point: newest }),
        };
        match self.send(&mut state, target, request, now, None) {
            Ok(_) => Verdict::Request,
            Err(e) => {
                tracing::error!(model, error = %e, "could not write the retrain request to the outbox");
                Verdict::Wait
            }
        }
    }

    /// An evaluated window of joined labels: below the model's accuracy target, a request (through
    /// the same cooldown and hourly cap; each evaluation is one observation, as an alert is).
    pub(crate) fn on_performance(&self, model: &str, report: &PerformanceReport, now: f64) -> Verdict {
        let Some(target) = self.targets.get(model) else { return Verdict::Wait };
        let (Some(goal), Some(accuracy)) = (target.accuracy_target, report.metric("accuracy")) else {
            return Verdict::Wait;
        };
        if !target.config.triggers.contains(&Trigger::Performance) || accuracy >= goal {
            return Verdict::Wait;
        }
        let mut state = self.lock();
        let verdict = state.models.entry(model.to_owned()).or_default().check(&target.config, now);
        self.count(model, Trigger::Performance, verdict);
        if verdict != Verdict::Request {
            return verdict;
        }
        let request = RetrainRequest {
            idempotency_key: key_from(&[
                &self.instance,
                model,
                "performance",
                &report.seq.to_string(),
                &now.to_string(),
            ]),
            model: ModelRef { name: model.into(), version: target.version.clone() },
            trigger: Trigger::Performance,
            reason: format!(
                "accuracy {accuracy:.4} over the last {} labelled predictions is below the target {goal}",
                report.rows
            ),
            instance: self.instance.clone(),
            timestamp: now,
            window: None,
            features: Vec::new(),
            multivariate: Vec::new(),
            performance: Some(report.clone()),
            alert: None,
            anomaly: None,
        };
        match self.send(&mut state, target, request, now, None) {
            Ok(_) => Verdict::Request,
            Err(e) => {
                tracing::error!(model, error = %e, "could not write the retrain request to the outbox");
                Verdict::Wait
            }
        }
    }

    /// A firing alert named in `[alertmanager] alerts` for `model`. Errors are outbox writes that
    /// failed: the caller answers 500 so Alertmanager sends the alert again.
    pub(crate) fn on_alert(&self, model: &str, alert: AlertInfo, now: f64) -> io::Result<AlertAction> {
        let Some(target) = self.targets.get(model) else { return Ok(AlertAction::NoRetrainConfig) };
        if !target.config.triggers.contains(&Trigger::Alert) {
            return Ok(AlertAction::TriggerDisabled);
        }
        // Deterministic, so a re-sent alert maps to the same key even after a restart.
        let key = key_from(&["alert", model, &alert.fingerprint, &alert.starts_at]);
        let mut state = self.lock();
        if state.seen_alerts.contains(&key) {
            return Ok(AlertAction::Duplicate);
        }
        let verdict = state.models.entry(model.to_owned()).or_default().check(&target.config, now);
        self.count(model, Trigger::Alert, verdict);
        let action = match verdict {
            Verdict::Cooldown => AlertAction::Cooldown,
            Verdict::RateLimited => AlertAction::RateLimited,
            _ => {
                let request = RetrainRequest {
                    idempotency_key: key.clone(),
                    model: ModelRef { name: model.into(), version: target.version.clone() },
                    trigger: Trigger::Alert,
                    reason: format!("alert {} is firing", alert.alertname),
                    instance: self.instance.clone(),
                    timestamp: now,
                    window: None,
                    features: Vec::new(),
                    multivariate: Vec::new(),
                    performance: None,
                    alert: Some(alert),
                    anomaly: None,
                };
                self.send(&mut state, target, request, now, Some(key))?;
                return Ok(AlertAction::Requested);
            }
        };
        // Suppressed alerts are remembered too: one that fired during a cooldown does not retrain
        // when Alertmanager repeats it after the cooldown; a new firing (new startsAt) would.
        Self::remember(&mut state, key);
        self.persist(&state)?;
        Ok(action)
    }

    fn remember(state: &mut Persisted, key: String) {
        state.seen_alerts.push_back(key);
        while state.seen_alerts.len() > SEEN_ALERTS {
            state.seen_alerts.pop_front();
        }
    }

    /// Writes one outbox entry per URL, then records the request in the policy and persists it.
    fn send(
        &self,
        state: &mut Persisted,
        target: &Target,
        request: RetrainRequest,
        now: f64,
        seen: Option<String>,
    ) -> io::Result<()> {
        let model = request.model.name.clone();
        let body = serde_json::to_string(&request).expect("a request serialises");
        for (i, url) in target.config.urls.iter().enumerate() {
            self.outbox.enqueue(Entry {
                id: format!("{}-{i}", request.idempotency_key),
                key: request.idempotency_key.clone(),
                model: model.clone(),
                url: url.clone(),
                body: body.clone(),
                created_at: now,
            })?;
        }
        state.models.entry(model.clone()).or_default().record(now);
        if let Some(key) = seen {
            Self::remember(state, key);
        }
        self.metrics.last_retrain.get_or_create(&Metrics::model(&model)).set(now);
        tracing::info!(model, trigger = request.trigger.as_str(), key = %request.idempotency_key, "retrain requested");
        // The request is durable already; a failed state write costs at most a repeated cooldown.
        if let Err(e) = self.persist(state) {
            tracing::error!(error = %e, "could not persist the retrain policy state");
        }
        Ok(())
    }

    fn persist(&self, state: &Persisted) -> io::Result<()> {
        write_atomically(&self.path, &serde_json::to_vec(state).expect("policy state serialises"))
    }
}
