#!/usr/bin/env python3
"""Generates deploy/grafana/dashboards/*.json: System Overview, Application Performance,
ML Model Performance, and Drift & Anomaly.

Written as code so that every panel follows the same conventions (one provisioned Prometheus
datasource, `=~"$var"` matchers so "All" works, `$__rate_interval` in rates) and the JSON stays
reviewable. tests/dashboards.rs regenerates them and fails if the committed files differ, then
type-checks each against @grafana/schema and runs every query against a live Prometheus.

    python3 deploy/grafana/make_dashboards.py [--out DIR]
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The uid deploy/grafana/provisioning/datasources/prometheus.yml gives the datasource.
DS = {"type": "prometheus", "uid": "prometheus"}


class Board:
    """Lays panels out left to right on Grafana's 24-column grid."""

    def __init__(self, uid, title, description, variables, tags, source):
        # Which exporter the panels' metrics come from (a panel may say otherwise).
        self.source, self.sources = source, {}
        self.uid, self.title, self.description = uid, title, description
        self.variables, self.tags = variables, tags
        self.panels, self.x, self.y, self.row_h = [], 0, 0, 0

    def row(self, title):
        self.newline()
        self.panels.append({
            "id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": [],
        })
        self.y += 1

    def newline(self):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0

    def panel(self, kind, title, targets, unit="short", w=12, h=8, description="",
              custom=None, overrides=None, thresholds=None, options=None, minimum=None, maximum=None,
              source=None, decimals=None, query=None, transformations=None):
        """`query`: keys added to every target (e.g. an instant query in table format)."""
        if self.x + w > 24:
            self.newline()
        defaults = {"unit": unit}
        if minimum is not None:
            defaults["min"] = minimum
        if maximum is not None:
            defaults["max"] = maximum
        if decimals is not None:
            defaults["decimals"] = decimals
        if thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}]
                + [{"color": c, "value": v} for v, c in thresholds],
            }
        if custom:
            defaults["custom"] = custom
        panel = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "targets": [
                {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend, **(query or {})}
                for i, (expr, legend) in enumerate(targets)
            ],
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {},
        }
        if transformations:
            panel["transformations"] = transformations
        self.panels.append(panel)
        self.sources[str(panel["id"])] = source or self.source
        self.x += w
        self.row_h = max(self.row_h, h)

    def json(self):
        templating = [{
            "name": "datasource", "label": "Datasource", "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"}, "hide": 0, "options": [],
            "refresh": 1, "regex": "", "skipUrlSync": False,
        }]
        for name, label, query in self.variables:
            templating.append({
                "name": name, "label": label, "type": "query", "datasource": DS,
                "query": {"query": query, "refId": "vars"},
                "includeAll": True, "allValue": ".*", "multi": True,
                "current": {"text": ["All"], "value": ["$__all"]}, "options": [],
                "refresh": 2, "regex": "", "sort": 1, "hide": 0, "skipUrlSync": False,
            })
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "timezone": "browser",
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "links": [],
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard",
            }]},
            "templating": {"list": templating},
            "panels": self.panels,
        }


def ts(**kw):
    return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"}, **kw}


def quantiles(histogram, label, variable=None):
    """p50, p95 and p99 of a histogram per `label`, filtered by the dashboard variable `variable`
    (default: the label's name)."""
    selector = f'{label}=~"${variable or label}"'
    return [(f"histogram_quantile({q}, sum by ({label}, le) (rate({histogram}_bucket{{{selector}}}[$__rate_interval])))",
             f"{{{{{label}}}}} p{int(q * 100)}") for q in (0.5, 0.95, 0.99)]


def system_overview():
    b = Board("driftwatch-system", "System Overview",
              "Nodes (node-exporter) and containers (cadvisor) of the stack.",
              [("instance", "Node", "label_values(node_uname_info, instance)")], ["driftwatch", "infrastructure"], "node-exporter")
    b.row("Targets")
    b.panel("stat", "Targets up", [('sum by (job) (up)', "{{job}}")], w=24, h=4, source="prometheus",
            description="Scrape targets answering, per job.", options={"reduceOptions": {"calcs": ["lastNotNull"]}})
    b.row("Nodes")
    b.panel("timeseries", "CPU usage",
            [('100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",instance=~"$instance"}[$__rate_interval])))', "{{instance}}")],
            unit="percent", minimum=0, maximum=100, thresholds=[(85, "red")], options=ts(),
            description="HighCPUUsage fires above 85 % for 5 minutes.")
    b.panel("timeseries", "Memory usage",
            [('100 * (1 - node_memory_MemAvailable_bytes{instance=~"$instance"} / node_memory_MemTotal_bytes{instance=~"$instance"})', "{{instance}}")],
            unit="percent", minimum=0, maximum=100, thresholds=[(90, "red")], options=ts(),
            description="HighMemoryUsage fires above 90 %.")
    b.panel("timeseries", "Disk space used",
            [('100 * (1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs",instance=~"$instance"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs",instance=~"$instance"})', "{{instance}} {{mountpoint}}")],
            unit="percent", minimum=0, maximum=100, thresholds=[(90, "red")], options=ts())
    b.panel("timeseries", "Load (15 min) per core",
            [('node_load15{instance=~"$instance"} / on (instance) count by (instance) (node_cpu_seconds_total{mode="idle",instance=~"$instance"})', "{{instance}}")],
            thresholds=[(2, "red")], options=ts(), description="HighLoadAverage fires above 2 per core.")
    b.panel("timeseries", "Network",
            [('sum by (instance) (rate(node_network_receive_bytes_total{device!="lo",instance=~"$instance"}[$__rate_interval]))', "{{instance}} in"),
             ('-sum by (instance) (rate(node_network_transmit_bytes_total{device!="lo",instance=~"$instance"}[$__rate_interval]))', "{{instance}} out")],
            unit="Bps", options=ts(), w=24)
    b.row("Containers")
    b.source = "cadvisor"
    b.panel("timeseries", "Container CPU",
            [('sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[$__rate_interval]))', "{{name}}")],
            unit="percentunit", options=ts())
    b.panel("timeseries", "Container memory (working set)",
            [('sum by (name) (container_memory_working_set_bytes{name!=""})', "{{name}}")], unit="bytes", options=ts())
    return b


def application_performance():
    b = Board("driftwatch-apps", "Application Performance",
              "HTTP traffic, latency and SLOs of the model servers (http_requests_total, http_request_duration_seconds).",
              [("job", "Job", "label_values(http_requests_total, job)")], ["driftwatch", "applications"], "model-server")
    b.row("Traffic")
    b.panel("timeseries", "Requests per second",
            [('sum by (job, handler) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))', "{{job}} {{handler}}")],
            unit="reqps", options=ts())
    b.panel("timeseries", "Responses by status",
            [('sum by (job, status) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))', "{{job}} {{status}}")],
            unit="reqps", options=ts())
    b.panel("timeseries", "Error ratio (5xx)",
            [('(sum by (job) (rate(http_requests_total{job=~"$job",status=~"5.."}[$__rate_interval])) or 0 * sum by (job) (rate(http_requests_total{job=~"$job"}[$__rate_interval])))'
              ' / sum by (job) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))', "{{job}}")],
            unit="percentunit", minimum=0, thresholds=[(0.05, "red")], options=ts(),
            description="HighErrorRate fires above 5 % for 5 minutes.")
    b.panel("timeseries", "Latency",
            quantiles("http_request_duration_seconds", "job"),
            unit="s", thresholds=[(1, "red")], options=ts(), description="HighResponseTime fires when p95 exceeds 1 s.")
    b.row("SLOs (deploy/prometheus/rules/slo.yml)")
    b.panel("stat", "Availability, 30 days",
            [('1 - slo:sli_error:ratio_rate30d{slo="availability",job=~"$job"}', "{{job}}")],
            unit="percentunit", w=8, options={"reduceOptions": {"calcs": ["lastNotNull"]}})
    b.panel("stat", "Error budget remaining",
            [('slo:error_budget_remaining:ratio{job=~"$job"}', "{{job}} {{slo}}")],
            unit="percentunit", w=8, thresholds=[(0, "red")], options={"reduceOptions": {"calcs": ["lastNotNull"]}})
    b.panel("timeseries", "Burn rate",
            [('slo:burn_rate:ratio_rate1h{job=~"$job"}', "{{job}} {{slo}} 1h"),
             ('slo:burn_rate:ratio_rate6h{job=~"$job"}', "{{job}} {{slo}} 6h")],
            w=8, thresholds=[(14.4, "red")], options=ts(),
            description="1 spends the budget exactly over 30 days; the fast page fires at 14.4 over 1 h and 5 m.")
    b.row("Resources")
    b.panel("timeseries", "Connection pool in use",
            [('db_connection_pool_in_use{job=~"$job"} / db_connection_pool_max{job=~"$job"}', "{{job}} {{pool}}")],
            unit="percentunit", minimum=0, maximum=1, thresholds=[(0.8, "red")], options=ts(), w=24,
            description="DatabaseConnectionPoolHigh fires above 80 % for 5 minutes.")
    return b


# Sources of panels whose metrics driftwatch exports only for models that opt in; the live test's
# demo config enables none of them, so it runs their queries (no errors allowed) but needs no data.
PERFORMANCE = "driftwatch [model.performance]"
MULTIVARIATE = "driftwatch [model.multivariate]"
FLEET = "driftwatch export_bins + prometheus/rules/fleet.yml"


def dashed(suffix):
    """An override that dashes the series whose legend ends in `suffix` (a threshold, an estimate)."""
    return {"matcher": {"id": "byRegexp", "options": f".* {suffix}$"},
            "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]}


def ml_model_performance():
    b = Board("driftwatch-models", "ML Model Performance",
              "Accuracy, volume and latency of the models, with driftwatch's drift verdicts and retrain decisions, "
              "and the quality realised once labels arrive beside CBPE's estimate before they do.",
              [("model", "Model", "label_values(model_drift_detected, model_name)")], ["driftwatch", "ml"], "model-server")
    b.row("Model server")
    b.panel("timeseries", "Accuracy (last window of labelled predictions)",
            [('model_accuracy{model_name=~"$model"}', "{{model_name}}")],
            unit="percentunit", minimum=0, maximum=1, thresholds=[(0.85, "transparent")], options=ts(),
            source="driftwatch",
            description="driftwatch's accuracy of the last [model.performance] window of predictions "
                        "joined to their labels. ModelAccuracyDrop fires below 85 % for 10 minutes.")
    b.panel("timeseries", "Predictions per second",
            [('sum by (model_name) (rate(model_predictions_total{model_name=~"$model"}[$__rate_interval]))', "{{model_name}}")],
            unit="short", options=ts())
    b.panel("timeseries", "Prediction latency",
            quantiles("model_prediction_duration_seconds", "model_name", "model"),
            unit="s", options=ts(), w=24, description="ModelPredictionLatencyHigh fires when p99 exceeds 0.5 s.")
    b.row("driftwatch")
    b.source = "driftwatch"
    b.panel("timeseries", "Drift detected",
            [('model_drift_detected{model_name=~"$model"}', "{{model_name}}")],
            minimum=0, maximum=1, options=ts(), w=8,
            custom={"drawStyle": "line", "lineInterpolation": "stepAfter"},
            description="1 while the last scored window's share of drifted features reached drift_share.")
    b.panel("timeseries", "Samples ingested per second",
            [('sum by (model_name) (rate(driftwatch_samples_ingested_total{model_name=~"$model"}[$__rate_interval]))', "{{model_name}}")],
            options=ts(), w=8)
    b.panel("timeseries", "Windows scored per minute",
            [('sum by (model_name) (rate(driftwatch_windows_scored_total{model_name=~"$model"}[$__rate_interval])) * 60', "{{model_name}}")],
            options=ts(), w=8)
    b.panel("timeseries", "Retrain decisions",
            [('sum by (model_name, decision) (increase(driftwatch_retrain_decisions_total{model_name=~"$model"}[$__rate_interval]))', "{{model_name}} {{decision}}")],
            options=ts(), w=12,
            custom={"drawStyle": "bars", "fillOpacity": 80})
    b.panel("timeseries", "Scoring time per window",
            [('sum by (model_name) (rate(driftwatch_scoring_duration_seconds_sum{model_name=~"$model"}[$__rate_interval])) / sum by (model_name) (rate(driftwatch_scoring_duration_seconds_count{model_name=~"$model"}[$__rate_interval]))', "{{model_name}}")],
            unit="s", options=ts(), w=12)

    b.row("Quality from labels and estimates ([model.performance])")
    b.source = PERFORMANCE
    # One panel per metric, as for the multivariate methods: realised solid, CBPE's estimate dashed,
    # its band dotted. The band is two faint lines rather than a fill: Grafana's fillBelowTo names
    # one series by its exact display name, which "{{model_name}} lower" is not once the legend
    # carries the model (and "All" selects several).
    def perf(metric, name="model_performance"):
        return f'{name}{{model_name=~"$model",metric="{metric}"}}'

    band = [dashed("estimated"),
            {"matcher": {"id": "byRegexp", "options": ".* (lower|upper)$"},
             "properties": [{"id": "custom.lineWidth", "value": 1},
                            {"id": "custom.lineStyle", "value": {"fill": "dot", "dash": [0, 10]}}]}]
    for metric, unit in [("accuracy", "percentunit"), ("f1", "percentunit"), ("roc_auc", "short")]:
        # The demo model server sends predictions and labels: these must show data in the live test.
        b.panel("timeseries", f"Realised vs estimated (CBPE): {metric}",
                [(perf(metric), "{{model_name}} realised"),
                 (perf(metric, "model_performance_estimated"), "{{model_name}} estimated"),
                 (perf(metric, "model_performance_estimated_lower"), "{{model_name}} lower"),
                 (perf(metric, "model_performance_estimated_upper"), "{{model_name}} upper")],
                unit=unit, decimals=3, options=ts(), w=8, overrides=band, source="driftwatch",
                custom={"lineInterpolation": "stepAfter"},
                description=f"Solid: {metric} of the last window of predictions joined to their labels "
                            "(model_performance). Dashed: CBPE's estimate from the probabilities of the last "
                            "window of predictions, before any label (binary models with estimate = true); "
                            "dotted: its band of ± 3 sampling errors. The realised value is of predictions "
                            "made a label delay ago, the estimate of the latest ones: compare the realised "
                            "line with the estimate of that earlier time.")
    b.panel("timeseries", "Regression error",
            [('model_performance{model_name=~"$model",metric=~"mae|rmse"}', "{{model_name}} {{metric}}"),
             (perf("r2"), "{{model_name}} r2")],
            options=ts(), w=12, custom={"lineInterpolation": "stepAfter"},
            overrides=[{"matcher": {"id": "byRegexp", "options": ".* r2$"},
                        "properties": [{"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "custom.axisLabel", "value": "R²"},
                                       {"id": "max", "value": 1}]}],
            description="MAE and RMSE (left axis, in the target's units) and R² (right axis, 1 at best, "
                        "negative when worse than predicting the mean) of the last window of "
                        "predictions joined to their labels, regression models.")
    b.panel("timeseries", "Labels",
            [(f'sum by (model_name) (rate(driftwatch_{counter}_total{{model_name=~"$model"}}[$__rate_interval]))',
              f"{{{{model_name}}}} {legend}")
             for counter, legend in [("labels_joined", "joined"), ("labels_unmatched", "unmatched"),
                                     ("predictions_expired", "expired")]]
            + [('sum by (model_name) (driftwatch_predictions_pending{model_name=~"$model"})', "{{model_name}} pending")],
            options=ts(), w=12, custom={"axisLabel": "per second"}, source="driftwatch",
            overrides=[{"matcher": {"id": "byRegexp", "options": ".* pending$"},
                        "properties": [{"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "custom.axisLabel", "value": "pending"}]}],
            description="Labels per second that found their prediction (joined) or none (unmatched: an "
                        "unknown id, or one whose prediction already expired), predictions per second "
                        "that expired unlabelled (retention_seconds, or pushed out by max_pending), and "
                        "the predictions waiting for their label (right axis).")
    return b




def drift_and_anomaly():
    b = Board("driftwatch-drift", "Drift & Anomaly",
              "Per-feature drift scores and p-values, drifted-feature share, multivariate drift, fleet-wide PSI "
              "against each replica's, anomaly bands of the series, retrain webhook activity.",
              [("model", "Model", "label_values(data_drift_score, model_name)"),
               ("series", "Series", 'label_values(anomaly_score{model_name=~"$model"}, series)')],
              ["driftwatch", "drift", "anomaly"], "driftwatch")
    b.row("Data drift")
    b.panel("timeseries", "Drift score by feature and method",
            [('data_drift_score{model_name=~"$model"}', "{{model_name}} {{feature}} {{method}}")],
            options=ts(),
            description="PSI, KS statistic, Wasserstein, Jensen-Shannon... per feature; compare with data_drift_threshold.")
    b.panel("timeseries", "p-values (KS, chi-squared)",
            [('data_drift_pvalue{model_name=~"$model"}', "{{model_name}} {{feature}} {{method}}")],
            options=ts(), custom={"scaleDistribution": {"type": "log", "log": 10}},
            description="Below the method's threshold (after the multiple-testing correction) the feature drifted.")
    b.panel("timeseries", "Drifted-feature share",
            [('data_drift_share{model_name=~"$model"}', "{{model_name}}")],
            unit="percentunit", minimum=0, maximum=1, options=ts(),
            description="DataDriftDetected fires while model_drift_detected is 1 (this share reached drift_share) for a minute.")
    b.panel("state-timeline", "Drifted features",
            [('data_drift_detected{model_name=~"$model"}', "{{model_name}} {{feature}}")],
            thresholds=[(1, "red")], options={"showValue": "never"})

    b.row("Multivariate drift ([model.multivariate])")
    b.source = MULTIVARIATE
    # One panel per method, the score solid and its threshold dashed, rather than one panel of
    # score / threshold. The ratio would put the three methods on one axis with a line at 1, but it
    # misreads two of them: mmd's score and threshold are both unbiased MMD² near 0 (the score is
    # often negative on an unchanged stream), so the ratio swings by orders of magnitude and flips
    # sign on noise; and pca also flags a window below its reference band, which a ratio under 1
    # shows as healthy. The raw scores are also in units an SRE can read at a glance (a classifier
    # AUC of 0.5: window and reference look alike) with the line they have to cross right there.
    # Whether a method flagged the window, whatever the reason, is the state timeline under them.
    def mv(metric, method):
        return f'{metric}{{model_name=~"$model",method="{method}"}}'

    for method, title, description in [
        ("pca", "PCA reconstruction error",
         "Mean distance of the window's rows from their reconstruction by the reference's principal "
         "components. Dashed: the upper bound of the reference chunks' band (mean + sigmas × SD); a "
         "window below the band's lower bound, when it has one, is flagged too."),
        ("classifier", "Classifier two-sample AUC",
         "Cross-validated ROC AUC of boosted trees telling window rows from reference rows: 0.5 when "
         "they are alike. Dashed: auc_threshold; flagged above it."),
    ]:
        b.panel("timeseries", title,
                [(mv("model_multivariate_drift_score", method), "{{model_name}} %s" % method),
                 (mv("model_multivariate_drift_threshold", method), "{{model_name}} threshold")],
                options=ts(), w=8, overrides=[dashed("threshold")], description=description)
    b.panel("timeseries", "MMD² and p-value",
            [(mv("model_multivariate_drift_score", "mmd"), "{{model_name}} mmd"),
             (mv("model_multivariate_drift_threshold", "mmd"), "{{model_name}} threshold"),
             (mv("model_multivariate_drift_pvalue", "mmd"), "{{model_name}} p-value")],
            options=ts(), w=8,
            overrides=[dashed("threshold"),
                       {"matcher": {"id": "byRegexp", "options": ".* p-value$"},
                        "properties": [{"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "min", "value": 0}, {"id": "max", "value": 1}]}],
            description="Unbiased MMD² of the window against the reference sample; dashed: the permuted "
                        "MMD² at mmd_alpha. A p-value (right axis) below mmd_alpha flags the window: at "
                        "0.05, one window in twenty of an unchanged stream is flagged by design.")
    b.panel("state-timeline", "Multivariate drift detected",
            [('model_multivariate_drift_detected{model_name=~"$model"}', "{{model_name}} {{method}}")],
            thresholds=[(1, "red")], options={"showValue": "never"}, w=24, h=6,
            description="1 while the method flagged the last scored window. It does not change "
                        "model_drift_detected (the per-feature decision); the retrain webhook acts on it "
                        "only with the multivariate trigger.")

    b.row("Fleet drift (export_bins, deploy/prometheus/rules/fleet.yml)")
    b.source = FLEET
    fleet = 'model_feature:data_drift_psi:fleet{model_name=~"$model"}'
    # FleetDataDrift's threshold, kept to the features that have a fleet PSI.
    threshold = ('max by (model_name, feature) (data_drift_threshold{method="psi",model_name=~"$model"})'
                 f" and on (model_name, feature) {fleet}")
    b.panel("timeseries", "Fleet PSI by feature",
            [(fleet, "{{model_name}} {{feature}}"),
             (threshold, "{{model_name}} {{feature}} threshold")],
            options=ts(), h=10, overrides=[dashed("threshold")],
            description="PSI of every replica's last window taken together (bin counts summed over "
                        "replicas). Dashed: the feature's PSI threshold; FleetDataDrift fires at or above "
                        "it for 5 minutes. Not meaningful while FleetReferenceMismatch fires.")
    # One row per feature, one column per replica, next to the fleet's PSI and the threshold: a
    # replica far above the fleet (and the others) is that replica's small-window noise, or a slice
    # of traffic of its own; one query so that the matrix has a single Value field.
    replicas = ('max by (model_name, feature, instance) (data_drift_score{method="psi",model_name=~"$model"})'
                f" and on (model_name, feature) {fleet}")
    b.panel("table", "Fleet PSI and each replica's own",
            [(f'label_join(label_replace({fleet}, "instance", "fleet", "", "")'
              f' or label_replace({threshold}, "instance", "threshold", "", "")'
              f' or {replicas}, "model_feature", " / ", "model_name", "feature")', "")],
            decimals=3, h=10, query={"instant": True, "range": False, "format": "table"},
            transformations=[
                {"id": "groupingToMatrix",
                 "options": {"rowField": "model_feature", "columnField": "instance", "valueField": "Value"}},
                {"id": "organize",
                 "options": {"excludeByName": {}, "renameByName": {"model_feature\\instance": "model / feature"},
                             "indexByName": {"model_feature\\instance": 0, "fleet": 1, "threshold": 2}}},
            ],
            options={"showHeader": True, "sortBy": [{"displayName": "model / feature", "desc": False}]},
            description="Last window's PSI: the fleet's, the threshold, then each replica's (instance) "
                        "own. The fleet's PSI is at most the count-weighted mean of the replicas': one "
                        "replica above the threshold with the fleet below it is that replica alone. A "
                        "replica that stopped receiving traffic keeps its last window, here and in the sum.")

    b.source = "driftwatch"
    b.row("Series anomalies")
    band = "{{model_name}} {{series}}"
    b.panel("timeseries", "Series and expected band",
            [('anomaly_value{model_name=~"$model",series=~"$series"}', f"{band} value"),
             ('anomaly_expected{model_name=~"$model",series=~"$series"}', f"{band} expected"),
             ('anomaly_lower{model_name=~"$model",series=~"$series"}', f"{band} lower"),
             ('anomaly_upper{model_name=~"$model",series=~"$series"}', f"{band} upper")],
            options=ts(), w=24, h=10,
            # The band's bounds are faint dotted lines: fillBelowTo names one series by its exact
            # display name, which "{{model_name}} {{series}} lower" is not, so a fill never drew.
            overrides=[
                {"matcher": {"id": "byRegexp", "options": ".* (lower|upper)$"},
                 "properties": [{"id": "custom.lineWidth", "value": 1},
                                {"id": "custom.lineStyle", "value": {"fill": "dot", "dash": [2, 6]}}]},
                {"matcher": {"id": "byRegexp", "options": ".* expected$"},
                 "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]},
            ],
            description="The band is the calibrated prediction interval the newest point was scored against.")
    b.panel("timeseries", "Anomaly score",
            [('anomaly_score{model_name=~"$model",series=~"$series"}', band)],
            thresholds=[(1, "red")], options=ts(),
            custom={"thresholdsStyle": {"mode": "line"}},
            description="|value - expected| / half-width of the interval; SeriesAnomalous fires above 1.")
    b.panel("timeseries", "Anomalous points and model readiness",
            [('sum by (model_name, series) (increase(driftwatch_anomalous_points_total{model_name=~"$model",series=~"$series"}[$__rate_interval]))', f"{band} anomalous points"),
             ('anomaly_ready{model_name=~"$model",series=~"$series"}', f"{band} seasonal model ready")],
            options=ts(),
            description="ready is 0 while the median/MAD fallback scores the series (before two longest periods).")
    b.row("Retrain webhook")
    b.panel("timeseries", "Webhook requests",
            [('sum by (model_name, outcome) (increase(driftwatch_webhook_requests_total{model_name=~"$model"}[$__rate_interval]))', "{{model_name}} {{outcome}}"),
             ('driftwatch_webhook_outbox_pending', "outbox pending")],
            options=ts(), w=12, custom={"drawStyle": "bars", "fillOpacity": 80},
            description="RetrainWebhookFailing fires on failed deliveries; the outbox retries them.")
    b.panel("stat", "Last retrain request",
            [('driftwatch_last_retrain_request_timestamp_seconds{model_name=~"$model"} * 1000', "{{model_name}}")],
            unit="dateTimeFromNow", w=12, options={"reduceOptions": {"calcs": ["lastNotNull"]}})
    return b


def main():
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else HERE
    os.makedirs(os.path.join(out, "dashboards"), exist_ok=True)
    sources = {}
    for make in (system_overview, application_performance, ml_model_performance, drift_and_anomaly):
        b = make()
        board = b.json()
        name = board["uid"].removeprefix("driftwatch-") + ".json"
        with open(os.path.join(out, "dashboards", name), "w") as f:
            json.dump(board, f, indent=2)
            f.write("\n")
        sources[name] = b.sources
    # Which exporter each panel's metrics come from: tests/dashboards.rs requires data from the
    # driftwatch and model-server panels (it runs both, with traffic), and no query errors from any
    # (PERFORMANCE, MULTIVARIATE and FLEET panels: driftwatch, for models that opt in).
    with open(os.path.join(out, "panel-sources.json"), "w") as f:
        json.dump(sources, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
