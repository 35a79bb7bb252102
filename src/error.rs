//! The one error type of the HTTP API. Bad input maps to a 4xx with a JSON body
//! `{"error": "...", "field": "...", "reason": "..."}` that names the problem; faults map to an opaque 500
//! whose details go to the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or inconsistent. `reason` is a stable, low-cardinality label for the
    /// `driftwatch_requests_rejected_total` counter.
    #[error("{message}")]
    Invalid { status: StatusCode, reason: &'static str, field: Option<String>, message: String },
    #[error("model {0:?} is not configured")]
    UnknownModel(String),
    /// Every request slot is taken: come back after `retry_after` seconds.
    #[error("the sidecar is at its limit of concurrent requests: retry later")]
    Overloaded { retry_after: u64 },
    /// Bodies in flight already hold `server.max_decode_bytes`: come back after `retry_after` seconds.
    #[error(
        "the bodies being read and decoded hold the sidecar's memory budget (server.max_decode_bytes): retry later"
    )]
    MemoryBudget { retry_after: u64 },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn bad_request(reason: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            status: StatusCode::BAD_REQUEST,
            reason,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A body over `server.max_body_bytes`; `detail` says what was seen (a declared length, or not).
    pub(crate) fn payload_too_large(limit: usize, detail: &str) -> Self {
        ApiError::Invalid {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "payload_too_large",
            field: Some("body".into()),
            message: format!("body{detail} exceeds the limit of {limit} bytes (server.max_body_bytes)"),
        }
    }

    /// A body whose decoding needs more than the whole of `server.max_decode_bytes`: it would never
    /// be granted, so a 413, not a 429 to retry forever.
    pub(crate) fn decode_too_large(needed: usize, limit: usize) -> Self {
        ApiError::Invalid {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "payload_too_large",
            field: Some("body".into()),
            message: format!(
                "decoding this stream takes up to {needed} bytes (its cells are strings or values once decoded), \
                 more than server.max_decode_bytes = {limit}: send fewer rows per request"
            ),
        }
    }

    /// A missing or wrong bearer token.
    pub(crate) fn unauthorized() -> Self {
        ApiError::Invalid {
            status: StatusCode::UNAUTHORIZED,
            reason: "unauthorized",
            field: Some("Authorization".into()),
            message: "missing or invalid bearer token".into(),
        }
    }

    /// Well-formed but unacceptable content (wrong type, unknown feature, mismatched lengths).
    pub(crate) fn unprocessable(reason: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { status, .. } => *status,
            ApiError::UnknownModel(_) => StatusCode::NOT_FOUND,
            ApiError::Overloaded { .. } | ApiError::MemoryBudget { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ApiError::Invalid { reason, .. } => reason,
            ApiError::UnknownModel(_) => "unknown_model",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::MemoryBudget { .. } => "memory_budget",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } => field.as_deref(),
            ApiError::UnknownModel(_) => Some("model"),
            ApiError::Overloaded { .. } | ApiError::MemoryBudget { .. } | ApiError::Internal(_) => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let body = json!({ "error": self.to_string(), "field": self.field(), "reason": self.reason() });
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::Overloaded { retry_after } | ApiError::MemoryBudget { retry_after } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}
