//! Every exported metric family, in one place: cheap cloned handles in [`Metrics`], typed label sets,
//! one registry encoded as OpenMetrics text on `/metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A registry as OpenMetrics text (also the model server's, which has its own registry).
pub(crate) fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("writing to a String cannot fail");
    out
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ScoreLabels {
    pub(crate) model_name: String,
    pub(crate) feature: String,
    pub(crate) method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FeatureLabels {
    pub(crate) model_name: String,
    pub(crate) feature: String,
}

/// A reference bin of a feature: its index for numbers, the category (or `__unseen__`) otherwise.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BinLabels {
    pub(crate) model_name: String,
    pub(crate) feature: String,
    pub(crate) bin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PerformanceLabels {
    pub(crate) model_name: String,
    pub(crate) metric: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MultivariateLabels {
    pub(crate) model_name: String,
    pub(crate) method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModelLabels {
    pub(crate) model_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct WebhookLabels {
    pub(crate) model_name: String,
    pub(crate) outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DecisionLabels {
    pub(crate) model_name: String,
    pub(crate) trigger: String,
    pub(crate) decision: String,
}

/// `alertname` is not a label: alerts come from outside, and only configured names are acted on.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AlertLabels {
    pub(crate) status: String,
    pub(crate) action: String,
}

/// A series' labels: `model_name` and `series` for pushed series; for pulled ones `query` plus
/// the labels Prometheus returned.
pub(crate) type SeriesLabels = Vec<(String, String)>;

/// The model or pull a series came from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SourceLabels {
    pub(crate) source: String,
}

impl SourceLabels {
    pub(crate) fn new(s: &str) -> Self {
        SourceLabels { source: s.to_owned() }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub(crate) outcome: String,
}

impl OutcomeLabels {
    pub(crate) fn new(s: &str) -> Self {
        OutcomeLabels { outcome: s.to_owned() }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PullLabels {
    pub(crate) query: String,
    pub(crate) outcome: String,
}

pub(crate) type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    pub(crate) drift_score: Family<ScoreLabels, FloatGauge>,
    pub(crate) drift_pvalue: Family<ScoreLabels, FloatGauge>,
    pub(crate) drift_threshold: Family<ScoreLabels, FloatGauge>,
    pub(crate) feature_drift: Family<FeatureLabels, Gauge>,
    pub(crate) model_drift: Family<ModelLabels, Gauge>,
    pub(crate) drift_share: Family<ModelLabels, FloatGauge>,
    pub(crate) window_bin_count: Family<BinLabels, Gauge>,
    pub(crate) reference_bin_share: Family<BinLabels, FloatGauge>,
    pub(crate) psi_eps: Family<ModelLabels, FloatGauge>,
    pub(crate) multivariate_score: Family<MultivariateLabels, FloatGauge>,
    pub(crate) multivariate_threshold: Family<MultivariateLabels, FloatGauge>,
    pub(crate) multivariate_pvalue: Family<MultivariateLabels, FloatGauge>,
    pub(crate) multivariate_detected: Family<MultivariateLabels, Gauge>,
    pub(crate) model_performance: Family<PerformanceLabels, FloatGauge>,
    pub(crate) model_accuracy: Family<ModelLabels, FloatGauge>,
    pub(crate) performance_estimated: Family<PerformanceLabels, FloatGauge>,
    pub(crate) performance_estimated_lower: Family<PerformanceLabels, FloatGauge>,
    pub(crate) performance_estimated_upper: Family<PerformanceLabels, FloatGauge>,
    pub(crate) labels_joined: Family<ModelLabels, Counter>,
    pub(crate) labels_unmatched: Family<ModelLabels, Counter>,
    pub(crate) predictions_expired: Family<ModelLabels, Counter>,
    pub(crate) predictions_pending: Family<ModelLabels, Gauge>,
    pub(crate) samples: Family<ModelLabels, Counter>,
    pub(crate) rejected: Family<ReasonLabels, Counter>,
    pub(crate) windows: Family<ModelLabels, Counter>,
    pub(crate) scoring_seconds: Family<ModelLabels, Histogram, fn() -> Histogram>,
    pub(crate) missing: Family<FeatureLabels, Counter>,
    pub(crate) window_samples: Family<ModelLabels, Gauge>,
    pub(crate) reference_samples: Family<ModelLabels, Gauge>,
    pub(crate) last_window: Family<ModelLabels, FloatGauge>,
    pub(crate) webhook_requests: Family<WebhookLabels, Counter>,
    pub(crate) webhook_pending: Gauge,
    pub(crate) last_retrain: Family<ModelLabels, FloatGauge>,
    pub(crate) retrain_decisions: Family<DecisionLabels, Counter>,
    pub(crate) alertmanager_alerts: Family<AlertLabels, Counter>,
    pub(crate) snapshot_written: FloatGauge,
    pub(crate) snapshot_failures: Counter,
    pub(crate) in_flight: Gauge,
    pub(crate) connections_open: Gauge,
    pub(crate) connections_closed: Family<OutcomeLabels, Counter>,
    pub(crate) decode_bytes: Gauge,
    pub(crate) anomaly_score: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_value: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_expected: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_lower: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_upper: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_ready: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_outlier: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_changepoint: Family<SeriesLabels, FloatGauge>,
    pub(crate) anomaly_points: Family<SourceLabels, Counter>,
    pub(crate) anomalous_points: Family<SeriesLabels, Counter>,
    pub(crate) anomaly_series_rejected: Family<SourceLabels, Counter>,
    pub(crate) anomaly_series: Family<SourceLabels, Gauge>,
    pub(crate) anomaly_series_expired: Family<SourceLabels, Counter>,
    pub(crate) anomaly_refits: Family<OutcomeLabels, Counter>,
    pub(crate) anomaly_refit_seconds: Histogram,
    pub(crate) anomaly_refits_pending: Gauge,
    pub(crate) pull_requests: Family<PullLabels, Counter>,
    /// Label names of pulled series renamed or dropped to keep the exposition valid (outcome =
    /// renamed or dropped).
    pub(crate) pull_label_names: Family<PullLabels, Counter>,
    pub(crate) pull_points_dropped: Family<PullLabels, Counter>,
}

fn scoring_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            drift_score: Family::default(),
            drift_pvalue: Family::default(),
            drift_threshold: Family::default(),
            feature_drift: Family::default(),
            model_drift: Family::default(),
            drift_share: Family::default(),
            window_bin_count: Family::default(),
            reference_bin_share: Family::default(),
            psi_eps: Family::default(),
            multivariate_score: Family::default(),
            multivariate_threshold: Family::default(),
            multivariate_pvalue: Family::default(),
            multivariate_detected: Family::default(),
            model_performance: Family::default(),
            model_accuracy: Family::default(),
            performance_estimated: Family::default(),
            performance_estimated_lower: Family::default(),
            performance_estimated_upper: Family::default(),
            labels_joined: Family::default(),
            labels_unmatched: Family::default(),
            predictions_expired: Family::default(),
            predictions_pending: Family::default(),
            samples: Family::default(),
            rejected: Family::default(),
            windows: Family::default(),
            scoring_seconds: Family::new_with_constructor(scoring_histogram),
            missing: Family::default(),
            window_samples: Family::default(),
            reference_samples: Family::default(),
            last_window: Family::default(),
            webhook_requests: Family::default(),
            webhook_pending: Gauge::default(),
            last_retrain: Family::default(),
            retrain_decisions: Family::default(),
            alertmanager_alerts: Family::default(),
            snapshot_written: FloatGauge::default(),
            snapshot_failures: Counter::default(),
            in_flight: Gauge::default(),
            connections_open: Gauge::default(),
            connections_closed: Family::default(),
            decode_bytes: Gauge::default(),
            anomaly_score: Family::default(),
            anomaly: Family::default(),
            anomaly_value: Family::default(),
            anomaly_expected: Family::default(),
            anomaly_lower: Family::default(),
            anomaly_upper: Family::default(),
            anomaly_ready: Family::default(),
            anomaly_outlier: Family::default(),
            anomaly_changepoint: Family::default(),
            anomaly_points: Family::default(),
            anomalous_points: Family::default(),
            anomaly_series_rejected: Family::default(),
            anomaly_series: Family::default(),
            anomaly_series_expired: Family::default(),
            anomaly_refits: Family::default(),
            anomaly_refit_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            anomaly_refits_pending: Gauge::default(),
            pull_requests: Family::default(),
            pull_label_names: Family::default(),
            pull_points_dropped: Family::default(),
        };
        r.register(
            "data_drift_score",
            "Drift statistic of a feature's last window against its reference (psi, ks = D statistic, chi2 = \
             statistic, wasserstein, jensenshannon)",
            m.drift_score.clone(),
        );
        r.register(
            "data_drift_pvalue",
            "p-value of the drift test (ks, chi2), before multiple-testing correction",
            m.drift_pvalue.clone(),
        );
        r.register(
            "data_drift_threshold",
            "Threshold the method is compared with (alpha for tests)",
            m.drift_threshold.clone(),
        );
        r.register(
            "data_drift_detected",
            "1 if any method flagged the feature's last window as drifted",
            m.feature_drift.clone(),
        );
        r.register(
            "model_drift_detected",
            "1 if the share of drifted features reached the model's drift_share",
            m.model_drift.clone(),
        );
        r.register(
            "data_drift_share",
            "Share of the model's scored features flagged as drifted in the last window",
            m.drift_share.clone(),
        );
        r.register(
            "data_drift_window_bin_count",
            "Values of the feature's last window in each reference bin (models with export_bins; sum over \
             replicas for fleet drift)",
            m.window_bin_count.clone(),
        );
        r.register(
            "data_drift_reference_bin_share",
            "Share of the reference in each bin (models with export_bins)",
            m.reference_bin_share.clone(),
        );
        r.register(
            "data_drift_psi_eps",
            "Floor of bin proportions in the model's PSI (models with export_bins), for fleet PSI rules",
            m.psi_eps.clone(),
        );
        r.register(
            "model_multivariate_drift_score",
            "Multivariate drift of the last window: pca = mean reconstruction error, classifier = \
             cross-validated AUC, mmd = MMD squared",
            m.multivariate_score.clone(),
        );
        r.register(
            "model_multivariate_drift_threshold",
            "What the multivariate score is compared with: pca = upper bound of the reference band, classifier \
             = auc_threshold, mmd = permuted MMD squared at mmd_alpha",
            m.multivariate_threshold.clone(),
        );
        r.register(
            "model_multivariate_drift_pvalue",
            "Permutation p-value of the MMD test",
            m.multivariate_pvalue.clone(),
        );
        r.register(
            "model_multivariate_drift_detected",
            "1 if the multivariate method flagged the last window",
            m.multivariate_detected.clone(),
        );
        r.register(
            "model_performance",
            "Quality of the model's last evaluated window of predictions joined to labels (accuracy, precision, \
             recall, f1, roc_auc, log_loss, calibration_error; mae, rmse, mape, r2)",
            m.model_performance.clone(),
        );
        r.register(
            "model_accuracy",
            "Accuracy of the classifier's last evaluated window of predictions joined to labels",
            m.model_accuracy.clone(),
        );
        r.register(
            "model_performance_estimated",
            "Label-free estimate (NannyML's CBPE) of the binary classifier's accuracy, f1 and roc_auc over its last \
             window of predictions",
            m.performance_estimated.clone(),
        );
        r.register(
            "model_performance_estimated_lower",
            "Lower bound of the estimate's confidence band (estimate - 3 sampling errors, at least 0)",
            m.performance_estimated_lower.clone(),
        );
        r.register(
            "model_performance_estimated_upper",
            "Upper bound of the estimate's confidence band (estimate + 3 sampling errors, at most 1)",
            m.performance_estimated_upper.clone(),
        );
        r.register("driftwatch_labels_joined", "Labels joined to a waiting prediction", m.labels_joined.clone());
        r.register(
            "driftwatch_labels_unmatched",
            "Labels whose id matched no waiting prediction (never predicted, expired, or already labelled)",
            m.labels_unmatched.clone(),
        );
        r.register(
            "driftwatch_predictions_expired",
            "Predictions that waited longer than retention_seconds, or were the oldest over max_pending, without a label",
            m.predictions_expired.clone(),
        );
        r.register(
            "driftwatch_predictions_pending",
            "Predictions waiting for their label",
            m.predictions_pending.clone(),
        );
        r.register("driftwatch_samples_ingested", "Samples accepted by /ingest", m.samples.clone());
        r.register("driftwatch_requests_rejected", "Requests rejected, by reason", m.rejected.clone());
        r.register("driftwatch_windows_scored", "Windows scored", m.windows.clone());
        r.register(
            "driftwatch_scoring_duration_seconds",
            "Time to score one window, all features",
            m.scoring_seconds.clone(),
        );
        r.register(
            "driftwatch_missing_values",
            "Null, NaN, infinite or absent feature values (kept out of the statistics)",
            m.missing.clone(),
        );
        r.register(
            "driftwatch_window_samples",
            "Samples in the model's current, not yet full, window",
            m.window_samples.clone(),
        );
        r.register(
            "driftwatch_reference_samples",
            "Rows in the model's reference (0 while collecting warmup)",
            m.reference_samples.clone(),
        );
        r.register(
            "driftwatch_last_window_timestamp_seconds",
            "Unix time the model's last window was scored",
            m.last_window.clone(),
        );
        r.register(
            "driftwatch_webhook_requests",
            "Retrain webhook attempts by outcome (delivered, rejected, server_error, rate_limited, timeout, \
             connection_error)",
            m.webhook_requests.clone(),
        );
        r.register(
            "driftwatch_webhook_outbox_pending",
            "Retrain requests on disk not yet delivered",
            m.webhook_pending.clone(),
        );
        r.register(
            "driftwatch_last_retrain_request_timestamp_seconds",
            "Unix time the model's last retrain request was made durable",
            m.last_retrain.clone(),
        );
        r.register(
            "driftwatch_retrain_decisions",
            "Retrain policy decisions: requested, or suppressed by cooldown or rate_limited",
            m.retrain_decisions.clone(),
        );
        r.register(
            "driftwatch_alertmanager_alerts",
            "Alerts received on /alertmanager, by status and what was done",
            m.alertmanager_alerts.clone(),
        );
        r.register(
            "driftwatch_last_snapshot_timestamp_seconds",
            "Unix time the state snapshot was last written to the data directory",
            m.snapshot_written.clone(),
        );
        r.register(
            "driftwatch_snapshot_failures",
            "State snapshots that could not be written (disk full, permissions); /readyz is 503 until one succeeds",
            m.snapshot_failures.clone(),
        );
        r.register(
            "driftwatch_requests_in_flight",
            "Requests to /ingest and /alertmanager being processed (at most server.max_concurrent_requests)",
            m.in_flight.clone(),
        );
        r.register(
            "driftwatch_connections_open",
            "Open HTTP connections (at most server.max_connections per listener)",
            m.connections_open.clone(),
        );
        r.register(
            "driftwatch_connections_closed",
            "Connections the server closed: evicted (idle longest at max_connections) or header_timeout (no whole request head within server.header_read_timeout_seconds)",
            m.connections_closed.clone(),
        );
        r.register(
            "driftwatch_decode_bytes_reserved",
            "Memory reserved by request bodies being read and decoded (at most server.max_decode_bytes)",
            m.decode_bytes.clone(),
        );
        r.register(
            "anomaly_score",
            "|value - expected| / half-width of the prediction interval for the series' newest point; above 1 is \
             anomalous",
            m.anomaly_score.clone(),
        );
        r.register("anomaly", "1 if the series' newest point scored above 1", m.anomaly.clone());
        // The point itself, so a dashboard can draw a pushed series inside its band (a pulled one is
        // already in Prometheus, but the same gauge keeps one query for both).
        r.register("anomaly_value", "Value of the series' newest point", m.anomaly_value.clone());
        r.register("anomaly_expected", "Expected value of the series' newest point", m.anomaly_expected.clone());
        r.register("anomaly_lower", "Lower bound of the prediction interval", m.anomaly_lower.clone());
        r.register("anomaly_upper", "Upper bound of the prediction interval", m.anomaly_upper.clone());
        r.register(
            "anomaly_ready",
            "1 once the seasonal model scores the series (two longest periods seen); 0 while the median/MAD \
             fallback does",
            m.anomaly_ready.clone(),
        );
        r.register(
            "anomaly_outlier",
            "1 if the series behaves differently from the other series of its query (MAD outlier detector)",
            m.anomaly_outlier.clone(),
        );
        r.register(
            "anomaly_changepoint_timestamp_seconds",
            "Unix time of the last level shift found in the series' history (at the last refit)",
            m.anomaly_changepoint.clone(),
        );
        r.register("driftwatch_anomaly_points", "Series points scored", m.anomaly_points.clone());
        r.register(
            "driftwatch_anomalous_points",
            "Points that scored above 1, per series (also those inside a batch, which the gauges skip)",
            m.anomalous_points.clone(),
        );
        r.register(
            "driftwatch_anomaly_series_rejected",
            "Series refused because the source reached max_series",
            m.anomaly_series_rejected.clone(),
        );
        r.register("driftwatch_anomaly_series", "Series a source holds now", m.anomaly_series.clone());
        r.register(
            "driftwatch_anomaly_series_expired",
            "Series dropped, with their gauges, after idle_seconds without a point",
            m.anomaly_series_expired.clone(),
        );
        r.register("driftwatch_anomaly_refits", "Seasonal refits by outcome (ok, failed)", m.anomaly_refits.clone());
        r.register(
            "driftwatch_anomaly_refit_duration_seconds",
            "Time of one seasonal refit (MSTL + AutoETS + changepoints)",
            m.anomaly_refit_seconds.clone(),
        );
        r.register(
            "driftwatch_anomaly_refits_pending",
            "Refits queued or running; growing means refits fall behind",
            m.anomaly_refits_pending.clone(),
        );
        r.register(
            "driftwatch_pull_requests",
            "Prometheus query_range requests of pull queries by outcome",
            m.pull_requests.clone(),
        );
        r.register(
            "driftwatch_pull_label_names",
            "Label names of pulled series rewritten to be valid here (renamed) or dropped (reserved, empty or clashing), by query",
            m.pull_label_names.clone(),
        );
        r.register(
            "driftwatch_pull_points_dropped",
            "Pulled points not scored, by query and reason (bad_timestamp: out of range or not after the previous point)",
            m.pull_points_dropped.clone(),
        );
        Metrics { registry: Arc::new(r), ..m }
    }

    pub(crate) fn encode(&self) -> String {
        encode(&self.registry)
    }

    pub(crate) fn model(name: &str) -> ModelLabels {
        ModelLabels { model_name: name.to_owned() }
    }

    pub(crate) fn reject(&self, reason: &str) {
        self.rejected.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
    }
}
