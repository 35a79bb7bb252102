//! Accepting connections so that slow or stalled clients cannot take the sidecar down: a request
//! head must arrive within `header_read_timeout` (hyper's timer; it also closes idle keep-alives),
//! and each listener holds at most `max_connections`. At the cap a new connection displaces the
//! one idle longest (a half-sent head, a keep-alive between requests, a client that stopped
//! reading its answer) rather than waiting behind it, so a probe always gets through; only when
//! every connection is inside a request does accepting wait. File descriptors therefore never run
//! out, whatever clients do.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::metrics::{Metrics, OutcomeLabels};

/// Largest read buffer of a connection (hyper's default is 400 kB).
pub(crate) const READ_BUFFER_BYTES: usize = 64 << 10;

/// What bounds the connections of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
}

struct Connection {
    /// Requests being handled on it now.
    busy: AtomicUsize,
    /// When it last finished a request (or opened), in ms since the listener's start.
    idle_since: AtomicU64,
    evict: Notify,
}

/// The open connections of one listener.
struct Open {
    started: Instant,
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Signalled whenever a connection closes (a slot for a waiting accept).
    closed: Notify,
}

impl Open {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Drops the connection idle longest from the count and tells its task to close it; false
    /// if every connection is inside a request.
    fn evict_idlest(&self) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let idlest = conns
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
            // Ties (same millisecond) go to the older connection: one just accepted may not have
            // sent its request yet, and evicting it would turn away the client the slot was for.
            .min_by_key(|&(&id, c)| (c.idle_since.load(Ordering::SeqCst), id))
            .map(|(&id, _)| id);
        match idlest.and_then(|id| conns.remove(&id)) {
            Some(c) => {
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn register(&self) -> (u64, Arc<Connection>) {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let c = Arc::new(Connection {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
            evict: Notify::new(),
        });
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, c.clone());
        (id, c)
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        self.closed.notify_waiters();
    }
}

/// Serves `router` on `listener` until `stopped` resolves, then lets open connections finish their
/// requests (hyper's graceful shutdown) and returns once all are closed.
pub(crate) async fn serve<F, S>(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Metrics,
    stopped: S,
) -> std::io::Result<()>
where
    S: Fn() -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let open = Arc::new(Open {
        started: Instant::now(),
        next: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
        closed: Notify::new(),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The read buffer bounds a connection's memory: a head larger than this gets 431.
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(READ_BUFFER_BYTES);
    let stop = stopped();
    tokio::pin!(stop);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        // A slot first, so that what waits at the cap is the kernel's backlog, not our memory.
        while open.len() >= limits.max_connections {
            if open.evict_idlest() {
                metrics.connections_closed.get_or_create(&OutcomeLabels::new("evicted")).inc();
                break;
            }
            let closed = open.closed.notified();
            tokio::select! {
                _ = closed => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = &mut stop => return drain(tasks).await,
            }
        }
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors (EMFILE) and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => return drain(tasks).await,
        };
        let _ = stream.set_nodelay(true);
        let (id, conn) = open.register();
        metrics.connections_open.set(open.len() as i64);
        let service = {
            let (conn, open, router) = (conn.clone(), open.clone(), router.clone());
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                conn.busy.fetch_add(1, Ordering::SeqCst);
                let (conn, open) = (conn.clone(), open.clone());
                let call = router.clone().oneshot(req.map(axum::body::Body::new));
                async move {
                    let response = call.await;
                    conn.idle_since.store(open.now_ms(), Ordering::SeqCst);
                    conn.busy.fetch_sub(1, Ordering::SeqCst);
                    response
                }
            })
        };
        let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let (open, metrics, stop) = (open.clone(), metrics.clone(), stopped());
        tasks.spawn(async move {
            tokio::pin!(connection);
            let outcome = tokio::select! {
                r = connection.as_mut() => r,
                _ = conn.evict.notified() => Ok(()),
                _ = stop => {
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(e) = outcome {
                if e.is_timeout() {
                    metrics.connections_closed.get_or_create(&OutcomeLabels::new("header_timeout")).inc();
                }
            }
            open.remove(id);
            metrics.connections_open.set(open.len() as i64);
        });
        // Reap finished connection tasks as we go.
        while tasks.try_join_next().is_some() {}
    }
}

async fn drain(mut tasks: tokio::task::JoinSet<()>) -> std::io::Result<()> {
    while tasks.join_next().await.is_some() {}
    Ok(())
}
