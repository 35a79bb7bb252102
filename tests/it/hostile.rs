//! A corpus of malformed and adversarial requests against the real binary: every one gets a 4xx
//! JSON error naming the problem, the process stays up, nothing is counted as ingested, and a valid
//! batch sent afterwards scores exactly as it does on a sidecar that never saw the corpus.

use crate::support::process;

use std::io::Cursor;
use std::time::{Duration, Instant};

use process::{BIN, Guard, free_port, serve_args, spawn_quiet};

use polars::prelude::*;
use serde_json::{Value, json};

/// A sidecar on `dir`'s config with its own data directory `dir/<data>`, and its port.
fn start(dir: &std::path::Path, data: &str) -> (Guard, u16) {
    let port = free_port();
    let guard = spawn_quiet(BIN, &serve_args(&dir.join("m.toml"), &dir.join(data), port), "cargo builds it");
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(format!("http://127.0.0.1:{port}/healthz")).send().is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "driftwatch never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    (guard, port)
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,plan\n");
    for i in 0..300 {
        csv += &format!("{},{}\n", (i * 37 % 300) as f64 / 10.0, ["basic", "pro", "team"][i % 3]);
    }
    std::fs::write(dir.path().join("reference.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("m.toml"),
        "[server]\nmax_body_bytes = 16777216\n[alertmanager]\nalerts = [\"DataDriftDetected\"]\n\
         [[model]]\nname = \"m\"\nreference = \"reference.csv\"\nwindow = 40\n",
    )
    .unwrap();
    dir
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
}

fn json_case(name: &'static str, body: impl Into<Vec<u8>>, status: u16) -> Case {
    Case {
        name,
        method: "POST",
        path: "/ingest".into(),
        content_type: Some("application/json"),
        body: body.into(),
        status,
    }
}

fn arrow_stream(df: &mut DataFrame) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    IpcStreamWriter::new(&mut buf).finish(df).unwrap();
    buf.into_inner()
}

fn corpus() -> Vec<Case> {
    let big = |s: &str, n: usize| s.repeat(n);
    let j = |v: Value| serde_json::to_vec(&v).unwrap();
    let mut c = vec![
        json_case("empty body", "", 400),
        json_case("truncated JSON", r#"{"model":"m","features":{"x":[1,2"#, 400),
        json_case("not JSON", "hello", 400),
        json_case("JSON null", "null", 400),
        json_case("top-level array", "[1,2,3]", 400),
        json_case("trailing garbage", r#"{"model":"m","features":{"x":[1]}} xyz"#, 400),
        json_case("deeply nested arrays", big("[", 100_000), 400),
        json_case(
            "deeply nested value",
            format!(r#"{{"model":"m","features":{{"x":[{}1{}]}}}}"#, big("[", 5000), big("]", 5000)),
            400,
        ),
        json_case(
            "deeply nested objects",
            format!(r#"{{"model":"m","features":{{"x":[{}]}}}}"#, big(r#"{"a":"#, 5000)),
            400,
        ),
        json_case("number overflowing f64", r#"{"model":"m","features":{"x":[1e400]}}"#, 400),
        json_case("negative overflow", r#"{"model":"m","features":{"x":[-1.8e308]}}"#, 400),
        json_case("NaN literal", r#"{"model":"m","features":{"x":[NaN]}}"#, 400),
        json_case("Infinity literal", r#"{"model":"m","features":{"x":[Infinity]}}"#, 400),
        json_case(
            "a million columns",
            {
                let mut s = String::from(r#"{"model":"m","features":{"#);
                for i in 0..1_000_000 {
                    s += &format!("\"f{i}\":[],");
                }
                s.pop();
                s + "}}"
            },
            400,
        ),
        json_case("a million empty rows", format!(r#"{{"model":"m","rows":[{}{{}}]}}"#, big("{},", 999_999)), 422),
        json_case("unicode feature name", j(json!({"model": "m", "features": {"ñ特徴🙂": [1]}})), 422),
        json_case("control characters in a name", j(json!({"model": "m", "features": {"x\u{0}\u{1b}[31m": [1]}})), 422),
        json_case(
            "label injection in a feature name",
            j(json!({"model": "m", "features": {"x\",method=\"psi\"} 1\nevil{a=\"": [1]}})),
            422,
        ),
        json_case(
            "label injection in the model name",
            j(json!({"model": "m\"} 1\ndata_drift_score{x=\"", "features": {"x": [1]}})),
            404,
        ),
        json_case("100 kB model name", j(json!({"model": big("m", 100_000), "features": {"x": [1]}})), 404),
        json_case("10 kB feature name", j(json!({"model": "m", "features": {big("x", 10_000): [1]}})), 422),
        json_case("duplicate feature key", r#"{"model":"m","features":{"x":[1],"x":[2]}}"#, 400),
        json_case("duplicate top-level key", r#"{"model":"m","model":"m","features":{"x":[1]}}"#, 400),
        json_case("duplicate key in a row", r#"{"model":"m","rows":[{"x":1,"x":2}]}"#, 400),
        json_case(
            "mismatched column lengths",
            j(json!({"model": "m", "features": {"x": [1, 2, 3], "plan": ["pro"]}})),
            422,
        ),
        json_case("string in a numeric column", j(json!({"model": "m", "features": {"x": [1, "2"]}})), 422),
        json_case("boolean in a numeric column", j(json!({"model": "m", "features": {"x": [true]}})), 422),
        json_case("array as a value", j(json!({"model": "m", "features": {"x": [[1]]}})), 422),
        json_case("object as a value", j(json!({"model": "m", "features": {"x": [{"v": 1}]}})), 422),
        json_case("float in a categorical column", j(json!({"model": "m", "features": {"plan": [1.5]}})), 422),
        json_case("features is an array", j(json!({"model": "m", "features": [[1]]})), 400),
        json_case("column is not an array", j(json!({"model": "m", "features": {"x": 1}})), 400),
        json_case("rows is an object", j(json!({"model": "m", "rows": {"x": 1}})), 400),
        json_case("row is not an object", j(json!({"model": "m", "rows": [[1]]})), 400),
        json_case("both features and rows", j(json!({"model": "m", "features": {"x": [1]}, "rows": [{"x": 1}]})), 400),
        json_case("neither features nor rows", j(json!({"model": "m"})), 422),
        json_case("empty features", j(json!({"model": "m", "features": {}})), 422),
        json_case("empty columns", j(json!({"model": "m", "features": {"x": []}})), 422),
        json_case("no model", j(json!({"features": {"x": [1]}})), 400),
        json_case("model is a number", j(json!({"model": 7, "features": {"x": [1]}})), 400),
        json_case("unknown model", j(json!({"model": "nope", "features": {"x": [1]}})), 404),
        json_case("unknown top-level field", j(json!({"model": "m", "features": {"x": [1]}, "extra": 1})), 400),
        json_case(
            "invalid UTF-8 in a string",
            b"{\"model\":\"m\",\"features\":{\"plan\":[\"\xff\xfe\"]}}".to_vec(),
            400,
        ),
        json_case("lone surrogate escape", r#"{"model":"m","features":{"plan":["\ud800"]}}"#, 400),
        json_case("byte-order mark", b"\xef\xbb\xbf{\"model\":\"m\",\"features\":{\"x\":[1]}}".to_vec(), 400),
        json_case(
            "UTF-16 body",
            "{\"model\":\"m\"}".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>(),
            400,
        ),
    ];
    // Raw requests: the bytes on the wire, for what an HTTP client library would not send.
    let raw = |name, request: &str, status| Case {
        name,
        method: "RAW",
        path: String::new(),
        content_type: None,
        body: request.as_bytes().to_vec(),
        status,
    };
    c.push(raw(
        "declared body over max_body_bytes",
        "POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n",
        413,
    ));
    c.push(raw(
        "chunked body with a broken chunk size",
        "POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ));
    let other = |name, method, path: &str, ct, body: &[u8], status| Case {
        name,
        method,
        path: path.into(),
        content_type: ct,
        body: body.to_vec(),
        status,
    };
    c.extend([
        other("no Content-Type", "POST", "/ingest", None, br#"{"model":"m","features":{"x":[1]}}"#, 415),
        other("text/plain", "POST", "/ingest", Some("text/plain"), br#"{"model":"m","features":{"x":[1]}}"#, 415),
        other("multipart", "POST", "/ingest", Some("multipart/form-data; boundary=x"), b"--x--", 415),
        other("NDJSON invalid line", "POST", "/ingest?model=m", Some("application/x-ndjson"), b"{\"x\":1}\n{\"x\":\n", 400),
        other("NDJSON line is an array", "POST", "/ingest?model=m", Some("application/x-ndjson"), b"[1,2]\n", 400),
        other("NDJSON only blank lines", "POST", "/ingest?model=m", Some("application/x-ndjson"), b"\n\n  \n", 422),
        other("NDJSON without a model", "POST", "/ingest", Some("application/x-ndjson"), b"{\"x\":1}\n", 400),
        other("NDJSON unknown feature", "POST", "/ingest?model=m", Some("application/x-ndjson"), b"{\"y\":1}\n", 422),
        other("NDJSON duplicate key", "POST", "/ingest?model=m", Some("application/x-ndjson"), b"{\"x\":1,\"x\":2}\n", 400),
        other("NDJSON unknown model", "POST", "/ingest?model=zzz", Some("application/x-ndjson"), b"{\"x\":1}\n", 404),
        other("NUL in the model query", "POST", "/ingest?model=%00", Some("application/x-ndjson"), b"{\"x\":1}\n", 404),
        other("Arrow random bytes", "POST", "/ingest?model=m", Some("application/vnd.apache.arrow.stream"), &[0x13; 257], 400),
        other("Arrow empty body", "POST", "/ingest?model=m", Some("application/vnd.apache.arrow.stream"), b"", 400),
        other("Arrow body is JSON", "POST", "/ingest?model=m", Some("application/vnd.apache.arrow.stream"), br#"{"x":[1]}"#, 400),
        other(
            "Arrow message claiming 2 GB of metadata",
            "POST",
            "/ingest?model=m",
            Some("application/vnd.apache.arrow.stream"),
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4],
            400,
        ),
        other("GET on /ingest", "GET", "/ingest", None, b"", 405),
        other("unknown path", "POST", "/ingest/../../etc/passwd", Some("application/json"), b"{}", 404),
        other("Alertmanager version 3", "POST", "/alertmanager", Some("application/json"), br#"{"version":"3","groupKey":"g","status":"firing","alerts":[]}"#, 400),
        other("Alertmanager alerts not an array", "POST", "/alertmanager", Some("application/json"), br#"{"version":"4","groupKey":"g","status":"firing","alerts":{}}"#, 400),
        other("Alertmanager truncated", "POST", "/alertmanager", Some("application/json"), br#"{"version":"4","groupKey":"#, 400),
        other(
            "Alertmanager alert without a fingerprint",
            "POST",
            "/alertmanager",
            Some("application/json"),
            br#"{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"t"}]}"#,
            400,
        ),
        other(
            "Alertmanager unknown status",
            "POST",
            "/alertmanager",
            Some("application/json"),
            br#"{"version":"4","groupKey":"g","status":"exploded","alerts":[]}"#,
            400,
        ),
    ]);
    // Arrow streams that are valid framing but wrong content.
    let mut ok = df!("x" => [1.0, 2.0, 3.0], "plan" => ["basic", "pro", "team"]).unwrap();
    let valid = arrow_stream(&mut ok);
    let arrow = |name, body: Vec<u8>, status| Case {
        name,
        method: "POST",
        path: "/ingest?model=m".into(),
        content_type: Some("application/vnd.apache.arrow.stream"),
        body,
        status,
    };
    c.push(arrow("Arrow stream truncated mid-batch", valid[..valid.len() * 2 / 3].to_vec(), 400));
    c.push(arrow("Arrow stream with an unknown column", arrow_stream(&mut df!("zz" => [1.0]).unwrap()), 422));
    c.push(arrow("Arrow strings for a numeric feature", arrow_stream(&mut df!("x" => ["a"]).unwrap()), 422));
    // Arrow has no checksums: flipped data bytes are just other data. Flipped schema bytes are not.
    let mut flipped = valid.clone();
    flipped[8..40].copy_from_slice(&[0xff; 32]);
    c.push(arrow("Arrow stream with a corrupted schema message", flipped, 400));
    // polars (dtype-slim) panicked on its uint8 column; the direct reader reads it, and its column
    // is not one of this model's.
    c.push(arrow(
        "Arrow stream on which polars' reader panicked (found by fuzzing)",
        include_bytes!("../fuzz/corpus/ingest_arrow/polars-panic-chunks-rs-27.arrows").to_vec(),
        422,
    ));
    c.push(arrow(
        "Arrow stream that made polars allocate petabytes and abort (found by fuzzing)",
        include_bytes!("../fuzz/corpus/ingest_arrow/polars-petabyte-allocation.arrows").to_vec(),
        400,
    ));
    // Timestamps that are numbers but no place on a series grid (they used to spin the gap filler).
    let series = |ts: Value| j(json!({"model": "m", "series": {"latency": {"timestamps": ts, "values": [1.0, 2.0]}}}));
    c.push(json_case("series timestamp near f64::MAX", series(json!([0.0, 1.0e300])), 422));
    c.push(json_case("series timestamps in milliseconds", series(json!([1.7e12, 1.7e12 + 60_000.0])), 422));
    c.push(json_case("series timestamp negative", series(json!([-1.0e18, 0.0])), 422));
    c.push(json_case("series timestamps decreasing", series(json!([100.0, 50.0])), 422));
    // Query strings and paths that do not parse: JSON errors like every other rejection.
    c.push(other(
        "model given twice in the query",
        "POST",
        "/ingest?model=m&model=other",
        Some("application/x-ndjson"),
        b"{\"x\":1}\n",
        400,
    ));
    c.push(other(
        "percent-encoding of invalid UTF-8 in the query (no such model)",
        "POST",
        "/ingest?model=%FF%FE",
        Some("application/x-ndjson"),
        b"{\"x\":1}\n",
        404,
    ));
    c.push(other("bad percent-encoding in the path", "GET", "/v1/models/%FF%FE", None, b"", 400));
    c.push(json_case("two JSON objects back to back", r#"{"model":"m","features":{"x":[1]}}{"model":"m"}"#, 400));
    c
}

/// Writes the raw request and reads the status and JSON body of the response.
fn send_raw(port: u16, request: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the body parses (the server may keep the connection open).
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&out);
        if let Some((_, body)) = text.split_once("\r\n\r\n") {
            if serde_json::from_str::<Value>(body).is_ok() {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, body)
}

fn send(client: &reqwest::blocking::Client, port: u16, case: &Case) -> (u16, Value) {
    if case.method == "RAW" {
        return send_raw(port, &case.body);
    }
    let url = format!("http://127.0.0.1:{port}{}", case.path);
    let mut req = client.request(case.method.parse().unwrap(), url).body(case.body.clone());
    if let Some(ct) = case.content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().unwrap_or_else(|e| panic!("{}: the sidecar did not answer: {e}", case.name));
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(&resp.bytes().unwrap()).unwrap_or(Value::Null))
}

fn valid_batch() -> Value {
    let x: Vec<f64> = (0..40).map(|i| (i * 7) as f64 / 9.0 + 3.0).collect();
    let plan: Vec<&str> = (0..40).map(|i| ["basic", "pro", "pro", "new"][i % 4]).collect();
    json!({"model": "m", "features": {"x": x, "plan": plan}})
}

fn scores(response: &Value) -> Value {
    let mut latest = response["latest"].clone();
    for k in ["completed_at", "scoring_seconds", "started_at"] {
        latest.as_object_mut().unwrap().remove(k);
    }
    latest
}

#[test]
fn every_hostile_request_gets_a_json_4xx_and_changes_nothing() {
    let dir = setup();
    let corpus = corpus();
    assert!(corpus.len() >= 50, "{} cases", corpus.len());
    let sidecar = start(dir.path(), "data-corpus");
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut failures = Vec::new();
    for case in &corpus {
        let (status, body) = send(&client, sidecar.1, case);
        let named = body["error"].as_str().is_some_and(|e| !e.is_empty()) && body["reason"].is_string();
        if status != case.status || !named {
            failures.push(format!("{}: got {status} {body}, want {}", case.name, case.status));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), corpus.len(), failures.join("\n"));

    let metrics = client.get(format!("http://127.0.0.1:{}/metrics", sidecar.1)).send().unwrap().text().unwrap();
    assert!(metrics.contains("driftwatch_samples_ingested_total{model_name=\"m\"} 0"), "{metrics}");

    // The same valid batch on this sidecar and on one that never saw the corpus.
    let post_valid = |port: u16| -> Value {
        client.post(format!("http://127.0.0.1:{port}/ingest")).json(&valid_batch()).send().unwrap().json().unwrap()
    };
    let after = post_valid(sidecar.1);
    let fresh = start(dir.path(), "data-fresh");
    let clean = post_valid(fresh.1);
    assert_eq!(after["windows_scored"], 1, "{after}");
    assert_eq!(scores(&after), scores(&clean));
}
