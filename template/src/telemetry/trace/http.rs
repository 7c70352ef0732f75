//! The request's span and W3C Trace Context: wrappers for the `TraceLayer` callbacks that
//! make each request's span and see its answer. Off, each is one check and a call.
use std::time::Duration;

use axum::http::{Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanContext;
use opentelemetry_http::HeaderExtractor;
use tower_http::trace::{MakeSpan, OnResponse};
use tracing::Span;

use super::{extract, is_on, layer, with_traced};

/// Makes the request's span with `M`, as a child of the caller's span when the request
/// carries a valid `traceparent` (and `tracestate`): the caller's trace goes on here.
#[derive(Debug, Clone, Copy)]
pub struct Continued<M>(pub M);

impl<B, M: MakeSpan<B>> MakeSpan<B> for Continued<M> {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        if !is_on() {
            return self.0.make_span(request);
        }
        let headers = request.headers();
        let parent = headers
            .contains_key("traceparent")
            .then(|| extract(&HeaderExtractor(headers)))
            .filter(SpanContext::is_valid);
        let remote = layer::remote_parent(parent);
        let span = self.0.make_span(request);
        drop(remote);
        let agent = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok());
        with_traced(&span, |traced| {
            let version = match request.version() {
                axum::http::Version::HTTP_10 => "1.0",
                axum::http::Version::HTTP_2 => "2",
                _ => "1.1",
            };
            traced.set([KeyValue::new("network.protocol.version", version)]);
            if let Some(agent) = agent {
                traced.set([KeyValue::new("user_agent.original", agent.to_owned())]);
            }
        });
        span
    }
}

/// Runs `O` on each answer, then records its status on the request's span (a 5xx marks
/// the span as failed).
#[derive(Debug, Clone, Copy)]
pub struct RecordStatus<O>(pub O);

impl<B, O: OnResponse<B>> OnResponse<B> for RecordStatus<O> {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        self.0.on_response(response, latency, span);
        if is_on() {
            let status = response.status().as_u16();
            with_traced(span, |traced| traced.http_status(status));
        }
    }
}
