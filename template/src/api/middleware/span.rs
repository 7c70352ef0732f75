//! The span around each request: its fields, the request id first, go on every log line
//! written while the request is handled (and, with tracing on, on its trace's span).
use axum::extract::{MatchedPath, Request};

use super::request_id;
use crate::metrics;

/// The span of `request`, made by the trace layer once the request id is set.
pub fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(metrics::UNMATCHED, MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        uri = %request.uri(),
        route,
        // Who called, once the credentials are checked (middleware::auth).
        caller = tracing::field::Empty,
    )
}
