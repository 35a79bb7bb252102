//! deploy/ checked by the tools its users run: `promtool check config` / `check rules` /
//! `test rules` (every alert and recording rule must appear in a unit test), `amtool check-config`
//! and one `amtool config routes test` assertion per route, and the generated SLO rules must be what
//! their generator writes. The core Kubernetes manifests pass `kubernetes-validate --strict`, the
//! KServe InferenceService passes `validate_kserve.py` (KServe's own published types, strictly; it
//! must also reject a misspelled key, a wrong type and a missing required field), the driftwatch
//! config in the ConfigMap validates, and `docker-compose config -q` accepts the compose file.

use std::path::Path;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{program} (Debian's prometheus / prometheus-alertmanager) is installed: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

fn files(dir: &str, suffix: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    v.sort();
    v
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    run("promtool", &["check", "config", "deploy/prometheus/prometheus.yml"]);
    let rules = files("deploy/prometheus/rules", ".yml");
    assert_eq!(rules.len(), 5, "{rules:?}");
    let args: Vec<&str> = ["check", "rules"].into_iter().chain(rules.iter().map(String::as_str)).collect();
    run("promtool", &args);
}

#[test]
fn every_rule_has_a_promtool_unit_test_and_they_pass() {
    let tests = files("deploy/prometheus/tests", ".test.yml");
    let args: Vec<&str> = ["test", "rules"].into_iter().chain(tests.iter().map(String::as_str)).collect();
    let out = run("promtool", &args);
    assert_eq!(out.matches("SUCCESS").count(), tests.len(), "{out}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let test_text: String = tests.iter().map(|t| std::fs::read_to_string(root.join(t)).unwrap()).collect();
    let mut untested = Vec::new();
    let mut count = 0;
    for file in files("deploy/prometheus/rules", ".yml") {
        for line in std::fs::read_to_string(root.join(&file)).unwrap().lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix("- alert: ") {
                count += 1;
                // An alert is tested when some test names it (and every alert test here also has a
                // case where it must not fire).
                if !test_text.contains(&format!("alertname: {name}\n")) {
                    untested.push(name.to_owned());
                }
            } else if let Some(name) = line.strip_prefix("- record: ") {
                count += 1;
                // Recording rules feed the burn-rate alerts; each window's record is asserted on
                // directly or through the alert built on it.
                let used = test_text.contains(name)
                    || ["1h", "5m", "6h", "30m", "1d", "2h", "3d"]
                        .iter()
                        .any(|w| name.ends_with(w) && test_text.contains("SLOErrorBudgetBurn"));
                if !used {
                    untested.push(name.to_owned());
                }
            }
        }
    }
    assert!(count > 50, "{count} rules");
    assert!(untested.is_empty(), "rules without a unit test: {untested:?}");
}

/// Runs `python3 <script> <out>` and asserts `out` equals the committed `file`.
fn assert_generated(script: &str, out: &Path, file: &str) {
    run("python3", &[script, out.to_str().unwrap()]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(root.join(file)).unwrap(),
        "{file} is stale: run python3 {script}"
    );
}

#[test]
fn generated_slo_rules_are_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    assert_generated(
        "deploy/prometheus/make_slo_rules.py",
        &dir.path().join("slo.yml"),
        "deploy/prometheus/rules/slo.yml",
    );
}

#[test]
fn alertmanager_config_passes_amtool_and_routes_as_designed() {
    let config = "--config.file=deploy/alertmanager/alertmanager.yml";
    run("amtool", &["check-config", "deploy/alertmanager/alertmanager.yml"]);
    // (labels, receivers in order): one case per route, plus the fall-through.
    let cases: &[(&[&str], &str)] = &[
        (
            &["alertname=DataDriftDetected", "team=ml-platform", "severity=warning", "model_name=churn"],
            "driftwatch-retrain,slack-ml-platform",
        ),
        (
            &["alertname=ModelAccuracyDrop", "team=ml-platform", "severity=critical", "model_name=churn"],
            "driftwatch-retrain,pagerduty-oncall,slack-ml-platform",
        ),
        (&["alertname=DriftwatchDown", "team=ml-platform", "severity=critical"], "pagerduty-oncall,slack-ml-platform"),
        (&["alertname=HighPredictionVolume", "team=ml-platform", "severity=info"], "email-ml-platform"),
        (&["alertname=RetrainWebhookFailing", "team=ml-platform", "severity=warning"], "slack-ml-platform"),
        (&["alertname=NodeDown", "team=sre", "severity=critical"], "pagerduty-oncall,slack-sre"),
        (&["alertname=HighCPUUsage", "team=sre", "severity=warning"], "slack-sre"),
        (&["alertname=HighErrorRate", "team=backend", "severity=critical"], "pagerduty-oncall,slack-backend"),
        (&["alertname=SLOErrorBudgetBurnSlow", "team=backend", "severity=warning"], "slack-backend"),
        (&["alertname=SomethingUnowned", "severity=warning"], "email-oncall"),
    ];
    for (labels, receivers) in cases {
        let verify = format!("--verify.receivers={receivers}");
        let args: Vec<&str> =
            ["config", "routes", "test", config, verify.as_str()].into_iter().chain(labels.iter().copied()).collect();
        run("amtool", &args);
    }
    // And a wrong expectation fails, so the assertions above can fail too.
    let wrong = Command::new("amtool")
        .args([
            "config",
            "routes",
            "test",
            config,
            "--verify.receivers=slack-sre",
            "alertname=DataDriftDetected",
            "team=ml-platform",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(!wrong.success());
}

#[test]
fn kubernetes_manifests_pass_kubernetes_validate_strict() {
    for f in ["configmap", "secret", "deployment", "service", "hpa", "networkpolicy-kserve"] {
        let path = format!("deploy/kubernetes/{f}.yaml");
        // As a module: a console script installed by pip may not be on PATH (pyenv shims).
        let out = run("python3", &["-m", "kubernetes_validate", "--strict", &path]);
        assert!(out.contains("passed"), "{out}");
    }
}

/// Runs deploy/kubernetes/validate_kserve.py on `path`: (exit code, stdout and stderr). It reads
/// KServe's types from the wheel `$DRIFTWATCH_KSERVE_WHEEL` names, which tests/run.sh downloads.
fn validate_kserve(path: &str) -> (Option<i32>, String) {
    let wheel = std::env::var("DRIFTWATCH_KSERVE_WHEEL").unwrap_or_else(|_| {
        panic!(
            "DRIFTWATCH_KSERVE_WHEEL is not set: it names the kserve wheel validate_kserve.py reads \
             KServe's types from; bash tests/run.sh downloads it (python3 -m pip download --no-deps \
             kserve==0.16.0 -d ~/.cache/driftwatch-pip) and sets it"
        )
    });
    assert!(Path::new(&wheel).is_file(), "DRIFTWATCH_KSERVE_WHEEL={wheel} is not a file");
    let out = Command::new("python3")
        .args(["deploy/kubernetes/validate_kserve.py", path])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// kubernetes-validate has no schema for the CRD (it warns and exits 0), so the InferenceService is
/// checked against the types of KServe's SDK, which are generated from the CRD's Go types.
#[test]
fn the_kserve_inferenceservice_passes_kserves_own_types_strictly() {
    let (code, out) = validate_kserve("deploy/kubernetes/inferenceservice.yaml");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("deploy/kubernetes/inferenceservice.yaml: InferenceService/churn passed"), "{out}");
    let yaml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/inferenceservice.yaml"))
            .unwrap();
    // What driftwatch needs of it: the logger posts every event to driftwatch's Service.
    assert!(yaml.contains("url: http://churn-model.ml.svc:9184/ingest/kserve\n"), "{yaml}");
    assert!(yaml.contains("mode: all\n") && yaml.contains("name: churn\n"), "{yaml}");
}

/// The validator can fail, at the right place: each broken copy exits 1 (errors, not a missing
/// wheel, which is 2) and names the JSON path; the unbroken copy passes.
#[test]
fn the_kserve_validator_rejects_a_misspelled_key_a_wrong_type_and_a_missing_model_format() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let good = std::fs::read_to_string(root.join("deploy/kubernetes/inferenceservice.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // (file, text replaced, replacement, what the error must say)
    let cases = [
        ("unchanged", "", "", "InferenceService/churn passed"),
        ("loger", "    logger:\n", "    loger:\n", "$.spec.predictor.loger: unknown field (V1beta1PredictorSpec)"),
        ("urll", "      url: ", "      urll: ", "$.spec.predictor.logger.urll: unknown field (V1beta1LoggerSpec)"),
        (
            "wrong-type",
            "minReplicas: 1\n",
            "minReplicas: \"1\"\n",
            "$.spec.predictor.minReplicas: '1' is not of type 'integer'",
        ),
        (
            "no-model-format",
            "      modelFormat:\n        name: sklearn\n",
            "",
            "$.spec.predictor.model.modelFormat: required field missing (V1beta1ModelSpec)",
        ),
        // Inside a Kubernetes type: kubernetes-validate's strict definitions, not KServe's.
        (
            "k8s-typo",
            "requests: {",
            "requets: {",
            "$.spec.predictor.model.resources.requets: unknown field (io.k8s.api.core.v1.ResourceRequirements)",
        ),
    ];
    for (name, from, to, expect) in cases {
        let text = if from.is_empty() {
            good.clone()
        } else {
            assert_eq!(good.matches(from).count(), 1, "{name}: {from:?} occurs once in the manifest");
            good.replace(from, to)
        };
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        let (code, out) = validate_kserve(path.to_str().unwrap());
        assert_eq!(code, Some(if name == "unchanged" { 0 } else { 1 }), "{name}:\n{out}");
        assert!(out.contains(expect), "{name}: expected {expect:?} in:\n{out}");
        if name != "unchanged" {
            assert_eq!(out.lines().count(), 1, "{name}: exactly one error:\n{out}");
        }
    }
}

#[test]
fn the_configmaps_driftwatch_config_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(root.join("deploy/kubernetes/configmap.yaml")).unwrap();
    let toml: String = yaml
        .split_once("churn.toml: |\n")
        .unwrap()
        .1
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    for name in ["ingest-token", "alertmanager-token", "webhook-secret"] {
        std::fs::write(dir.path().join(name), "s3cret\n").unwrap();
    }
    let toml = toml.replace("/etc/driftwatch-secrets/", &format!("{}/", dir.path().display()));
    let config = driftwatch::config::Sources::from_str(&toml, dir.path()).unwrap().validate().unwrap();
    assert_eq!(config.models[0].name, "churn");
    assert!(config.models[0].retrain.as_ref().is_some_and(|r| r.signed && r.for_windows == 3));
    assert!(config.alertmanager.is_some());
}

#[test]
fn compose_file_passes_docker_compose_config() {
    run("docker-compose", &["-f", "deploy/docker-compose.monitoring.yml", "config", "-q"]);
}

#[test]
fn compose_stack_runs_the_model_server_and_provisions_grafana() {
    let compose = run("docker-compose", &["-f", "deploy/docker-compose.monitoring.yml", "config"]);
    assert!(compose.contains("- model-server"), "{compose}");
    assert!(compose.contains("http://driftwatch:9184"), "the model server posts to driftwatch");
    assert!(compose.contains("/etc/grafana/provisioning"), "Grafana provisioning is mounted");
    let provider = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/provisioning/dashboards/driftwatch.yml"),
    )
    .unwrap();
    assert!(provider.contains("path: /etc/grafana/dashboards") && compose.contains("/etc/grafana/dashboards"));
}

/// values.yaml is what make_values.py writes, and what it embeds is deploy/'s files: the rule groups
/// pass promtool, the Alertmanager config passes amtool, the dashboards are the committed ones.
#[test]
fn kube_prometheus_stack_values_embed_deploys_rules_routes_and_dashboards() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("values.yaml");
    assert_generated("deploy/kubernetes/make_values.py", &out, "deploy/kubernetes/values.yaml");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Split the chart's sections back into files (PyYAML comes with kubernetes-validate).
    let split = format!(
        r#"
import json, yaml, pathlib, sys
d = pathlib.Path({dir:?})
v = yaml.safe_load(open({values:?}))
for name, rules in v["additionalPrometheusRulesMap"].items():
    (d / (name + ".rules.yml")).write_text(yaml.safe_dump(rules))
(d / "alertmanager.yml").write_text(yaml.safe_dump(v["alertmanager"]["config"]))
for name, board in v["grafana"]["dashboards"]["driftwatch"].items():
    assert json.loads(board["json"]) == json.load(open({root:?} + "/deploy/grafana/dashboards/" + name + ".json")), name
print(len(v["additionalPrometheusRulesMap"]), len(v["grafana"]["dashboards"]["driftwatch"]))
assert any(c["job_name"] == "kubernetes-pods" for c in v["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"])
"#,
        dir = dir.path(),
        values = out,
        root = root,
    );
    let counts = run("python3", &["-c", &split]);
    assert_eq!(counts.trim(), "5 4", "five rule files and four dashboards");
    let mut args = vec!["check".to_owned(), "rules".to_owned()];
    for f in files(dir.path().to_str().unwrap(), ".rules.yml") {
        args.push(f);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run("promtool", &args);
    // amtool reads the secret files the config names; they live where the chart mounts them.
    let am = dir.path().join("alertmanager.yml");
    let text = std::fs::read_to_string(&am).unwrap();
    assert!(text.contains("http://churn-model.ml.svc:9184/alertmanager"), "{text}");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let text = text.replace("/etc/alertmanager/secrets/alertmanager-driftwatch", secrets.to_str().unwrap());
    for name in ["smtp-password", "slack-webhook-url", "pagerduty-routing-key", "driftwatch-token"] {
        std::fs::write(secrets.join(name), "http://127.0.0.1:9/x").unwrap();
    }
    std::fs::write(&am, text).unwrap();
    run("amtool", &["check-config", am.to_str().unwrap()]);
}
