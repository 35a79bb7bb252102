//! Series pushed to /ingest: scored exactly as the detector scores them on its own (the replay
//! path), in every body format; bad series refused whole with the field named; late points ignored.

use crate::support::server as support;

use axum::http::StatusCode;
use driftwatch_stats::anomaly::detector::Outcome;
use driftwatch_stats::anomaly::{DetectorSettings, SeriesDetector};
use serde_json::{Value, json};
use support::{call, metrics, post_json, sample, setup};

const CONFIG: &str = r#"
[server]
max_body_bytes = 1048576
refit_threads = 0

[[model]]
name = "churn"
reference = "reference.csv"
window = 50

[model.anomaly]
step_seconds = 60
periods = [12]
refit_every = 6
max_series = 3
"#;

const T0: f64 = 1_732_500_000.0;

fn settings() -> DetectorSettings {
    DetectorSettings { step_seconds: Some(60.0), periods: Some(vec![12]), refit_every: 6, ..Default::default() }
}

/// A 12-step season with deterministic wiggle; `spike_at` adds 30 at that index.
fn series(n: usize, spike_at: Option<usize>) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let v = 5.0 + 2.0 * (i as f64 * std::f64::consts::PI / 6.0).sin() + 0.1 * ((i * 7919) % 17) as f64;
            (T0 + 60.0 * i as f64, v + if Some(i) == spike_at { 30.0 } else { 0.0 })
        })
        .collect()
}

/// The detector on its own, refits inline after each point (what `replay` does).
fn expected_last(points: &[(f64, f64)]) -> driftwatch_stats::anomaly::Observation {
    let s = settings();
    let mut d = SeriesDetector::new(&s, 0);
    let mut last = None;
    for &(t, v) in points {
        if let Outcome::Scored(o) = d.push(&s, t, v) {
            last = Some(o);
        }
        if let Some(job) = d.take_fit_job(&s) {
            d.finish_fit(job.run());
        }
    }
    last.unwrap()
}

fn json_body(name: &str, points: &[(f64, f64)]) -> Value {
    let ts: Vec<f64> = points.iter().map(|p| p.0).collect();
    let vs: Vec<f64> = points.iter().map(|p| p.1).collect();
    json!({"model": "churn", "series": {name: {"timestamps": ts, "values": vs}}})
}

fn assert_gauges(exposition: &str, series: &str, o: &driftwatch_stats::anomaly::Observation) {
    let l = [("model_name", "churn"), ("series", series)];
    for (name, want) in [
        ("anomaly_score", o.score),
        ("anomaly_value", o.value),
        ("anomaly_expected", o.expected),
        ("anomaly_lower", o.lower),
        ("anomaly_upper", o.upper),
        ("anomaly", if o.anomalous() { 1.0 } else { 0.0 }),
    ] {
        let got = sample(exposition, name, &l).unwrap_or_else(|| panic!("{name} missing"));
        assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "{name}: got {got}, want {want}");
    }
}

#[tokio::test]
async fn pushed_series_score_exactly_as_the_detector_alone_in_json_ndjson_and_arrow() {
    let points = series(60, Some(59));
    let want = expected_last(&points);
    assert!(want.ready && want.score > 3.0, "the spike is scored by the seasonal model: {want:?}");

    // JSON in uneven batches.
    let (_d1, state) = setup(CONFIG);
    for chunk in [&points[..7], &points[7..30], &points[30..]] {
        let (s, body) = post_json(&state, &json_body("latency_p95", chunk)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["series"]["scored"].as_u64(), Some(chunk.len() as u64));
    }
    let m = metrics(&state).await;
    assert_gauges(&m, "latency_p95", &want);
    assert_eq!(sample(&m, "anomaly_ready", &[("series", "latency_p95")]), Some(1.0));
    assert_eq!(sample(&m, "driftwatch_anomaly_points_total", &[("source", "churn")]), Some(60.0));

    // NDJSON, series lines mixed with feature rows.
    let (_d2, state) = setup(CONFIG);
    let mut nd = String::new();
    for (i, (t, v)) in points.iter().enumerate() {
        nd += &format!("{}\n", json!({"series": "latency_p95", "timestamp": t, "value": v}));
        if i % 10 == 0 {
            nd += &format!("{}\n", json!({"x": 1.0, "y": 0.1, "color": "red"}));
        }
    }
    let (s, body) = call(&state, "POST", "/ingest?model=churn", Some("application/x-ndjson"), nd.into_bytes()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["accepted"].as_u64(), Some(6));
    assert_gauges(&metrics(&state).await, "latency_p95", &want);

    // Arrow: a long-form series table.
    let (_d3, state) = setup(CONFIG);
    let mut df = polars::df!(
        "series" => vec!["latency_p95"; points.len()],
        "timestamp" => points.iter().map(|p| p.0 as i64).collect::<Vec<_>>(),
        "value" => points.iter().map(|p| p.1).collect::<Vec<_>>(),
    )
    .unwrap();
    let mut buf = Vec::new();
    {
        use polars::prelude::SerWriter;
        polars::prelude::IpcStreamWriter::new(&mut buf).finish(&mut df).unwrap();
    }
    let (s, body) = call(&state, "POST", "/ingest?model=churn", Some("application/vnd.apache.arrow.stream"), buf).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_gauges(&metrics(&state).await, "latency_p95", &want);
}

#[tokio::test]
async fn features_and_series_in_one_request_are_both_applied() {
    let (_d, state) = setup(CONFIG);
    let mut body = json_body("error_ratio", &series(5, None));
    body["features"] = json!({"x": [1.0, 2.0], "y": [0.1, 0.4], "color": ["red", "blue"]});
    let (s, b) = post_json(&state, &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["accepted"].as_u64(), b["series"]["scored"].as_u64()), (Some(2), Some(5)));
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_samples_ingested_total", &[("model_name", "churn")]), Some(2.0));
    assert_eq!(sample(&m, "anomaly_ready", &[("series", "error_ratio")]), Some(0.0));
}

#[tokio::test]
async fn a_retried_batch_is_ignored_as_late_and_changes_no_score() {
    let (_d, state) = setup(CONFIG);
    let points = series(30, None);
    post_json(&state, &json_body("latency_p95", &points)).await;
    let before = metrics(&state).await;
    let (s, b) = post_json(&state, &json_body("latency_p95", &points[20..])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((b["series"]["scored"].as_u64(), b["series"]["late"].as_u64()), (Some(0), Some(10)));
    let after = metrics(&state).await;
    for name in ["anomaly_score", "anomaly_expected", "anomaly_upper"] {
        assert_eq!(
            sample(&after, name, &[("series", "latency_p95")]),
            sample(&before, name, &[("series", "latency_p95")])
        );
    }
}

#[tokio::test]
async fn bad_series_get_a_4xx_naming_the_field_and_change_nothing() {
    let (_d, state) = setup(CONFIG);
    post_json(&state, &json_body("a", &series(10, None))).await;
    post_json(&state, &json_body("b", &series(10, None))).await;
    let before = metrics(&state).await;
    let later = series(12, None)[10..].to_vec();
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "timestamps go backwards",
            json!({"model": "churn", "series": {"a": {"timestamps": [T0 + 900.0, T0 + 840.0], "values": [1, 2]}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "series.a.timestamps[1]",
        ),
        (
            "milliseconds",
            json!({"model": "churn", "series": {"a": {"timestamps": [1.7e12], "values": [1]}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "series.a.timestamps[0]",
        ),
        (
            "length mismatch",
            json!({"model": "churn", "series": {"a": {"timestamps": [T0 + 900.0], "values": [1, 2]}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "series.a.values",
        ),
        (
            "a string value",
            json!({"model": "churn", "series": {"a": {"timestamps": [T0 + 900.0], "values": ["1"]}}}),
            StatusCode::BAD_REQUEST,
            "series.a.values[0]",
        ),
        (
            "unknown key",
            json!({"model": "churn", "series": {"a": {"timestamps": [T0 + 900.0], "values": [1], "unit": "s"}}}),
            StatusCode::BAD_REQUEST,
            "series.a.unit",
        ),
        (
            // max_series = 3: a, b exist; c and d would make four. The valid update of a is not applied.
            "too many series",
            json!({"model": "churn", "series": {
                "a": {"timestamps": [later[0].0], "values": [later[0].1]},
                "c": {"timestamps": [T0], "values": [1]},
                "d": {"timestamps": [T0], "values": [1]}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "series",
        ),
        (
            "features invalid alongside valid series",
            json!({"model": "churn", "features": {"nope": [1]}, "series": {"a": {"timestamps": [later[0].0], "values": [1]}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "features.nope",
        ),
    ];
    for (what, body, status, field) in cases {
        let (s, b) = post_json(&state, &body).await;
        assert_eq!(s, status, "{what}: {b}");
        assert_eq!(b["field"].as_str(), Some(field), "{what}: {b}");
    }
    let nd = format!("{}\n", json!({"series": "a", "timestamp": later[0].0, "value": 1, "unit": "s"}));
    let (s, b) = call(&state, "POST", "/ingest?model=churn", Some("application/x-ndjson"), nd.into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.contains("line[1].unit"), "{b}");
    assert_eq!(
        metrics(&state).await.lines().filter(|l| l.starts_with("anomaly")).collect::<Vec<_>>(),
        before.lines().filter(|l| l.starts_with("anomaly")).collect::<Vec<_>>()
    );
    // And the next valid point is scored as if nothing had come in between.
    let (s, _) = post_json(&state, &json_body("a", &later)).await;
    assert_eq!(s, StatusCode::OK);
    let m = metrics(&state).await;
    let mut all = series(10, None);
    all.extend(&later);
    assert_gauges(&m, "a", &expected_last(&all));
}

#[tokio::test]
async fn an_allow_list_refuses_other_series_names() {
    let config = CONFIG.replace("max_series = 3", "series = [\"latency_p95\"]");
    let (_d, state) = setup(&config);
    let (s, b) = post_json(&state, &json_body("latancy_p95", &series(3, None))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["field"].as_str(), Some("series.latancy_p95"), "{b}");
    let (s, _) = post_json(&state, &json_body("latency_p95", &series(3, None))).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn background_refits_make_a_series_ready_without_blocking_the_push() {
    let config = CONFIG.replace("refit_threads = 0", "refit_threads = 1");
    let (_d, state) = setup(&config);
    let (s, _) = post_json(&state, &json_body("latency_p95", &series(40, None))).await;
    assert_eq!(s, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        // The fit lands in the background; the next point is then scored by it.
        let m = metrics(&state).await;
        if sample(&m, "driftwatch_anomaly_refits_total", &[("outcome", "ok")]).unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no refit finished: {m}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    post_json(&state, &json_body("latency_p95", &series(41, None)[40..])).await;
    assert_eq!(sample(&metrics(&state).await, "anomaly_ready", &[("series", "latency_p95")]), Some(1.0));
}

mod hostile_series {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -1e3..1e3f64,
            1 => Just(f64::NAN),
            1 => Just(0.0),
            1 => prop_oneof![Just(1e300), Just(-1e300), Just(5e-324)],
        ]
    }

    fn gap() -> impl Strategy<Value = f64> {
        prop_oneof![8 => Just(60.0), 1 => Just(0.0), 1 => -120.0..120.0f64, 1 => 1.0..1e6f64, 1 => Just(30.0)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Gaps, jitter, repeats, NaN, zeros and values near the float limits never panic the
        /// detector or its refits, and every score is a number >= 0.
        #[test]
        fn any_sequence_of_points_scores_without_panicking(points in prop::collection::vec((gap(), value()), 1..300)) {
            let s = settings();
            let mut d = SeriesDetector::new(&s, 3);
            let mut t = T0;
            for (dt, v) in points {
                t += dt;
                if let Outcome::Scored(o) = d.push(&s, t, v) {
                    prop_assert!(o.score >= 0.0 && !o.score.is_nan(), "{o:?}");
                }
                if let Some(job) = d.take_fit_job(&s) {
                    d.finish_fit(job.run());
                }
            }
        }
    }
}

/// Every sample line of an exposition is `name{label="value",...} number`, with names and label
/// names of `[a-zA-Z_][a-zA-Z0-9_]*`, values quoted with only `\\`, `\"` and `\n` escapes, and no
/// label set repeating a name.
fn assert_valid_exposition(text: &str) {
    let ident = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    assert!(text.ends_with("# EOF\n"), "no EOF marker");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, mut rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line.split(' ').next().unwrap(), ""),
        };
        assert!(ident(name), "metric name {name:?} in {line:?}");
        let mut seen = std::collections::HashSet::new();
        while !rest.is_empty() && !rest.starts_with('}') {
            let eq = rest.find("=\"").unwrap_or_else(|| panic!("no label value in {line:?}"));
            let label = &rest[..eq];
            assert!(ident(label) && seen.insert(label), "label name {label:?} in {line:?}");
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => {
                        assert!(matches!(chars.next(), Some((_, '\\' | '"' | 'n'))), "bad escape in {line:?}")
                    }
                    Some((i, '"')) => break eq + 2 + i,
                    Some((_, '\n')) | None => panic!("unterminated value in {line:?}"),
                    Some(_) => {}
                }
            };
            rest = rest[end + 1..].strip_prefix(',').unwrap_or(&rest[end + 1..]);
        }
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value), "value in {line:?}");
    }
}

#[tokio::test]
async fn hostile_label_names_from_a_pulled_prometheus_never_break_the_exposition() {
    use axum::routing::get;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let end = (now / 60.0).floor() * 60.0;
    let values: Vec<Value> = (0..40).map(|i| json!([end - 60.0 * (39 - i) as f64, format!("{}", 1 + i % 3)])).collect();
    let answer = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "up", "service.name": "api", "x=\"1\"} evil{": "v", "__reserved": "r", "query": "q"},
         "values": values},
    ]}});
    let fake =
        axum::Router::new().route("/api/v1/query_range", get(move || std::future::ready(axum::Json(answer.clone()))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, fake).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[pull]]\nname = \"up\"\nurl = \"http://{addr}\"\nquery = \"up\"\nstep_seconds = 60\ninterval_seconds = 1\n"
    );
    let state = crate::support::server::state_with(&config, dir.path());
    state.start_background();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let exposition = loop {
        let m = metrics(&state).await;
        if m.contains("driftwatch_pull_label_names_total") && m.lines().any(|l| l.starts_with("anomaly_ready{")) {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "the pull never scored:\n{m}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_valid_exposition(&exposition);
    #[cfg(feature = "system-tests")]
    assert_eq!(
        crate::support::server::assert_strict_openmetrics(&exposition),
        exposition.lines().filter(|l| l.starts_with("# TYPE ")).count()
    );
    let ready = exposition.lines().find(|l| l.starts_with("anomaly_ready{")).unwrap();
    assert!(ready.contains("service_name=\"api\"") && ready.contains("x__1___evil_=\"v\""), "{ready}");
    assert!(ready.contains("exported_query=\"q\"") && !ready.contains("reserved"), "{ready}");
    assert_eq!(
        sample(&exposition, "driftwatch_pull_label_names_total", &[("outcome", "renamed")]).map(|v| v >= 2.0),
        Some(true)
    );
    assert_eq!(
        sample(&exposition, "driftwatch_pull_label_names_total", &[("outcome", "dropped")]).map(|v| v >= 1.0),
        Some(true)
    );
}

#[tokio::test]
async fn absurd_pulled_timestamps_and_an_oversized_answer_are_counted_and_polling_goes_on() {
    use axum::routing::get;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let end = (now / 60.0).floor() * 60.0;
    let good: Vec<Value> = (0..40).map(|i| json!([end - 60.0 * (39 - i) as f64, format!("{}", 1 + i % 3)])).collect();
    // A hair apart, then past anything a grid of one-minute steps holds: this spun a core forever
    // with the series lock held.
    let mut absurd: Vec<Value> = (0..10).map(|i| json!([i as f64 * 1e-12, "1"])).collect();
    absurd.extend([json!([1e300, "1"]), json!([-5.0, "1"]), json!([end, "1"]), json!([end - 60.0, "1"])]);
    let answer = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "good"}, "values": good},
        {"metric": {"job": "absurd"}, "values": absurd},
    ]}});
    let huge = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "huge"}, "values": (0..2000).map(|i| json!([end - i as f64, "1"])).collect::<Vec<_>>()},
    ]}});
    let fake = axum::Router::new()
        .route("/api/v1/query_range", get(move || std::future::ready(axum::Json(answer.clone()))))
        .route("/huge/api/v1/query_range", get(move || std::future::ready(axum::Json(huge.clone()))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, fake).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[pull]]\nname = \"odd\"\nurl = \"http://{addr}\"\nquery = \"up\"\nstep_seconds = 60\ninterval_seconds = 1\n\n\
         [[pull]]\nname = \"big\"\nurl = \"http://{addr}/huge\"\nquery = \"up\"\nstep_seconds = 60\n\
         interval_seconds = 1\nmax_response_bytes = 4096\n"
    );
    let state = crate::support::server::state_with(&config, dir.path());
    state.start_background();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let polls = |m: &str, query: &str, outcome: &str| {
        sample(m, "driftwatch_pull_requests_total", &[("query", query), ("outcome", outcome)]).unwrap_or(0.0)
    };
    let exposition = loop {
        let m = metrics(&state).await;
        if polls(&m, "odd", "ok") >= 3.0 && polls(&m, "big", "error") >= 3.0 {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "polling stopped:\n{m}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Per poll: the 1e300, the -5 and the point before its predecessor (the first poll keeps the
    // hair-apart ones, later polls see them as late).
    let dropped = sample(&exposition, "driftwatch_pull_points_dropped_total", &[("query", "odd")]).unwrap();
    assert!(dropped >= 9.0 && dropped % 3.0 == 0.0, "{dropped}");
    assert!(exposition.contains("anomaly_ready{query=\"odd\",job=\"good\"}"), "{exposition}");
    assert!(!exposition.contains("job=\"huge\""), "{exposition}");
}

#[test]
fn the_exposition_check_refuses_what_breaks_a_scrape() {
    for bad in [
        "a{service.name=\"x\"} 1\n# EOF\n",
        "a{b=\"x\"} 1\nc{b=\"unterminated} 1\n# EOF\n",
        "a{b=\"1\",b=\"2\"} 1\n# EOF\n",
    ] {
        assert!(std::panic::catch_unwind(|| assert_valid_exposition(bad)).is_err(), "{bad:?} passed");
    }
    assert_valid_exposition("a_total{b=\"x\\\"y\\\\\"} 1.5\n# EOF\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_new_series_never_exceed_max_series() {
    let config =
        "[[model]]\nname = \"churn\"\nreference = \"reference.csv\"\nwindow = 50\n\n[model.anomaly]\nmax_series = 3\n";
    let (_dir, state) = crate::support::server::setup(config);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let state = state.clone();
            // A full window of features with each: scoring it runs between the series' admission and
            // its first point, the gap a non-atomic cap loses in.
            let mut body = json_body(&format!("s{i}"), &series(3, None));
            body["features"] = json!({"x": (0..50).map(|j| f64::from(j) / 5.0).collect::<Vec<_>>()});
            tokio::spawn(async move { post_json(&state, &body).await.0 })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => accepted += 1,
            s => assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY),
        }
    }
    let m = metrics(&state).await;
    let exported = m.lines().filter(|l| l.starts_with("anomaly_ready{")).count();
    assert_eq!((accepted, exported), (3, 3), "{m}");
    assert_eq!(sample(&m, "driftwatch_anomaly_series_rejected_total", &[]), Some(61.0));
}

/// Spikes that triple, after `n` normal points of [`series`]: each misses by more than any error
/// before it (the calibrated band) and is surprising against "the last excursion persists" (the
/// excursion rule).
fn with_growing_spikes(n: usize, spikes: usize) -> Vec<(f64, f64)> {
    let mut points = series(n + spikes, None);
    for (k, p) in points[n..].iter_mut().enumerate() {
        p.1 += 30.0 * 3f64.powi(k as i32);
    }
    points
}

/// `idle_seconds`: a series nothing arrived for is dropped with every gauge and its counter, the
/// source's series count falls, and a series that comes back starts over, warming up.
#[tokio::test]
async fn idle_series_are_expired_with_their_gauges_and_come_back_warming_up() {
    let config = CONFIG.replace("max_series = 3", "max_series = 3\nidle_seconds = 300");
    let (_d, state) = setup(&config);
    for name in ["error_ratio", "latency"] {
        let (s, b) = post_json(&state, &json_body(name, &series(40, Some(39)))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_anomaly_series", &[("source", "churn")]), Some(2.0));
    assert!(sample(&m, "driftwatch_anomalous_points_total", &[("series", "latency")]).is_some());
    let now = driftwatch_now();
    // 100 s later is within idle_seconds (and three 60 s steps): nothing goes.
    assert_eq!(state.expire_idle_series(now + 100.0), 0);
    assert_eq!(state.expire_idle_series(now + 301.0), 2);
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "driftwatch_anomaly_series", &[("source", "churn")]), Some(0.0));
    assert_eq!(sample(&m, "driftwatch_anomaly_series_expired_total", &[("source", "churn")]), Some(2.0));
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.contains("series=\""), "an expired series' sample is still exported: {line}");
    }
    // Back after its expiry: a new detector, warming up (anomaly_ready 0), its counter from 0.
    let (s, b) = post_json(&state, &json_body("latency", &series(5, None))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let m = metrics(&state).await;
    assert_eq!(sample(&m, "anomaly_ready", &[("series", "latency")]), Some(0.0));
    assert_eq!(sample(&m, "driftwatch_anomalous_points_total", &[("series", "latency")]), Some(0.0));
    assert_eq!(sample(&m, "driftwatch_anomaly_series", &[("source", "churn")]), Some(1.0));
}

fn driftwatch_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The retrain policy's anomaly rule: a named series above 1 on `anomaly_points` consecutive
/// points asks for one retrain, naming the series and its newest point; a series it does not name
/// never does, and the same anomaly going on inside the cooldown asks no second time.
#[tokio::test]
async fn a_named_series_anomalous_for_anomaly_points_in_a_row_requests_one_retrain() {
    let rx = crate::support::receiver::Receiver::start("127.0.0.1:0", &[]).await;
    let config = format!(
        "{}\n[model.retrain]\nurl = \"{}\"\ntriggers = [\"anomaly\"]\nanomaly_series = [\"latency\"]\nanomaly_points = 3\ncooldown_seconds = 3600\n",
        CONFIG.replace("[server]\n", "[server]\ndata_dir = \"data\"\n"),
        rx.url()
    );
    let dir = tempfile::tempdir().unwrap();
    crate::support::server::write_reference(dir.path());
    let state = crate::support::server::state_with(&config, dir.path());
    state.start_background();

    // The oracle: the detector alone scores the three spikes above 1 and the points before not.
    let points = with_growing_spikes(40, 4);
    let s = settings();
    let mut d = SeriesDetector::new(&s, 0);
    let mut flags = Vec::new();
    for &(t, v) in &points {
        if let Outcome::Scored(o) = d.push(&s, t, v) {
            flags.push(o.anomalous());
        }
        if let Some(job) = d.take_fit_job(&s) {
            d.finish_fit(job.run());
        }
    }
    assert_eq!(&flags[flags.len() - 5..], [false, true, true, true, true], "the spikes must each score above 1");

    // The series it does not name, spiking the same way: no request.
    post_json(&state, &json_body("error_ratio", &points)).await;
    // Two anomalous points of the named one, then the third: one request.
    let (s1, b1) = post_json(&state, &json_body("latency", &points[..42])).await;
    assert_eq!(s1, StatusCode::OK, "{b1}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(rx.requests().is_empty(), "two anomalous points are not three");
    post_json(&state, &json_body("latency", &points[42..43])).await;
    let got = rx.wait_for(1, std::time::Duration::from_secs(10)).await;
    let payload = got[0].json();
    assert_eq!(payload["trigger"], "anomaly", "{payload}");
    assert_eq!(payload["anomaly"]["series"], "latency");
    assert_eq!(payload["anomaly"]["consecutive_points"], 3);
    assert_eq!(payload["anomaly"]["point"]["value"].as_f64(), Some(points[42].1));
    assert!(payload["reason"].as_str().unwrap().contains("3 consecutive points"), "{payload}");
    // The fourth spike is inside the cooldown: counted as such, not sent.
    post_json(&state, &json_body("latency", &points[43..])).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rx.requests().len(), 1);
    let m = metrics(&state).await;
    let decided =
        |d: &str| sample(&m, "driftwatch_retrain_decisions_total", &[("trigger", "anomaly"), ("decision", d)]);
    assert_eq!((decided("requested"), decided("cooldown")), (Some(1.0), Some(1.0)));
}
