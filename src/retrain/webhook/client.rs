//! Delivery of outbox entries: one task per entry POSTs it until a 2xx (then the entry is removed), a
//! non-retryable 4xx (then it is moved aside), retrying everything else — 5xx, 429, timeouts,
//! refused connections — with capped exponential backoff and full jitter, or after the delay a 429/503
//! `Retry-After` asks for. Every attempt is signed afresh (new timestamp, same body and idempotency
//! key). Sleeping goes through [`Sleeper`] so tests inject time instead of waiting.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::outbox::{Entry, Outbox};
use super::signature::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::config::RetrainConfig;
use crate::metrics::{Metrics, WebhookLabels};

/// Longest `Retry-After` honoured; a receiver asking for more is retried after an hour anyway.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Requests in flight at once, across all entries.
const MAX_IN_FLIGHT: usize = 16;

/// How the delivery waits between attempts.
pub trait Sleeper: Send + Sync + 'static {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Real time.
pub(crate) struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attempt {
    Delivered,
    /// A 4xx other than 408 and 429: the receiver refuses this request; retrying cannot help.
    Rejected,
    /// Worth retrying; `after` is what the receiver asked for (`Retry-After`), if anything.
    Retry {
        after: Option<Duration>,
    },
}

impl Attempt {
    /// The `outcome` label of `driftwatch_webhook_requests_total`.
    pub(crate) fn outcome(status: Option<u16>, timed_out: bool) -> &'static str {
        match status {
            Some(200..=299) => "delivered",
            Some(429) => "rate_limited",
            Some(408) => "timeout",
            Some(400..=499) => "rejected",
            Some(500..=599) => "server_error",
            Some(_) => "unexpected_status",
            None if timed_out => "timeout",
            None => "connection_error",
        }
    }
}

/// Classifies a response. 408 and 429 are the 4xx that mean "later", not "never"; 3xx are not
/// followed (a retrain endpoint that moved is a configuration error) and are retried, so the entry
/// is kept rather than lost.
pub(crate) fn classify(status: u16, retry_after: Option<&str>, now: SystemTime) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 => Attempt::Retry { after: retry_after.and_then(|v| parse_retry_after(v, now)) },
        400..=499 => Attempt::Rejected,
        _ => Attempt::Retry { after: retry_after.and_then(|v| parse_retry_after(v, now)) },
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), capped at [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Full-jitter exponential backoff: uniform in [0, min(max, initial · 2^attempt)], floored at a tenth
/// of `initial` so a run of retries never spins. `unit` is a uniform draw in [0, 1).
pub(crate) fn backoff(attempt: u32, initial: f64, max: f64, unit: f64) -> Duration {
    let ceiling = (initial * 2f64.powi(attempt.min(62) as i32)).min(max);
    Duration::from_secs_f64((ceiling * unit).max(initial / 10.0).min(max))
}

/// Delivers the outbox's entries to their models' endpoints.
#[derive(Clone)]
pub(crate) struct Delivery {
    client: reqwest::Client,
    outbox: Arc<Outbox>,
    targets: Arc<HashMap<String, RetrainConfig>>,
    metrics: Metrics,
    sleeper: Arc<dyn Sleeper>,
    in_flight: Arc<Semaphore>,
}

impl Delivery {
    pub(crate) fn new(
        outbox: Arc<Outbox>,
        targets: Arc<HashMap<String, RetrainConfig>>,
        metrics: Metrics,
        sleeper: Arc<dyn Sleeper>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client without TLS configuration builds");
        Delivery { client, outbox, targets, metrics, sleeper, in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)) }
    }

    /// Starts delivering; returns `None` if delivery was already started for this outbox.
    pub(crate) fn spawn(self) -> Option<JoinHandle<()>> {
        let mut rx = self.outbox.take_receiver()?;
        Some(tokio::spawn(async move {
            while let Some(entry) = rx.recv().await {
                tokio::spawn(self.clone().deliver(entry));
            }
        }))
    }

    /// Attempts `entry` until it is delivered or refused.
    pub(crate) async fn deliver(self, entry: Entry) {
        let Some(target) = self.targets.get(&entry.model).cloned() else {
            tracing::warn!(
                model = %entry.model, id = %entry.id,
                "outbox entry for a model without [model.retrain]: kept on disk, not sent"
            );
            return;
        };
        let mut attempt = 0u32;
        loop {
            let result = {
                let _permit = self.in_flight.acquire().await.expect("the semaphore is never closed");
                self.send(&entry, &target).await
            };
            let labels = |outcome: &str| WebhookLabels { model_name: entry.model.clone(), outcome: outcome.into() };
            let next = match result {
                Ok((status, retry_after)) => {
                    self.metrics.webhook_requests.get_or_create(&labels(Attempt::outcome(Some(status), false))).inc();
                    classify(status, retry_after.as_deref(), SystemTime::now())
                }
                Err(e) => {
                    self.metrics.webhook_requests.get_or_create(&labels(Attempt::outcome(None, e.is_timeout()))).inc();
                    tracing::warn!(model = %entry.model, url = %entry.url, error = %e, attempt, "retrain request failed");
                    Attempt::Retry { after: None }
                }
            };
            let done = match next {
                Attempt::Delivered => {
                    tracing::info!(model = %entry.model, key = %entry.key, url = %entry.url, "retrain request delivered");
                    self.outbox.complete(&entry)
                }
                Attempt::Rejected => {
                    tracing::error!(
                        model = %entry.model, key = %entry.key, url = %entry.url,
                        "retrain request refused by the receiver (4xx): moved to outbox/failed/"
                    );
                    self.outbox.reject(&entry)
                }
                Attempt::Retry { after } => {
                    let delay = after.unwrap_or_else(|| {
                        backoff(
                            attempt,
                            target.initial_backoff_seconds,
                            target.max_backoff_seconds,
                            rand::rng().random::<f64>(),
                        )
                    });
                    self.sleeper.sleep(delay).await;
                    attempt = attempt.saturating_add(1);
                    continue;
                }
            };
            if let Err(e) = done {
                // The request went out; only the bookkeeping failed. It will be sent again at the
                // next start, which the idempotency key makes harmless.
                tracing::error!(id = %entry.id, error = %e, "could not update the outbox after delivery");
            }
            return;
        }
    }

    /// One signed POST: the status and any `Retry-After`.
    async fn send(&self, entry: &Entry, target: &RetrainConfig) -> Result<(u16, Option<String>), reqwest::Error> {
        // Whole seconds, as the signature header carries them.
        let timestamp = crate::clock::unix_now() as u64;
        let mut request = self
            .client
            .post(&entry.url)
            .timeout(Duration::from_secs_f64(target.timeout_seconds))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, &entry.key)
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = &target.secret {
            request = request.header(SIGNATURE_HEADER, sign(&secret.0, timestamp, entry.body.as_bytes()));
        }
        for (name, value) in &target.headers {
            request = request.header(name.as_str(), value.0.as_slice());
        }
        let response = request.body(entry.body.clone()).send().await?;
        let retry_after =
            response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok((response.status().as_u16(), retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_5xx_408_429_and_the_rest_of_4xx_is_final() {
        let now = SystemTime::now();
        assert_eq!(classify(200, None, now), Attempt::Delivered);
        assert_eq!(classify(204, None, now), Attempt::Delivered);
        for s in [400, 401, 403, 404, 409, 422] {
            assert_eq!(classify(s, None, now), Attempt::Rejected, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504, 301] {
            assert_eq!(classify(s, None, now), Attempt::Retry { after: None }, "{s}");
        }
        assert_eq!(classify(429, Some("7"), now), Attempt::Retry { after: Some(Duration::from_secs(7)) });
        assert_eq!(classify(503, Some("2"), now), Attempt::Retry { after: Some(Duration::from_secs(2)) });
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_is_capped() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        assert_eq!(backoff(0, 1.0, 300.0, 0.999_999).as_secs_f64().round(), 1.0);
        assert_eq!(backoff(3, 1.0, 300.0, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(20, 1.0, 300.0, 0.5), Duration::from_secs(150));
        assert_eq!(backoff(u32::MAX, 1.0, 300.0, 0.999_999).as_secs(), 299);
        // Never zero, even with a zero draw.
        assert_eq!(backoff(5, 1.0, 300.0, 0.0), Duration::from_millis(100));
    }
}
