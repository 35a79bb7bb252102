//! A real HTTP receiver on loopback standing in for a retrain pipeline: it answers each request with
//! the next scripted status (then 200), and records every request's headers and body.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// (status, Retry-After) for each coming request.
type Script = VecDeque<(u16, Option<String>)>;

#[derive(Clone, Default)]
struct Shared {
    script: Arc<Mutex<Script>>,
    requests: Arc<Mutex<Vec<Received>>>,
}

pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    s.requests.lock().unwrap().push(Received { headers, body });
    let (status, retry_after) = s.script.lock().unwrap().pop_front().unwrap_or((200, None));
    let mut h = HeaderMap::new();
    if let Some(r) = retry_after {
        h.insert("retry-after", r.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), h, "{}")
}

impl Receiver {
    /// Serves on `addr` ("127.0.0.1:0" for any port); `script` is (status, Retry-After) per request.
    pub(crate) async fn start(addr: &str, script: &[(u16, Option<&str>)]) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let shared = Shared::default();
        shared.script.lock().unwrap().extend(script.iter().map(|(s, r)| (*s, r.map(str::to_owned))));
        let app = Router::new().route("/retrain", post(handle)).with_state(shared.clone());
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, shared, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/retrain", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `timeout`).
    pub(crate) async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            assert!(Instant::now() < deadline, "receiver got {} of {n} requests in {timeout:?}", r.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Records every delay the delivery asks for and returns after a token real pause, so retries are
/// observable without waiting out their backoff.
#[derive(Default)]
pub(crate) struct RecordingSleeper(pub(crate) Mutex<Vec<Duration>>);

impl driftwatch::retrain::webhook::client::Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        self.0.lock().unwrap().push(d);
        Box::pin(tokio::time::sleep(Duration::from_millis(10)))
    }
}

impl RecordingSleeper {
    pub(crate) fn delays(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}
