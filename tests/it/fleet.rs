//! Fleet-wide drift end to end, with real processes: three `driftwatch serve` replicas each score
//! their own third of the traffic and export their last window's bin counts, a real Prometheus
//! (Debian's, on loopback) scrapes them and evaluates `deploy/prometheus/rules/fleet.yml`, and a
//! fourth sidecar that is not scraped scores all the traffic as one window. The rules' fleet PSI
//! and Jensen–Shannon distance must be that fourth sidecar's scores: that is the promise the rules
//! make (deploy/README.md, "Fleet drift"), and the promtool unit tests only check the rules against
//! numbers computed in Python, not against the sidecar's own binning, labels and formatting.

use crate::support::process;
use crate::support::server::sample;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use process::{Guard, free_port, spawn_prometheus, start_serve};

const MODEL: &str = "fleet";
const REPLICAS: usize = 3;
const WINDOW: usize = 300;
const FEATURES: [&str; 2] = ["x", "color"];

/// Prometheus evaluates the rules in float64 like driftwatch, with the same divisions and floors,
/// but sums the bins in its own order and takes `ln` from Go's math library: the results may
/// differ in the last bits, nowhere near a relative 1e-9.
const TOLERANCE: f64 = 1e-9;

fn config(window: usize) -> String {
    format!(
        r#"
[[model]]
name = "{MODEL}"
version = "1"
reference = "reference.csv"
window = {window}
export_bins = true

[[model.features]]
name = "x"
methods = ["psi", "ks", "jensenshannon"]

[[model.features]]
name = "color"
methods = ["psi", "chi2", "jensenshannon"]
"#
    )
}

/// `color` for row `k` of every 20 rows, from cumulative counts over red, green, blue, yellow and
/// then purple (purple for what is left, a category the reference has never seen).
fn color(k: usize, cumulative: [usize; 4]) -> &'static str {
    let i = cumulative.iter().position(|&c| k < c).unwrap_or(4);
    ["red", "green", "blue", "yellow", "purple"][i]
}

/// 2,000 rows: x spread evenly over [0, 10), color 40/30/20/10 % red/green/blue/yellow.
fn write_reference(dir: &Path) {
    let mut csv = String::from("x,color\n");
    for i in 0..2000 {
        let x = ((i * 37) % 2000) as f64 / 200.0;
        csv += &format!("{x},{}\n", color(i % 20, [8, 14, 18, 20]));
    }
    std::fs::write(dir.join("reference.csv"), csv).unwrap();
}

/// 900 rows whose drift grows slice by slice (slice s = rows 300·s .. 300·(s+1)), so that each
/// replica's window scores differently: x is spread over [0, 10) in every slice and shifted by
/// 0.8·s; color keeps the reference's shares in slice 0, then moves towards blue and yellow and
/// takes on purple, unseen in the reference (1 in 20 rows in slice 1, 3 in slice 2).
fn dataset() -> (Vec<f64>, Vec<&'static str>) {
    let shares = [[8, 14, 18, 20], [5, 10, 15, 19], [2, 6, 12, 17]];
    (0..REPLICAS * WINDOW)
        .map(|j| {
            let (s, k) = (j / WINDOW, j % WINDOW);
            let x = ((k * 7) % WINDOW) as f64 / 30.0 + 0.8 * s as f64;
            (x, color(k % 20, shares[s]))
        })
        .unzip()
}

async fn query(client: &reqwest::Client, prom: &str, q: &str) -> Vec<Value> {
    let url = format!("http://{prom}/api/v1/query");
    let Ok(resp) = client.get(&url).query(&[("query", q)]).send().await else { return vec![] };
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The fleet series `record` per feature, once it comes from a rule evaluation that saw every
/// replica's window: the replicas had their data before Prometheus started, so the fleet's count
/// is 900 exactly when every replica has been scraped, and `record` must be no older than the
/// latest evaluation with that count (before the first scrape of a replica, a feature's fleet
/// window is only the others'; an instant query could otherwise read such an evaluation's PSI).
/// `timestamp()` is taken of plain selectors only: of a computed vector it is the query's time.
async fn fleet_values(client: &reqwest::Client, prom: &str, record: &str) -> Vec<(String, f64)> {
    let sel = format!("{{model_name=\"{MODEL}\"}}");
    let total = REPLICAS * WINDOW;
    let count = "model_feature:data_drift_window_count:fleet";
    let q = format!(
        "{record}{sel} and on (model_name, feature) (timestamp({record}{sel}) >= on (model_name, feature) \
         (timestamp({count}{sel}) and on (model_name, feature) {count}{sel} == {total}))"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = query(client, prom, &q).await;
        if r.len() == FEATURES.len() {
            return r
                .iter()
                .map(|s| {
                    let feature = s["metric"]["feature"].as_str().unwrap().to_owned();
                    (feature, s["value"][1].as_str().unwrap().parse().unwrap())
                })
                .collect();
        }
        if Instant::now() >= deadline {
            let latest = query(client, prom, &format!("{record}{sel}")).await;
            let counts = query(client, prom, &format!("{count}{sel}")).await;
            let bins = query(client, prom, &format!("data_drift_window_bin_count{sel}")).await;
            panic!(
                "Prometheus never returned {record} for {FEATURES:?} over all {total} rows:\n\
                 latest {latest:?}\nfleet counts {counts:?}\nreplicas' bin counts {bins:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn ingest(client: &reqwest::Client, port: u16, x: &[f64], color: &[&str]) {
    let body = json!({"model": MODEL, "features": {"x": x, "color": color}});
    let resp = client.post(format!("http://127.0.0.1:{port}/ingest")).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["windows_scored"], 1, "{v}");
}

async fn exposition(client: &reqwest::Client, port: u16) -> String {
    client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap()
}

fn score(exposition: &str, feature: &str, method: &str) -> f64 {
    let labels = [("model_name", MODEL), ("feature", feature), ("method", method)];
    sample(exposition, "data_drift_score", &labels)
        .unwrap_or_else(|| panic!("no data_drift_score for {feature}/{method}:\n{exposition}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_psi_from_prometheus_equals_driftwatch_psi_of_the_union_of_the_replicas_windows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_reference(d);
    std::fs::write(d.join("replica.toml"), config(WINDOW)).unwrap();
    std::fs::write(d.join("union.toml"), config(REPLICAS * WINDOW)).unwrap();
    let (x, color) = dataset();
    let client = reqwest::Client::new();

    let mut replicas: Vec<(u16, Guard)> = Vec::new();
    for i in 0..REPLICAS {
        let port = free_port();
        let data = d.join(format!("data-{i}"));
        replicas.push((port, start_serve(&d.join("replica.toml"), &data, port, "/readyz").await));
    }
    let union_port = free_port();
    let _union = start_serve(&d.join("union.toml"), &d.join("data-union"), union_port, "/readyz").await;

    // Every replica gets its window before Prometheus starts, so the only partial fleet Prometheus
    // can see is a replica not scraped yet (fleet_values waits that out).
    for (i, (port, _)) in replicas.iter().enumerate() {
        let rows = i * WINDOW..(i + 1) * WINDOW;
        ingest(&client, *port, &x[rows.clone()], &color[rows]).await;
    }
    ingest(&client, union_port, &x, &color).await;

    let targets: Vec<String> = replicas.iter().map(|(port, _)| format!("'127.0.0.1:{port}'")).collect();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/rules/fleet.yml");
    let prom = format!("127.0.0.1:{}", free_port());
    let prom_config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - '{rules}'\n\
         scrape_configs:\n  - job_name: driftwatch\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    std::fs::write(d.join("prometheus.yml"), prom_config).unwrap();
    let _prom = spawn_prometheus(&d.join("prometheus.yml"), d, &prom);

    let union = exposition(&client, union_port).await;
    let mut own = Vec::new();
    for (port, _) in &replicas {
        own.push(exposition(&client, *port).await);
    }

    let fleet_psi = fleet_values(&client, &prom, "model_feature:data_drift_psi:fleet").await;
    let fleet_js = fleet_values(&client, &prom, "model_feature:data_drift_jensenshannon:fleet").await;
    for (feature, fleet) in &fleet_psi {
        let want = score(&union, feature, "psi");
        assert!(close(*fleet, want), "{feature}: fleet PSI {fleet} from Prometheus, union's PSI {want}");
        eprintln!("{feature}: fleet PSI {fleet}, union's {want}");

        // The data make the fleet's PSI differ from what a rule combining the replicas' scores
        // instead of their counts would give (any one replica's, their sum, their mean).
        let replicas: Vec<f64> = own.iter().map(|e| score(e, feature, "psi")).collect();
        eprintln!("{feature}: replicas' own PSIs {replicas:?}");
        assert!(replicas.iter().any(|r| !close(*r, *fleet)), "{feature}: {replicas:?} vs {fleet}");
        let sum: f64 = replicas.iter().sum();
        assert!(!close(sum, *fleet), "{feature}: the sum of the replicas' PSIs {sum} is the fleet's {fleet}");
        let mean = sum / replicas.len() as f64;
        assert!(!close(mean, *fleet), "{feature}: the mean of the replicas' PSIs {mean} is the fleet's {fleet}");
    }
    for (feature, fleet) in &fleet_js {
        let want = score(&union, feature, "jensenshannon");
        assert!(close(*fleet, want), "{feature}: fleet JS {fleet} from Prometheus, union's JS {want}");
        eprintln!("{feature}: fleet JS {fleet}, union's {want}");
    }
}
