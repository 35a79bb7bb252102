//! Bearer-token checks: `/ingest` and `/v1/*` behind `server.bearer_token`, `/alertmanager` behind its
//! own token (or the server's). `/metrics` and the probes stay open, as scrapers and kubelets expect.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::AppState;
use crate::config::Secret;
use crate::error::ApiError;

pub(crate) async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.bearer_token {
        if !bearer_matches(request.headers(), token) {
            state.metrics().reject("unauthorized");
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

pub(crate) fn bearer_matches(headers: &HeaderMap, token: &Secret) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| token.matches(given.trim().as_bytes()))
}
